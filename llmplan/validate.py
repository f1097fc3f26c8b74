"""Validation of the speed model against public measurements (llmplan/data/calibration.csv).

A pure library: load the calibration rows, predict each one through the public ``estimate_many`` path,
and summarise predicted/measured ratios. Nothing here prints.

Metrics a row may carry and how it is predicted:

* ``decode_tps``          aggregate decode tokens/s of ``batch`` sequences (Estimate.decode_tps)
* ``decode_tps_per_seq``  decode tokens/s of one sequence inside the batch (Estimate.decode_tps_per_seq)
* ``e2e_output_tps``      batch x gen_tokens / end-to-end latency, prefill included (batch x gen / Estimate.e2e_s);
                          what vLLM's ``benchmark_latency`` and LMDeploy's ``profile_generation`` report
* ``prefill_tps``         prompt tokens/s (Estimate.prefill_tps); at a context depth d, P new tokens take
                          T(d + P) - T(d), T(x) being the time to prefill x tokens from empty
* ``ttft_s``              seconds to the first token (Estimate.ttft_s)

Headline numbers weight every source equally: a row counts 1 / (rows of its source in that metric group),
so one long table (a 40-row scoreboard) weighs as much as a single-row report.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections import defaultdict
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from llmplan._csv import read_rows
from llmplan.errors import DataFileError, LlmplanError

METRICS = ("decode_tps", "decode_tps_per_seq", "e2e_output_tps", "prefill_tps", "ttft_s")
USES = ("calibrate", "validate-only", "exclude")
QUALITIES = ("primary", "secondary", "low")
DECODE_METRICS = ("decode_tps", "decode_tps_per_seq", "e2e_output_tps")
# metric groups of the headline
GROUP_DECODE_B1 = "decode_b1"
GROUP_DECODE_BATCHED = "decode_batched"
GROUP_PREFILL = "prefill"
GROUP_TTFT = "ttft"
GPU_CLASSES = ("consumer", "workstation", "datacenter", "apple")
# llama-bench's default prompt for prefill rows (pp512) and generation length for decode rows (tg128)
DEFAULT_PREFILL_TOKENS = 512
DEFAULT_GEN_TOKENS = 128

_REQUIRED = ("id", "source", "gpu", "num_gpus", "engine", "backend", "model", "quant", "metric", "measured",
             "gpu_key", "model_key", "quant_key", "engine_key", "use", "quality")


@dataclass(frozen=True)
class CalibrationRow:
    """One public measurement with its source, date, exact setup and the keys llmplan resolves."""

    id: str
    source: str
    source_date: str
    gpu: str
    num_gpus: int
    engine: str
    engine_version: str
    backend: str
    model: str
    quant: str
    batch: int | None
    prompt_tokens: int | None
    gen_tokens: int | None
    context_depth: int
    metric: str
    measured: float
    unit: str
    setup_notes: str
    gpu_key: str
    model_key: str
    quant_key: str
    engine_key: str
    use: str
    quality: str

    @property
    def metric_group(self) -> str:
        """decode_b1 | decode_batched | prefill | ttft: the groups the headline reports."""
        if self.metric == "prefill_tps":
            return GROUP_PREFILL
        if self.metric == "ttft_s":
            return GROUP_TTFT
        return GROUP_DECODE_B1 if (self.batch or 1) == 1 else GROUP_DECODE_BATCHED


def default_calibration_path() -> Path:
    from importlib.resources import files

    return Path(str(files("llmplan") / "data" / "calibration.csv"))


def _opt_int(value: str, col: str, where: str) -> int | None:
    if value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        raise DataFileError(f"{where}: column {col}: {value!r} is not a number") from None
    if not math.isfinite(number) or number != int(number):
        raise DataFileError(f"{where}: column {col}: {value!r} is not a whole number")
    return int(number)


def load_calibration(path: str | Path | None = None) -> list[CalibrationRow]:
    """Rows of the calibration table; a malformed row raises DataFileError naming its line."""
    source = Path(path) if path is not None else default_calibration_path()
    rows: list[CalibrationRow] = []
    seen: set[str] = set()
    for lineno, raw in read_rows(source, _REQUIRED, str(source) if path is not None else "calibration.csv"):
        where = f"{source.name}:{lineno}"
        if raw["metric"] not in METRICS:
            raise DataFileError(f"{where}: metric {raw['metric']!r} is not one of {', '.join(METRICS)}")
        if raw["use"] not in USES:
            raise DataFileError(f"{where}: use {raw['use']!r} is not one of {', '.join(USES)}")
        if raw["quality"] not in QUALITIES:
            raise DataFileError(f"{where}: quality {raw['quality']!r} is not one of {', '.join(QUALITIES)}")
        if raw["id"] in seen:
            raise DataFileError(f"{where}: duplicate id {raw['id']!r}")
        seen.add(raw["id"])
        try:
            measured = float(raw["measured"])
        except ValueError:
            raise DataFileError(f"{where}: column measured: {raw['measured']!r} is not a number") from None
        if not measured > 0:
            raise DataFileError(f"{where}: measured must be positive")
        num_gpus = _opt_int(raw["num_gpus"], "num_gpus", where)
        rows.append(CalibrationRow(
            id=raw["id"], source=raw["source"], source_date=raw.get("source_date", ""), gpu=raw["gpu"],
            num_gpus=num_gpus or 1, engine=raw["engine"], engine_version=raw.get("engine_version", ""),
            backend=raw["backend"], model=raw["model"], quant=raw["quant"],
            batch=_opt_int(raw.get("batch", ""), "batch", where),
            prompt_tokens=_opt_int(raw.get("prompt_tokens", ""), "prompt_tokens", where),
            gen_tokens=_opt_int(raw.get("gen_tokens", ""), "gen_tokens", where),
            context_depth=_opt_int(raw.get("context_depth", ""), "context_depth", where) or 0,
            metric=raw["metric"], measured=measured, unit=raw.get("unit", ""),
            setup_notes=raw.get("setup_notes", ""), gpu_key=raw["gpu_key"], model_key=raw["model_key"],
            quant_key=raw["quant_key"], engine_key=raw["engine_key"], use=raw["use"], quality=raw["quality"]))
    return rows


# ---------------------------------------------------------------- prediction

Result = tuple[CalibrationRow, "float | None", "str | None"]


_NGL = re.compile(r"\bngl=(\d+)/(\d+)")
_RAM = re.compile(r"\bram=(?:LP)?DDR\d-(\d+)x(\d+)ch", re.IGNORECASE)


def offload_setup(row: CalibrationRow) -> tuple[int | None, float | None]:
    """(layers on the CPU, system RAM GB/s) from setup notes such as 'ram=DDR4-2400x2ch; ngl=16/48;':
    N - G layers stay on the CPU; bandwidth = channels x 8 bytes x MT/s."""
    ngl, ram = _NGL.search(row.setup_notes), _RAM.search(row.setup_notes)
    if not ngl:
        return None, None
    on_gpu, total = int(ngl.group(1)), int(ngl.group(2))
    bw = int(ram.group(2)) * 8 * int(ram.group(1)) / 1000 if ram else None
    return max(total - on_gpu, 0), bw


def _scenarios(row: CalibrationRow, vram_gib: float | None, backend: str | None):
    """The one or two Scenarios whose estimates give the row's predicted value."""
    from llmplan.records import Scenario

    offload, ram_bw = offload_setup(row)
    batch = row.batch or 1
    depth = row.context_depth or 0
    prompt = row.prompt_tokens or 0
    gen = row.gen_tokens or 0
    base = dict(model=row.model_key, gpu=row.gpu_key, num_gpus=row.num_gpus, quant=row.quant_key,
                engine=row.engine_key, vram_gib=vram_gib, backend=backend, offload_layers=offload or None,
                ram_bw_gbs=ram_bw if offload else None)
    if row.metric == "prefill_tps":
        p = prompt or DEFAULT_PREFILL_TOKENS
        if depth > 0:  # P new tokens after d cached ones: T(d + P) - T(d)
            return [Scenario(id=row.id, batch=1, prompt_tokens=depth + p, gen_tokens=1, **base),
                    Scenario(id=row.id + "@depth", batch=1, prompt_tokens=depth, gen_tokens=1, **base)]
        return [Scenario(id=row.id, batch=1, prompt_tokens=p, gen_tokens=1, **base)]
    if row.metric == "ttft_s":
        return [Scenario(id=row.id, batch=batch, prompt_tokens=max(prompt + depth, 1), gen_tokens=max(gen, 1),
                         **base)]
    # decode metrics: a llama-bench tg row at depth d decodes after d tokens of context
    return [Scenario(id=row.id, batch=batch, prompt_tokens=max(prompt + depth, 1),
                     gen_tokens=gen or DEFAULT_GEN_TOKENS, **base)]


def _value(row: CalibrationRow, estimates) -> tuple[float | None, str | None]:
    first = estimates[0]
    for e in estimates:
        if e.error:
            return None, e.error
        if not e.fits:
            return None, next((w for w in e.warnings if w.startswith("does not fit")), "does not fit")
    if row.metric == "prefill_tps":
        if len(estimates) == 2:
            a, b = estimates
            if a.prefill_tps is None or b.prefill_tps is None:
                return None, "prefill not estimated (no tensor TFLOPS for this GPU)"
            t_total = a.prompt_tokens / a.prefill_tps
            t_cached = b.prompt_tokens / b.prefill_tps
            new = a.prompt_tokens - b.prompt_tokens
            return (new / (t_total - t_cached), None) if t_total > t_cached else (None, "non-increasing prefill time")
        value = first.prefill_tps
    elif row.metric == "ttft_s":
        value = first.ttft_s
    elif row.metric == "decode_tps_per_seq":
        value = first.decode_tps_per_seq
    elif row.metric == "e2e_output_tps":
        value = first.batch * first.gen_tokens / first.e2e_s if first.e2e_s else None
    else:
        value = first.decode_tps
    if value is None or not math.isfinite(value) or value <= 0:
        return None, "; ".join(first.warnings) or f"{row.metric} not estimated"
    return float(value), None


def _row_backend(row: CalibrationRow) -> str:
    return row.backend.strip().lower()


def predict(rows: Sequence[CalibrationRow], *, honour_backend: bool = True) -> list[Result]:
    """(row, predicted value or None, error message or None) for every row, in order.

    Rows are estimated in one vectorised ``estimate_many`` call per model. With ``honour_backend`` a row
    measured on a backend other than its vendor's default (llama.cpp Vulkan on NVIDIA/AMD/Intel) is
    estimated on that backend (the scenario's ``backend``), so it reads that backend's constants. Apple rows run at the largest unified
    memory option of the chip (the measured configuration ran, so it fitted).
    """
    from llmplan.catalog import find_in_catalog
    from llmplan.engines import backend_for
    from llmplan.estimate import estimate_many
    from llmplan.gpus import resolve_gpu

    out: dict[int, tuple[float | None, str | None]] = {}
    groups: dict[str, list[int]] = defaultdict(list)
    chosen: dict[int, str | None] = {}
    vram: dict[int, float | None] = {}
    gpu_of: dict[int, object] = {}
    resolved: dict[str, object] = {}
    for i, row in enumerate(rows):
        if not (row.gpu_key and row.model_key and row.quant_key and row.engine_key):
            out[i] = (None, "excluded: " + (row.setup_notes.split("EXCLUDED:")[-1].strip()
                                           if "EXCLUDED:" in row.setup_notes else "no gpu/model/quant/engine key"))
            continue
        try:
            if row.gpu_key not in resolved:
                resolved[row.gpu_key] = resolve_gpu(row.gpu_key)[0]
            gpu = resolved[row.gpu_key]
        except LlmplanError as exc:
            out[i] = (None, str(exc))
            continue
        gpu_of[i] = gpu
        vram[i] = max(gpu.memory_options_gib) if gpu.vendor.lower() == "apple" and gpu.memory_options_gib else None
        backend = _row_backend(row)
        chosen[i] = backend if honour_backend and backend and backend != backend_for(gpu.vendor) else None
        groups[row.model_key].append(i)
    for model_key, idx in groups.items():
        model = find_in_catalog(model_key)
        if model is None:
            for i in idx:
                out[i] = (None, f"model {model_key!r} is not in the catalog")
            continue
        scenarios, spans = [], []
        for i in idx:
            sc = _scenarios(rows[i], vram[i], chosen[i])
            spans.append((i, len(scenarios), len(scenarios) + len(sc)))
            scenarios.extend(sc)
        # the resolved GPU rows only: the same records, found without scanning the whole table again
        table = tuple({id(gpu_of[i]): gpu_of[i] for i in idx}.values())
        estimates = estimate_many(model, scenarios, table)
        for i, lo, hi in spans:
            out[i] = _value(rows[i], estimates[lo:hi])
    return [(row, *out[i]) for i, row in enumerate(rows)]


# ---------------------------------------------------------------- accuracy

def gpu_class(row: CalibrationRow) -> str:
    """consumer | workstation | datacenter | apple, from the GPU table's segment (tpu counts as datacenter)."""
    from llmplan.gpus import resolve_gpu

    try:
        gpu, _ = resolve_gpu(row.gpu_key)
    except LlmplanError:
        return "unknown"
    return "datacenter" if gpu.segment == "tpu" else gpu.segment


def _key(row: CalibrationRow, dim: str) -> str:
    if dim == "gpu_class":
        return gpu_class(row)
    if dim == "metric_group":
        return row.metric_group
    if dim == "engine":  # the resolved key (vllm, sglang, ...), not the source's verbatim wording
        return row.engine_key
    return str(getattr(row, dim))


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Smallest value whose cumulative weight reaches q of the total (q=0.5: the weighted median)."""
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    cum = np.cumsum(w)
    return float(v[np.searchsorted(cum, q * cum[-1] - 1e-12)])


def _stats(ratios: np.ndarray, weights: np.ndarray) -> dict:
    dev = np.abs(ratios - 1.0)
    total = weights.sum()
    return {"median_ratio": _weighted_quantile(ratios, weights, 0.5),
            "within_10": float(weights[dev <= 0.10 + 1e-12].sum() / total),
            "within_25": float(weights[dev <= 0.25 + 1e-12].sum() / total),
            "within_50": float(weights[dev <= 0.50 + 1e-12].sum() / total)}


def _scored(results: Iterable[Result]) -> list[tuple[CalibrationRow, float]]:
    return [(row, pred / row.measured) for row, pred, err in results
            if err is None and pred is not None and row.measured > 0]


def source_weights(scored: Sequence[tuple[CalibrationRow, float]]) -> np.ndarray:
    """Weight of each scored row: 1 / (rows of its source in its metric group)."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for row, _ in scored:
        counts[(row.source, row.metric_group)] += 1
    return np.array([1.0 / counts[(row.source, row.metric_group)] for row, _ in scored])


def accuracy(results: Iterable[Result], by: Sequence[str] = ("source", "engine", "gpu_class")) -> list[dict]:
    """Predicted/measured ratio summaries.

    One dict per (dimension, value, metric group) with n, median ratio and the share of rows within
    ±10/25/50% (every row counts once), then one HEADLINE dict per metric group (by='headline',
    key='all') in which every source weighs the same: each row has weight 1 / (rows of its source in that
    metric group). Rows without a prediction are left out. Dict keys: by, key, metric, n, sources,
    median_ratio, within_10, within_25, within_50.
    """
    scored = _scored(results)
    out: list[dict] = []
    for dim in by:
        buckets: dict[tuple[str, str], list[float]] = defaultdict(list)
        srcs: dict[tuple[str, str], set[str]] = defaultdict(set)
        for row, ratio in scored:
            k = (_key(row, dim), row.metric_group)
            buckets[k].append(ratio)
            srcs[k].add(row.source)
        for (key, group), ratios in sorted(buckets.items()):
            r = np.array(ratios)
            out.append({"by": dim, "key": key, "metric": group, "n": len(r), "sources": len(srcs[(key, group)]),
                        **_stats(r, np.ones_like(r))})
    weights = source_weights(scored)
    for group in (GROUP_DECODE_B1, GROUP_DECODE_BATCHED, GROUP_PREFILL, GROUP_TTFT):
        sel = [i for i, (row, _) in enumerate(scored) if row.metric_group == group]
        if not sel:
            continue
        r = np.array([scored[i][1] for i in sel])
        w = weights[sel]
        out.append({"by": "headline", "key": "all", "metric": group, "n": len(sel),
                    "sources": len({scored[i][0].source for i in sel}), **_stats(r, w)})
    return out


def headline(results: Iterable[Result]) -> dict[str, dict]:
    """The source-weighted headline dicts of ``accuracy`` keyed by metric group."""
    return {d["metric"]: d for d in accuracy(results, by=()) if d["by"] == "headline"}


def band(results: Iterable[Result], lower: float = 0.10, upper: float = 0.90, weighted: bool = True,
         group: str = GROUP_DECODE_B1) -> tuple[float, float]:
    """(10th, 90th) percentile of predicted/measured over the decode rows of ``group`` (batch-1 by
    default, or GROUP_DECODE_BATCHED): the error band.

    With ``weighted`` every source weighs the same (as in the headline). A prediction p then covers the
    measurement within [p / upper_ratio, p / lower_ratio].
    """
    scored = [(row, r) for row, r in _scored(results) if row.metric_group == group]
    if not scored:
        raise ValueError(f"no {group} rows with a prediction")
    ratios = np.array([r for _, r in scored])
    weights = source_weights(scored) if weighted else np.ones_like(ratios)
    return _weighted_quantile(ratios, weights, lower), _weighted_quantile(ratios, weights, upper)


def band_by_engine(results: Iterable[Result]) -> dict[str, tuple[float, float]]:
    """``band`` over each engine profile's own rows (sglang, lmdeploy, ... count as vllm); profiles without
    batch-1 decode rows are left out."""
    from llmplan.engines import resolve_engine

    groups: dict[str, list[Result]] = defaultdict(list)
    for result in results:
        groups[resolve_engine(result[0].engine_key)[0].name].append(result)
    out = {}
    for name, own in groups.items():
        with contextlib.suppress(ValueError):
            out[name] = band(own)
    return out


def row_fields() -> tuple[str, ...]:
    """Column order of the calibration table."""
    return tuple(f.name for f in fields(CalibrationRow))
