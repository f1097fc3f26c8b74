"""Evaluate deployments of one model, vectorised: every row of a candidate table is one GPU x count x
quantization x engine x parallel x batch x context choice. `estimate` evaluates a one-row table, `fit`
thousands; both go through this one path.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from llmplan import architecture as arch
from llmplan import memory as mem
from llmplan import throughput as tp
from llmplan.engines import (ALLREDUCE_LATENCY_PER_GPU_S, AWQ_DEQUANT_MIN_TOKENS, AWQ_GEMM_KERNEL_DEFAULT_ARCH,
                             AWQ_GEMM_KERNEL_EFFICIENCY, AWQ_GEMMV2_SLOWDOWN, AWQ_GEMV_BW_GAIN, AWQ_GEMV_MAX_TOKENS,
                             AWQ_KINDS, BNB_LINEAR_OVERHEAD_S, CPU_BW_EFFICIENCY, DEQUANT_16BIT_BYTES_PER_WEIGHT, GIB,
                             GPUS_PER_NODE, INTERNODE_GBS, INTERNODE_LATENCY_S, LLAMA_CPP_UBATCH, PCIE_ALLREDUCE_GBS,
                             SERVING_BATCHED_TOKENS, SERVING_MOE_LAYER_S, EngineProfile, awq_on_marlin, backend_for,
                             constants_for, resolve_engine, tensor_parallel_degree)
from llmplan.quant import QuantFormat, for_model, parse_quant
from llmplan.records import GpuSpec, ModelSpec

# Largest batch `--batch max` reports: vLLM's default max_num_seqs is 256 (vLLM EngineArgs docs, 2025).
MAX_BATCH_CAP = 256
# Error band of decode predictions: the 10th and 90th percentiles of predicted/measured over the batch-1
# decode rows of the calibration set (use != exclude), every source weighted equally (`llmplan validate`,
# 2026-11-22; tests/test_validate.py keeps them in step). A measurement lands in [prediction / P90,
# prediction / P10] four times out of five. Per engine profile where it has >= 10 such rows (llama.cpp 255
# rows of all metrics, vLLM-class 145, transformers 88, autoawq 36, mlx 19), else the band over all rows.
DECODE_RATIO_P10, DECODE_RATIO_P90 = 0.79, 1.43
DECODE_RATIO_BAND = {"llama.cpp": (0.83, 1.33), "vllm": (0.73, 1.51), "transformers": (0.93, 1.88),
                     "autoawq": (0.74, 1.14), "mlx": (0.92, 1.06)}
# A batch of more than one sequence carries the band of the batched decode rows (159 rows, 18 sources, every
# source weighted equally; same run): wider, because batched decode is the least certain part of the model. One
# band over all engines: per engine only vllm-class has more than 5 sources.
DECODE_BATCHED_RATIO_P10, DECODE_BATCHED_RATIO_P90 = 0.79, 2.56
# The largest batch among each engine profile's decode rows in the calibration set (use != exclude; same run):
# llama.cpp 1024 (mudler/LocalAI PAGED_KV_HIGH_CONCURRENCY.md, Qwen3-1.7B on DGX Spark; dense models only, as
# llama-batched-bench's identical sequences say nothing of MoE routing), vLLM-class 256 (dstack, Oracle 405B),
# transformers 32 (bitsandbytes benchmarking README), autoawq 1 (AutoAWQ benchmark.py at batch 1). A larger batch
# is an extrapolation and says so.
MEASURED_BATCH_MAX = {"llama.cpp": 1024, "vllm": 256, "transformers": 32, "autoawq": 1, "mlx": 1, "mlc-llm": 1}


def beyond_measured_batch(engine_profile: str, batch: int) -> str:
    """A note when ``batch`` exceeds the largest batch the calibration set measured for the engine profile."""
    largest = MEASURED_BATCH_MAX.get(engine_profile, 1)
    if batch <= largest:
        return ""
    return (f"{engine_profile} at {batch} concurrent sequences is extrapolated: the calibration set measures it up "
            f"to {largest}")

GPU_COLUMNS = ("name", "vendor", "segment", "architecture", "form_factor", "memory_gib", "memory_bw_gbs",
               "fp16_tflops", "fp16_fp16acc_tflops", "bf16_tflops", "fp8_tflops", "int8_tops", "fp4_tflops",
               "nvlink_gbs", "tdp_w", "pcie_gen", "pcie_lanes")


def gpu_frame(gpus: list[GpuSpec] | tuple[GpuSpec, ...]) -> pd.DataFrame:
    """The GPU records as a table, one column per numeric spec (NaN where unknown)."""
    rows = [{c: getattr(g, c) for c in GPU_COLUMNS} for g in gpus]
    frame = pd.DataFrame(rows, columns=list(GPU_COLUMNS))
    for c in GPU_COLUMNS[5:]:
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype(float)
    return frame


def _first_known(*columns: np.ndarray) -> np.ndarray:
    """Element-wise the first non-NaN of the columns (NaN where all are)."""
    result = np.asarray(columns[0], dtype=float).copy()
    for column in columns[1:]:
        result = np.where(np.isnan(result), np.asarray(column, dtype=float), result)
    return result


def _peak_flops(g: dict, fmt: QuantFormat) -> np.ndarray:
    """Dense tensor FLOP/s the prefill matmuls of this format run at on each row's GPU."""
    fp16 = g["fp16_tflops"]
    if fmt.is_gguf:
        # llama.cpp's prompt processing of quantized GGUF runs at about its F16 speed (RTX 4090 Q4_0 vs F16
        # pp512, calibration set), so every GGUF type is rated against the FP16 (FP16-accumulate) peak
        peak = _first_known(g["fp16_fp16acc_tflops"], fp16)
    elif fmt.compute == "fp8":
        peak = _first_known(g["fp8_tflops"], fp16)
    elif fmt.compute == "fp4":
        peak = _first_known(g["fp4_tflops"], g["fp8_tflops"], fp16)
    elif fmt.compute == "int8":
        peak = _first_known(g["int8_tops"], fp16)
    else:
        peak = _first_known(g["bf16_tflops"], fp16) if fmt.name == "bf16" else _first_known(fp16)
    return peak * 1e12


def awq_kernels(kind: str, engine: EngineProfile, architectures, tokens, compute_efficiency):
    """Which AWQ kernel runs a linear call of ``tokens`` tokens on each row (see engines.py, kernel family AWQ):
    (weight-read speed factor, FLOPs at the engine's compute rate per matmul FLOP, dequantizes to fp16 first).
    Formats other than AWQ, and AWQ through Marlin: (1, 1, False)."""
    tokens = np.asarray(tokens, dtype=float)
    ones, no = np.ones_like(tokens), np.zeros(tokens.shape, dtype=bool)
    threshold = AWQ_DEQUANT_MIN_TOKENS.get(engine.name)
    if kind not in AWQ_KINDS or threshold is None:
        return ones, ones, no
    archs = [str(a).strip().lower() for a in np.broadcast_to(architectures, tokens.shape).ravel()]
    default = AWQ_GEMM_KERNEL_EFFICIENCY[AWQ_GEMM_KERNEL_DEFAULT_ARCH]
    kernel_eff = np.array([AWQ_GEMM_KERNEL_EFFICIENCY.get(a, default) for a in archs]).reshape(tokens.shape)
    gemm_factor = np.asarray(compute_efficiency, dtype=float) / kernel_eff
    if kind == "awq-gemv":
        small = tokens <= AWQ_GEMV_MAX_TOKENS
        return np.where(small, AWQ_GEMV_BW_GAIN, 1.0), np.where(small, 1.0, gemm_factor * AWQ_GEMMV2_SLOWDOWN), no
    marlin = np.array([awq_on_marlin(engine, a) for a in archs], dtype=bool).reshape(tokens.shape)
    dequant = ~marlin & (tokens >= threshold)
    return ones, np.where(~marlin & ~dequant, gemm_factor, 1.0), dequant


def evaluate(model: ModelSpec, cand: pd.DataFrame) -> pd.DataFrame:
    """Add memory, speed and fit columns to a candidate table.

    Required columns: the GPU columns above (memory_gib already overridden where the user gave one),
    num_gpus, quant, engine, parallel ('tp'|'pp'), batch (NaN = max), prompt_tokens, gen_tokens,
    context, kv_bytes_per_element; optional: backend, offload_frac, ram_bw_gbs. The work is numpy on
    plain arrays, one group per (quant, engine); the result frame is built once.
    """
    columns = {c: cand[c].to_numpy() for c in cand.columns}
    for c in GPU_COLUMNS[5:]:
        columns[c] = columns[c].astype(float)
    codes, uniques = pd.factorize(pd.Series(list(zip(columns["quant"], columns["engine"]))))
    results: dict[str, np.ndarray] = {}
    for code, (quant, engine) in enumerate(uniques):
        index = np.flatnonzero(codes == code)
        part = _evaluate_group(model, {c: v[index] for c, v in columns.items()}, quant, engine)
        for key, value in part.items():
            value = np.broadcast_to(value, index.shape)
            if key not in results:
                results[key] = np.empty(len(cand), dtype=value.dtype if value.dtype != bool else bool)
            results[key][index] = value
    kept = cand.drop(columns=[c for c in results if c in cand.columns])
    return pd.concat([kept, pd.DataFrame(results, index=cand.index)], axis=1)


def _evaluate_group(model: ModelSpec, g: dict, quant: str, engine_name: str) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    engine, _ = resolve_engine(engine_name)
    fmt = for_model(model, parse_quant(quant), engine.name)
    n = g["num_gpus"].astype(float)
    is_tp = (g["parallel"] == "tp") & (n > 1)
    # tensor parallel stays within a node of 8 GPUs; more GPUs form a pipeline of nodes
    tp_degree = np.where(is_tp, tensor_parallel_degree(n), 1.0)
    nodes = np.where(is_tp, np.maximum(n / GPUS_PER_NODE, 1.0), 1.0)
    is_apple = np.array([str(v).lower() == "apple" for v in g["vendor"]], dtype=bool)
    # per distinct (chosen backend, vendor, architecture): the backend and the engine's constants on it
    chosen = g.get("backend", np.full(len(n), "", dtype=object))
    keys = [(b if isinstance(b, str) else "", v, a) for b, v, a in zip(chosen, g["vendor"], g["architecture"])]
    backend_of = {k: (k[0] or backend_for(k[1], k[2])) for k in set(keys)}
    backend = [backend_of[k] for k in keys]
    off = g["offload_frac"].astype(float) if "offload_frac" in g else np.zeros(len(n))
    ram_bw = g["ram_bw_gbs"].astype(float) * 1e9 if "ram_bw_gbs" in g else np.full(len(n), np.nan)
    per_backend = {b: constants_for(engine, b)[:3] for b in set(backend)}
    consts = np.array([per_backend[b] for b in backend], dtype=float).reshape(-1, 3)
    bw_eff, prefill_eff, overhead_s = consts[:, 0], consts[:, 1], consts[:, 2]
    prompt = g["prompt_tokens"].astype(float)
    gen = g["gen_tokens"].astype(float)
    context = g["context"].astype(float)
    kv_elem = g["kv_bytes_per_element"].astype(float)

    # --- memory, per GPU ---
    device = mem.usable_device_bytes(g["memory_gib"].astype(float), is_apple)
    weights_total = mem.model_weight_bytes(model, fmt)
    runtime_pg = mem.runtime_bytes(engine, device)
    kv_share_tp = mem.kv_split_factor(model, tp_degree, is_tp)  # what one GPU of a node reads per step
    kv_share = np.where(is_tp, kv_share_tp / nodes, mem.kv_split_factor(model, n, is_tp))
    kv_tokens = mem.kv_tokens_allocated(engine, context)
    kv_seq_total = arch.kv_cache_bytes(model, kv_tokens, 1.0, kv_elem, mla_compressed=engine.mla_compressed,
                                       window_capped=engine.window_capped)
    # Two GPU kinds per row, (weights, KV share): A the fullest GPU without the output layer, B the one with
    # it. An even split makes them equal; llama.cpp's layer split does not (and keeps the token embedding in
    # system RAM: "very little benefit to offloading the input layer", src/llama-model.cpp)
    host_bytes = 0.0
    weights_sum = weights_total * (1.0 - off)  # offloaded layers live in system RAM
    weights_a = weights_b = weights_sum / n
    kv_a = kv_b = kv_seq_total * kv_share * (1.0 - off)
    kv_sum = kv_a * n  # per sequence, over all GPUs (TP with fewer KV heads than GPUs replicates them)
    if engine.name == "llama.cpp":
        host_bytes = mem.embedding_bytes(model, fmt)  # a tied model's GPU copy is its output head
        on_gpus = weights_total - (0.0 if model.tie_embeddings else host_bytes)
        head = mem.output_head_bytes(model, fmt)
        exact = ~is_tp & (off == 0)
        share_a, share_b = mem.llama_cpp_split_shares(model.num_layers, n)
        weights_sum = on_gpus * np.where(exact, 1.0, 1.0 - off)
        weights_a = np.where(exact, (on_gpus - head) * share_a, weights_sum / n)
        weights_b = np.where(exact, (on_gpus - head) * share_b + head, weights_a)
        kv_a = np.where(exact, kv_seq_total * share_a, kv_a)
        kv_b = np.where(exact, kv_seq_total * share_b, kv_b)
        kv_sum = np.where(exact, kv_seq_total, kv_sum)
    batch = g["batch"].astype(float)
    want_max = np.isnan(batch)

    def batch_room(weights_x, kv_x, act):
        """Sequences whose KV fits beside the weights on a GPU of one kind (the cap where it holds no KV)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            room = np.floor(np.where(kv_x > 0, (device - weights_x - runtime_pg - act) / kv_x, MAX_BATCH_CAP))
        return np.clip(np.nan_to_num(room, nan=0.0), 0, MAX_BATCH_CAP)

    act_one = mem.activation_bytes(model, engine, prompt, 1.0)
    max_batch = np.minimum(batch_room(weights_a, kv_a, act_one), batch_room(weights_b, kv_b, act_one))
    # activations grow with the batch for some engines: shrink the max batch until all terms fit
    for _ in range(3):
        act = mem.activation_bytes(model, engine, prompt, np.maximum(max_batch, 1))
        max_batch = np.minimum.reduce([max_batch, batch_room(weights_a, kv_a, act), batch_room(weights_b, kv_b, act)])
    batch = np.where(want_max, np.maximum(max_batch, 1.0), batch)
    act_pg = mem.activation_bytes(model, engine, prompt, batch)
    per_gpu = np.maximum(weights_a + kv_a * batch, weights_b + kv_b * batch) + act_pg + runtime_pg
    out["batch"] = batch.astype(int)
    out["max_batch"] = max_batch.astype(int)
    out["weights_gib"] = weights_sum / GIB  # what the GPUs hold; the four terms sum to vram_gib
    out["model_weights_gib"] = weights_total / GIB  # the whole model in this format (the file)
    out["kv_cache_gib"] = kv_sum * batch / GIB
    out["activations_gib"] = act_pg * n / GIB
    out["runtime_overhead_gib"] = runtime_pg * n / GIB
    out["vram_gib_per_gpu"] = per_gpu / GIB
    out["vram_gib"] = (weights_sum + kv_sum * batch + (act_pg + runtime_pg) * n) / GIB
    out["gpu_memory_gib"] = device / GIB
    out["fits"] = per_gpu <= device
    out["system_ram_gib"] = ((weights_total + kv_seq_total * batch) * off + host_bytes) / GIB

    # --- speed ---
    bw = g["memory_bw_gbs"].astype(float) * 1e9
    peak = _peak_flops(g, fmt)
    active = arch.params_active(model)
    # pipeline split: the GPUs (or nodes) take turns, no single-stream speed-up
    split = np.where(is_tp, tp_degree, 1.0)
    has_nvlink = ~np.isnan(g["nvlink_gbs"])
    link_gbs = np.where(has_nvlink, g["nvlink_gbs"] / 2.0, PCIE_ALLREDUCE_GBS)
    per_gpu_latency = np.where(has_nvlink, ALLREDUCE_LATENCY_PER_GPU_S["nvlink"],
                               ALLREDUCE_LATENCY_PER_GPU_S["pcie"])
    latency, latency_tp = n * per_gpu_latency, tp_degree * per_gpu_latency

    def dequant_bytes(tokens):
        """Bytes of writing and reading a 16-bit copy of the quantized weights a call of ``tokens`` tokens touches
        (the 16-bit output head is not dequantized): 2 bytes per weight in bf16, so bf16 bytes / 2 counts them."""
        bf16 = parse_quant("bf16")
        weights = (mem.decode_weight_read_bytes(model, bf16, tokens) - mem.output_head_bytes(model, bf16)) / 2.0
        return weights * DEQUANT_16BIT_BYTES_PER_WEIGHT

    def kernel_family(b):
        """(extra weight bytes, extra seconds, weight-read speed factor, matmul FLOP factor) of one step for the
        kernels: a serving engine's fused-MoE chain costs a fixed time per MoE layer; bitsandbytes pays per
        linear call, and its nf4 path dequantizes to a 16-bit copy when a step carries > 1 token; AWQ picks its
        GEMM, GEMV or dequantize kernel by the tokens in the step."""
        moe_s = arch.moe_layer_count(model) * SERVING_MOE_LAYER_S if engine.paged else 0.0
        read_gain, flop_factor, dequant = awq_kernels(fmt.kind, engine, g["architecture"], b, prefill_eff)
        extra = np.where(dequant, dequant_bytes(b), 0.0)
        if fmt.kind != "bnb":
            return extra, moe_s, read_gain, flop_factor
        seconds = arch.linear_calls_per_step(model, b) * BNB_LINEAR_OVERHEAD_S[fmt.name] + moe_s
        if fmt.name == "nf4":
            extra = np.where(np.asarray(b) > 1, dequant_bytes(b), 0.0)
        return extra, seconds, read_gain, flop_factor

    def step(positions, b):
        """Decode step at context ``positions`` for batch ``b``: (seconds, parts for --explain)."""
        extra_bytes, kernel_s, read_gain, flop_factor = kernel_family(b)
        # each sequence after the first adds the engine's per-sequence time in every layer
        seq_s = np.maximum(np.asarray(b, dtype=float) - 1.0, 0.0) * model.num_layers * engine.seq_layer_overhead_s
        kernel_s = kernel_s + seq_s
        weight_read = (mem.decode_weight_read_bytes(model, fmt, b) / read_gain + extra_bytes) / split
        kv_read = arch.kv_cache_bytes(model, positions, b, kv_elem, mla_compressed=engine.mla_compressed,
                                      window_capped=engine.window_capped) * np.where(is_tp, kv_share_tp, 1.0)
        matmul_flops = 2.0 * active * b * flop_factor / split
        attention_flops = tp.attention_flops_per_token(model, positions) * b / split
        comm_tp = 2 * model.num_layers * tp.allreduce_seconds(tp_degree, b * model.hidden_size * 2.0, link_gbs,
                                                              latency_tp)
        comm_tp = comm_tp + (nodes - 1) * (INTERNODE_LATENCY_S + b * model.hidden_size * 2.0 / (INTERNODE_GBS * 1e9))
        comm_pp = np.where(~is_tp & (n > 1), (n - 1) * latency / n, 0.0)
        comm = np.where(is_tp, comm_tp, comm_pp)
        t, kernels = tp.decode_step_seconds(weight_read * (1.0 - off), kv_read * (1.0 - off), bw, bw_eff,
                                            matmul_flops * (1.0 - off), attention_flops * (1.0 - off), peak,
                                            prefill_eff, overhead_s + kernel_s, comm)
        # layers kept on the CPU run at the system RAM's achievable bandwidth, after the GPU's share
        with np.errstate(invalid="ignore"):
            t_cpu = np.where(off > 0, (weight_read + kv_read) * off / (ram_bw * CPU_BW_EFFICIENCY), 0.0)
        return t + t_cpu, {"weight_read_gib": weight_read * (1.0 - off) / GIB, "kv_read_gib": kv_read * (1.0 - off) / GIB,
                           "t_memory_ms": kernels["memory_s"] * 1e3, "t_compute_ms": kernels["compute_s"] * 1e3,
                           "t_matmul_ms": kernels["matmul_s"] * 1e3, "t_attention_ms": kernels["attention_s"] * 1e3,
                           "compute_bound": kernels["compute_bound"], "t_cpu_ms": t_cpu * 1e3,
                           "t_overhead_ms": (overhead_s + kernel_s) * 1e3, "t_comm_ms": comm * 1e3,
                           "t_seq_overhead_ms": seq_s * 1e3}

    mean_position = prompt + gen / 2.0
    t_step, parts = step(mean_position, batch)
    compute_bound = parts.pop("compute_bound")  # the weight matmuls, which more batch no longer hides
    t_first, _ = step(prompt, np.ones_like(batch))
    # AWQ: the prompt's matmuls run on the kernel its token count picks (a FLOP factor on the active
    # parameters' 2 x P term); the dequantize path writes the 16-bit copy once per prefill chunk
    read_gain, flop_factor, dequant = awq_kernels(fmt.kind, engine, g["architecture"], prompt, prefill_eff)
    chunks = np.ceil(prompt / SERVING_BATCHED_TOKENS) if engine.paged else 1.0
    t_dequant = np.where(dequant, chunks * dequant_bytes(prompt) / (bw * bw_eff), 0.0) / split
    t_prefill = tp.prefill_seconds(tp.prefill_flops(model, active * flop_factor, prompt) / split, peak, prefill_eff,
                                   weights_total / read_gain / split, bw, bw_eff, overhead_s) + t_dequant
    # llama.cpp runs large batches of offloaded layers on the GPU, copying their weights over PCIe once per
    # micro-batch of n_ubatch tokens
    pcie = tp.pcie_bytes_per_s(g["pcie_gen"].astype(float), g["pcie_lanes"].astype(float))
    with np.errstate(invalid="ignore"):
        t_prefill = t_prefill + np.where(off > 0, weights_total * off * np.ceil(prompt / LLAMA_CPP_UBATCH) / pcie, 0.0)
    for key, value in parts.items():
        out[key] = np.broadcast_to(value, batch.shape).astype(float)
    out["bw_efficiency"], out["prefill_efficiency"], out["peak_tflops"] = bw_eff, prefill_eff, peak / 1e12
    fits = out["fits"]
    decode = np.where(fits, batch / t_step, np.nan)
    out["decode_tps"] = decode
    out["decode_tps_per_seq"] = np.where(fits, 1.0 / t_step, np.nan)
    out["tpot_ms"] = np.where(fits, t_step * 1e3, np.nan)
    out["prefill_tps"] = np.where(fits, prompt / t_prefill, np.nan)
    out["ttft_s"] = np.where(fits, t_prefill + t_first, np.nan)
    out["e2e_s"] = np.where(fits, t_prefill + t_first + np.maximum(gen - 1.0, 0.0) * t_step, np.nan)
    p10, p90 = DECODE_RATIO_BAND.get(engine.name, (DECODE_RATIO_P10, DECODE_RATIO_P90))
    batched = batch > 1
    out["decode_tps_low"] = decode / np.where(batched, DECODE_BATCHED_RATIO_P90, p90)
    out["decode_tps_high"] = decode / np.where(batched, DECODE_BATCHED_RATIO_P10, p10)
    out["bound"] = np.where(compute_bound, "compute", "memory")
    out["peak_flops_known"] = ~np.isnan(peak)
    out["weights_bytes_total"] = np.full(len(n), weights_total)
    return out
