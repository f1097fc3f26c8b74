"""The `estimate` question: scenarios in, Estimates out (the public contract), via ``evaluate``."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

from llmplan.engines import (AWQ_DEQUANT_MIN_TOKENS, AWQ_GEMMV2_SLOWDOWN, AWQ_GEMV_MAX_TOKENS, AWQ_KINDS,
                             DEFAULT_RAM_BW_GBS, EngineProfile, awq_on_marlin, backend_for, constants_for,
                             engines_running, format_support, resolve_engine, tensor_parallel_degree)
from llmplan.errors import DataFileError, InvalidInputError, LlmplanError
from llmplan.gpus import resolve_gpu
from llmplan.quant import QuantFormat, parse_kv_dtype, parse_quant
from llmplan.records import Estimate, GpuSpec, ModelSpec, Scenario

SCENARIO_COLUMNS = ("id", "model", "gpu", "num_gpus", "quant", "engine", "parallel", "batch",
                    "prompt_tokens", "gen_tokens", "context", "vram_gib", "kv_dtype", "backend", "offload_layers",
                    "ram_bw_gbs")
# which vendors each backend runs on
_BACKEND_VENDORS = {"cuda": {"nvidia"}, "rocm": {"amd"}, "metal": {"apple"}, "sycl": {"intel"},
                    "vulkan": {"nvidia", "amd", "intel"}, "tpu": {"google"}, "hpu": {"intel"}}
# float names a GGUF engine runs as its own types
_GGUF_FLOAT = {"fp16": "F16", "bf16": "BF16", "fp32": "F32"}
_FLOAT_GGUF = {v: k for k, v in _GGUF_FLOAT.items()}


@dataclass(frozen=True)
class Resolved:
    """A scenario with every default filled in and every name resolved to a record."""

    scenario: Scenario
    gpu: GpuSpec
    engine: EngineProfile
    engine_name: str
    quant: QuantFormat
    parallel: str
    batch: int | None  # None = max
    context: int
    memory_gib: float
    num_gpus: int
    prompt_tokens: int
    gen_tokens: int
    kv_dtype: str
    kv_bytes_per_element: float
    backend: str
    offload_layers: int
    ram_bw_gbs: float
    warnings: tuple[str, ...]


def _positive_int(value, what: str, minimum: int = 1) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{what} must be a whole number (got {value!r})") from None
    if not math.isfinite(number) or number != int(number) or number < minimum:
        raise InvalidInputError(f"{what} must be a whole number >= {minimum} (got {value!r})")
    return int(number)


def _positive_float(value, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{what} must be a number (got {value!r})") from None
    if not math.isfinite(number) or number <= 0:
        raise InvalidInputError(f"{what} must be positive (got {value!r})")
    return number


def resolve_scenario(model: ModelSpec, s: Scenario, gpus: tuple[GpuSpec, ...] | None = None) -> Resolved:
    """Fill defaults and check every field; raises LlmplanError with a one-line reason."""
    warnings: list[str] = []
    gpu, w = resolve_gpu(s.gpu, gpus)
    warnings += w
    num_gpus = _positive_int(s.num_gpus, "num_gpus")
    prompt = _positive_int(s.prompt_tokens, "prompt_tokens")
    gen = _positive_int(s.gen_tokens, "gen_tokens")
    context = prompt + gen if s.context in (None, "") else _positive_int(s.context, "context")
    if context < prompt + gen:
        raise InvalidInputError(f"context {context} is shorter than prompt_tokens + gen_tokens ({prompt + gen})")
    if context > model.max_context_tokens:
        warnings.append(f"context {context} exceeds the model's maximum of {model.max_context_tokens} tokens")
    batch: int | None
    if isinstance(s.batch, str) and s.batch.strip().lower() == "max":
        batch = None
    else:
        batch = _positive_int(s.batch, "batch")

    is_apple = gpu.vendor.lower() == "apple"
    quant_name = s.quant.strip() if s.quant else None
    fmt = parse_quant(quant_name) if quant_name else None
    if fmt is None and model.prequantized:
        try:
            fmt = parse_quant(model.prequantized)
            warnings.append(f"{model.repo_id} ships {fmt.name} weights: estimating those (set --quant to change)")
        except InvalidInputError:
            warnings.append(f"{model.repo_id} ships {model.prequantized} weights, which llmplan does not model; "
                            "estimating the default format instead")
    if s.engine:
        engine, w = resolve_engine(s.engine)
        warnings += w
        engine_name = s.engine.strip().lower()
    elif fmt is None or fmt.is_gguf or is_apple or fmt.name in _GGUF_FLOAT or fmt.kind == "mxfp4":
        engine, engine_name = resolve_engine("llama.cpp")[0], "llama.cpp"
    elif fmt.kind == "awq-gemv":  # GEMV-packed AWQ loads in AutoAWQ (or transformers) only
        engine, engine_name = resolve_engine("autoawq")[0], "autoawq"
    else:
        engine, engine_name = resolve_engine("vllm")[0], "vllm"
    if fmt is None:
        default = engine.default_quant
        if default == "bf16" and model.native_dtype in ("float16", "float32"):
            default = "fp16"
        fmt = parse_quant(default)
    if engine.name == "llama.cpp" and fmt.name in _GGUF_FLOAT:
        fmt = parse_quant(_GGUF_FLOAT[fmt.name])
    elif engine.name != "llama.cpp" and fmt.name in _FLOAT_GGUF:
        fmt = parse_quant(_FLOAT_GGUF[fmt.name])
    if fmt.kind not in engine.quant_kinds:
        able = engines_running(fmt.kind)
        raise InvalidInputError(f"{engine.name} does not run {fmt.name} weights"
                                + (f" (engines that do: {', '.join(able)})" if able else ""))
    backend = backend_for(gpu.vendor, gpu.architecture)
    if s.backend not in (None, ""):
        backend = str(s.backend).strip().lower()
        if gpu.vendor.lower() not in _BACKEND_VENDORS.get(backend, set()):
            raise InvalidInputError(f"backend {backend} does not run on {gpu.name} ({gpu.vendor})")
    if backend not in engine.backends:
        raise InvalidInputError(f"{engine.name} does not run on {gpu.name} ({backend})")
    if engine.vendor_rules:
        runs, note = format_support(fmt.kind, gpu.architecture, gpu.fp8_tflops is not None)
        if not runs:
            raise InvalidInputError(note)
        if note:
            warnings.append(f"{gpu.name}: {note}")
    warnings += [w for w in [constants_for(engine, backend)[3]] if w]
    parallel = (s.parallel or engine.parallel_modes[0]).strip().lower()
    if parallel not in ("tp", "pp"):
        raise InvalidInputError(f"parallel must be tp or pp (got {s.parallel!r})")
    if parallel not in engine.parallel_modes and num_gpus > 1:
        raise InvalidInputError(f"{engine.name} does not support parallel={parallel}")
    if parallel == "tp" and num_gpus > 1 and model.num_attention_heads % tensor_parallel_degree(num_gpus):
        raise InvalidInputError(f"tensor parallel needs the {model.num_attention_heads} attention heads to divide by "
                                f"{tensor_parallel_degree(num_gpus)} GPUs")

    memory_gib = gpu.memory_gib
    if s.vram_gib not in (None, ""):
        memory_gib = _positive_float(s.vram_gib, "vram_gib")
    elif is_apple and len(gpu.memory_options_gib) > 1:
        warnings.append(f"{gpu.name} comes with {'/'.join(f'{m:g}' for m in gpu.memory_options_gib)} GB; "
                        f"assuming {memory_gib:g} GB (set --vram-gib for yours)")
    if is_apple:
        warnings.append("macOS lets the GPU wire only part of unified memory (~2/3 up to 36 GB, ~3/4 above)")
    if gpu.memory_bw_gbs is None:
        warnings.append(f"no memory bandwidth for {gpu.name} in the GPU table: speed not estimated")
    if fmt.kind == "bnb":
        warnings.append("bitsandbytes kernels are not bandwidth-bound: measured speeds ran 0.35x-1.6x of this "
                        "kind of prediction in the calibration set (host-dependent); treat the speed as rough")
    if fmt.kind == "awq-gemv":
        warnings.append(f"GEMV-packed AWQ: fast at 1-{AWQ_GEMV_MAX_TOKENS} tokens per step, about "
                        f"{AWQ_GEMMV2_SLOWDOWN:g}x slower than GEMM-packed AWQ on prompts and larger batches")
    if fmt.kind in AWQ_KINDS and not awq_on_marlin(engine, gpu.architecture):
        warnings.append("the AWQ GEMM kernel's rate is measured on a T4, an A100 and an RTX 4090 only; on other GPUs "
                        "it is scaled by the fp16 tensor peak, which this kernel follows loosely: prefill may be off 2x or more")
    if fmt.kind == "awq" and engine.paged and not awq_on_marlin(engine, gpu.architecture):
        warnings.append(f"{gpu.name}: no Marlin kernels for AWQ before Ampere; vLLM runs its AWQ GEMM kernel below "
                        f"{AWQ_DEQUANT_MIN_TOKENS['vllm']} tokens per step, so batched decode turns compute-bound early")
    kv_dtype, kv_bytes = parse_kv_dtype(s.kv_dtype, engine.name)
    offload = 0 if s.offload_layers in (None, "") else _positive_int(s.offload_layers, "offload_layers", minimum=0)
    if offload > model.num_layers:
        raise InvalidInputError(f"offload_layers {offload} exceeds the model's {model.num_layers} layers")
    if offload and engine.name != "llama.cpp":
        raise InvalidInputError("only llama.cpp keeps layers on the CPU (offload_layers needs engine llama.cpp)")
    ram_bw = DEFAULT_RAM_BW_GBS
    if s.ram_bw_gbs not in (None, ""):
        ram_bw = _positive_float(s.ram_bw_gbs, "ram_bw_gbs")
    elif offload:
        warnings.append(f"system RAM bandwidth not given: assuming dual-channel DDR5-5600 ({DEFAULT_RAM_BW_GBS:g} "
                        "GB/s); set --ram-bw-gbs")
    return Resolved(s, gpu, engine, engine_name, fmt, parallel, batch, context, memory_gib, num_gpus, prompt, gen,
                    kv_dtype, kv_bytes, backend, offload, ram_bw, tuple(warnings))


def _candidate_row(model: ModelSpec, r: Resolved) -> dict:
    from llmplan.evaluate import GPU_COLUMNS

    row = {c: getattr(r.gpu, c) for c in GPU_COLUMNS}
    row.update(memory_gib=r.memory_gib, num_gpus=r.num_gpus, quant=r.quant.name, engine=r.engine.name,
               parallel=r.parallel, batch=float("nan") if r.batch is None else float(r.batch),
               prompt_tokens=r.prompt_tokens, gen_tokens=r.gen_tokens,
               context=r.context, kv_bytes_per_element=r.kv_bytes_per_element, backend=r.backend,
               offload_frac=r.offload_layers / model.num_layers, ram_bw_gbs=r.ram_bw_gbs)
    return row


def _num(value, digits: int) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), digits)


def estimate_many(model: ModelSpec, scenarios: list[Scenario], gpus: tuple[GpuSpec, ...] | None = None
                  ) -> list[Estimate]:
    """Estimate scenarios of one model in one vectorised pass; a bad row gets ``error``, the rest go on."""
    import pandas as pd

    from llmplan.evaluate import evaluate

    resolved: list[Resolved | LlmplanError] = []
    for s in scenarios:
        try:
            resolved.append(resolve_scenario(model, s, gpus))
        except LlmplanError as exc:
            resolved.append(exc)
    ok = [r for r in resolved if isinstance(r, Resolved)]
    table = evaluate(model, pd.DataFrame([_candidate_row(model, r) for r in ok])) if ok else None
    out: list[Estimate] = []
    position = 0
    for s, r in zip(scenarios, resolved):
        if isinstance(r, LlmplanError):
            out.append(error_estimate(s, str(r), model.repo_id))
            continue
        out.append(_to_estimate(model, r, table.iloc[position]))
        position += 1
    return out


def _to_estimate(model: ModelSpec, r: Resolved, row) -> Estimate:
    warnings = list(r.warnings)
    if not row["fits"]:
        terms = {"weights": row["weights_gib"], "KV cache": row["kv_cache_gib"],
                 "activations": row["activations_gib"], "runtime overhead": row["runtime_overhead_gib"]}
        largest = max(terms, key=terms.get)
        warnings.append(f"does not fit: needs {row['vram_gib_per_gpu']:.1f} GiB per GPU, {r.gpu.name} has "
                        f"{row['gpu_memory_gib']:.1f} GiB usable (largest term: {largest} "
                        f"{terms[largest]:.1f} GiB); speeds not given")
    elif not row["peak_flops_known"]:
        warnings.append(f"no tensor TFLOPS for {r.gpu.name} in the GPU table: prefill not estimated, "
                        "decode treated as memory-bound")
    if row["fits"]:
        from llmplan.evaluate import beyond_measured_batch

        warnings += [w for w in [beyond_measured_batch(r.engine.name, int(row["batch"]))] if w]
    return Estimate(
        id=r.scenario.id, model=model.repo_id, gpu=r.gpu.name, num_gpus=r.num_gpus,
        quant=r.quant.name, engine=r.engine_name, parallel=r.parallel, batch=int(row["batch"]),
        prompt_tokens=r.prompt_tokens, gen_tokens=r.gen_tokens, context=r.context,
        weights_gib=_num(row["weights_gib"], 3), kv_cache_gib=_num(row["kv_cache_gib"], 3),
        activations_gib=_num(row["activations_gib"], 3), runtime_overhead_gib=_num(row["runtime_overhead_gib"], 3),
        vram_gib=_num(row["vram_gib"], 3), vram_gib_per_gpu=_num(row["vram_gib_per_gpu"], 3),
        gpu_memory_gib=_num(row["gpu_memory_gib"], 3), fits=bool(row["fits"]),
        decode_tps=_num(row["decode_tps"], 2), decode_tps_per_seq=_num(row["decode_tps_per_seq"], 2),
        prefill_tps=_num(row["prefill_tps"], 1), ttft_s=_num(row["ttft_s"], 4), tpot_ms=_num(row["tpot_ms"], 3),
        decode_tps_low=_num(row["decode_tps_low"], 2), decode_tps_high=_num(row["decode_tps_high"], 2),
        e2e_s=_num(row["e2e_s"], 3), max_batch=int(row["max_batch"]), bound=str(row["bound"]) if row["fits"] else "",
        kv_dtype=r.kv_dtype, backend=r.backend, offload_layers=r.offload_layers,
        system_ram_gib=_num(row["system_ram_gib"], 3), model_weights_gib=_num(row["model_weights_gib"], 3),
        warnings=warnings, error=None)


def error_estimate(s: Scenario, message: str, model_name: str | None = None) -> Estimate:
    """An Estimate that carries only the error (the run goes on)."""
    none = None
    return Estimate(
        id=s.id, model=model_name or s.model, gpu=s.gpu, num_gpus=s.num_gpus if isinstance(s.num_gpus, int) else 0,
        quant=s.quant or "", engine=s.engine or "", parallel=s.parallel or "", batch=0, prompt_tokens=0,
        gen_tokens=0, context=0, weights_gib=none, kv_cache_gib=none, activations_gib=none,
        runtime_overhead_gib=none, vram_gib=none, vram_gib_per_gpu=none, gpu_memory_gib=none, fits=False,
        decode_tps=none, decode_tps_per_seq=none, prefill_tps=none, ttft_s=none, tpot_ms=none,
        decode_tps_low=none, decode_tps_high=none, warnings=[], error=message)


# ---------------------------------------------------------------- scenario files

def read_scenarios(path: str | Path) -> list[Scenario | LlmplanError]:
    """Rows of a CSV or JSONL scenario file. A malformed row becomes an error in its place; a file that
    cannot be read at all raises DataFileError."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise DataFileError(f"cannot read scenario file {path}: {exc.strerror or exc}") from None
    if p.suffix.lower() in (".jsonl", ".ndjson", ".json") or text.lstrip().startswith("{"):
        return _read_jsonl(text, str(path))
    return _read_csv(text, str(path))


def _read_jsonl(text: str, label: str) -> list[Scenario | LlmplanError]:
    rows: list[Scenario | LlmplanError] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            rows.append(DataFileError(f"{label}:{lineno}: invalid JSON ({exc.msg})"))
            continue
        if not isinstance(obj, dict):
            rows.append(DataFileError(f"{label}:{lineno}: each line must be a JSON object"))
            continue
        rows.append(_scenario_from_mapping(obj, f"{label}:{lineno}"))
    return rows


def _read_csv(text: str, label: str) -> list[Scenario | LlmplanError]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise DataFileError(f"{label}: empty scenario file")
    unknown = [c for c in reader.fieldnames if c and c.strip() not in SCENARIO_COLUMNS]
    if unknown:
        raise DataFileError(f"{label}:1: unknown column(s) {', '.join(unknown)}; expected {', '.join(SCENARIO_COLUMNS)}")
    rows: list[Scenario | LlmplanError] = []
    for index, raw in enumerate(reader, start=2):
        if None in raw:
            rows.append(DataFileError(f"{label}:{index}: more fields than columns"))
            continue
        rows.append(_scenario_from_mapping({k.strip(): v for k, v in raw.items() if k}, f"{label}:{index}"))
    return rows


def _scenario_from_mapping(obj: dict, where: str) -> Scenario | LlmplanError:
    unknown = [k for k in obj if k not in SCENARIO_COLUMNS]
    if unknown:
        return DataFileError(f"{where}: unknown field(s) {', '.join(unknown)}")
    clean = {k: (v.strip() if isinstance(v, str) else v) for k, v in obj.items()}
    clean = {k: v for k, v in clean.items() if v not in (None, "")}
    if "model" not in clean or "gpu" not in clean:
        return DataFileError(f"{where}: model and gpu are required")
    defaults = Scenario(model="", gpu="")
    try:
        return replace(defaults, **{k: (str(v) if k in ("id", "model", "gpu", "quant", "engine", "parallel", "kv_dtype",
                                                        "backend")
                                        else v) for k, v in clean.items()})
    except TypeError as exc:  # pragma: no cover - fields are checked above
        return DataFileError(f"{where}: {exc}")
