"""Step-time formulas for decode and prefill. Pure functions over numbers or numpy arrays.

One decode step of a batch of B sequences at context position L takes

    t_step = max(t_memory, t_compute) + t_overhead + t_comm

    t_memory  = (weight bytes read + KV bytes read at L) / (peak bandwidth x bandwidth efficiency)
    t_compute = (2 x active params x B + 4 x layers x heads x head_dim x L x B) / (peak FLOPs x efficiency)

so throughput grows with B while the weights dominate the bytes read, then saturates when the compute
term takes over (the roofline). Prefill of P tokens needs 2 x active params x P plus attention's
quadratic 2 x layers x heads x head_dim x P^2 FLOPs (causal), bounded below by one read of the weights.
"""

from __future__ import annotations

import numpy as np

from llmplan.architecture import qk_head_dim
from llmplan.records import ModelSpec


def attention_flops_per_token(m: ModelSpec, context_tokens) -> np.ndarray:
    """FLOPs of QK^T and AV for one new token attending to ``context_tokens`` (2 matmuls x 2 FLOP/MAC)."""
    return 4.0 * m.num_layers * m.num_attention_heads * qk_head_dim(m) * np.asarray(context_tokens, dtype=float)


def prefill_flops(m: ModelSpec, active_params: float, prompt_tokens) -> np.ndarray:
    """FLOPs to process a prompt of P tokens: 2 x active params x P for the matmuls plus causal
    attention, 2 x layers x heads x head_dim x P^2 (QK^T and AV over the lower triangle)."""
    p = np.asarray(prompt_tokens, dtype=float)
    return 2.0 * active_params * p + 2.0 * m.num_layers * m.num_attention_heads * qk_head_dim(m) * p**2


def decode_step_seconds(weight_read_bytes, kv_read_bytes, bandwidth_bytes_per_s, bw_efficiency,
                        matmul_flops, attention_flops, peak_flops_per_s, compute_efficiency, overhead_s, comm_s):
    """(seconds per decode step, its parts). A step runs two kinds of kernels one after the other: the weight
    matmuls (read the weights, 2 FLOPs per active parameter per token) and attention (read each sequence's KV
    cache). Each takes the longer of its memory and its compute time, so a batch whose matmuls have turned
    compute-bound still pays for its KV reads; the step is their sum plus the fixed overhead and the
    communication time. At batch 1 both are memory-bound and the sum is all bytes over the bandwidth."""
    achieved_bw = np.asarray(bandwidth_bytes_per_s) * bw_efficiency
    weights_mem = np.asarray(weight_read_bytes) / achieved_bw
    kv_mem = np.asarray(kv_read_bytes) / achieved_bw
    with np.errstate(invalid="ignore", divide="ignore"):
        achieved_flops = np.asarray(peak_flops_per_s) * compute_efficiency
        # unknown peak: memory bound only (warned)
        matmul_comp = np.nan_to_num(np.asarray(matmul_flops) / achieved_flops, nan=0.0, posinf=0.0)
        attention_comp = np.nan_to_num(np.asarray(attention_flops) / achieved_flops, nan=0.0, posinf=0.0)
    matmuls, attention = np.maximum(weights_mem, matmul_comp), np.maximum(kv_mem, attention_comp)
    parts = {"matmul_s": matmuls, "attention_s": attention, "memory_s": weights_mem + kv_mem,
             "compute_s": matmul_comp + attention_comp, "compute_bound": matmul_comp > weights_mem}
    return matmuls + attention + overhead_s + comm_s, parts


def prefill_seconds(prompt_flops, peak_flops_per_s, compute_efficiency, weight_bytes,
                    bandwidth_bytes_per_s, bw_efficiency, overhead_s):
    """Seconds to process a prompt: compute-bound, but never faster than one read of the weights.
    NaN where the peak FLOPs are unknown (the caller warns)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        t_compute = np.asarray(prompt_flops) / (np.asarray(peak_flops_per_s) * compute_efficiency)
    t_memory = np.asarray(weight_bytes) / (np.asarray(bandwidth_bytes_per_s) * bw_efficiency)
    return np.maximum(t_compute, t_memory) + overhead_s


def allreduce_seconds(num_gpus, payload_bytes, link_gbs, latency_s):
    """One ring all-reduce of ``payload_bytes``: latency plus 2(n-1)/n x payload over the link."""
    n = np.asarray(num_gpus, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        transfer = 2.0 * (n - 1.0) / n * np.asarray(payload_bytes) / (np.asarray(link_gbs) * 1e9)
    return np.where(n > 1, latency_s + transfer, 0.0)


def pcie_bytes_per_s(generation, lanes) -> np.ndarray:
    """Usable one-way PCIe bandwidth: per-lane transfer rate 2.5/5/8/16/32/64 GT/s for generations 1-6,
    8b/10b encoding up to gen 2 and 128b/130b from gen 3 (PCI-SIG specifications); NaN when unknown."""
    gen = np.asarray(generation, dtype=float)
    gts = np.where(gen <= 2, 2.5 * 2 ** (gen - 1), 8.0 * 2 ** (gen - 3))
    encoding = np.where(gen <= 2, 8 / 10, 128 / 130)
    return gts * 1e9 * encoding / 8 * np.asarray(lanes, dtype=float)
