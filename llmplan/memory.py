"""Memory terms of one deployment, in bytes. Pure formulas over numbers or numpy arrays.

The four terms of the `estimate` contract: weights, KV cache, activations (transient compute buffers)
and runtime overhead (CUDA/Metal context plus any share the engine reserves).
"""

from __future__ import annotations

import functools

import numpy as np

from llmplan import architecture as arch
from llmplan.engines import (APPLE_GPU_SHARE_LARGE, APPLE_GPU_SHARE_SMALL, APPLE_SMALL_LIMIT_GIB, GIB,
                             LLAMA_CPP_UBATCH, PAGED_BLOCK_TOKENS, SERVING_BATCHED_TOKENS,
                             SERVING_MEMORY_UTILIZATION, EngineProfile)
from llmplan.quant import QuantFormat, weight_bytes
from llmplan.records import ModelSpec


def model_weight_bytes(m: ModelSpec, fmt: QuantFormat) -> float:
    """Stored weight bytes of the whole model in ``fmt`` (embedding, body and output head)."""
    b = arch.param_breakdown(m)
    total = arch.params_total(m)
    body = max(total - b.embedding - b.lm_head, 0)
    return weight_bytes(fmt, b.embedding, b.lm_head, body, min(b.routed_experts, body))


def embedding_bytes(m: ModelSpec, fmt: QuantFormat) -> float:
    """Bytes of the token-embedding table in ``fmt``."""
    return arch.param_breakdown(m).embedding * fmt.emb_bpw / 8.0


def output_head_bytes(m: ModelSpec, fmt: QuantFormat) -> float:
    """Bytes of the output head as an engine holds it: a tied model's head is the embedding table."""
    b = arch.param_breakdown(m)
    return embedding_bytes(m, fmt) if m.tie_embeddings else b.lm_head * fmt.head_bpw / 8.0


@functools.lru_cache(maxsize=256)
def llama_cpp_layer_counts(num_layers: int, num_gpus: int) -> tuple[int, ...]:
    """Repeating layers llama.cpp's layer split puts on each of ``num_gpus`` equal GPUs. It splits
    num_layers + 1 slots (the output layer is the last) in equal fractions and sends layer il to GPU
    floor(il x n / (num_layers + 1)) (src/llama-model.cpp, load_tensors: upper_bound over the cumulative
    split fractions), so the first GPUs get one layer more and the last holds the output layer:
    32 layers on 2 GPUs = 17 + 15 (+ output)."""
    counts = [0] * num_gpus
    for il in range(num_layers):
        counts[il * num_gpus // (num_layers + 1)] += 1
    return tuple(counts)


def llama_cpp_split_shares(num_layers: int, num_gpus) -> tuple[np.ndarray, np.ndarray]:
    """(share of the repeating layers on the fullest GPU without the output layer, share on the GPU with
    it), per element of ``num_gpus``; one GPU: (0, 1)."""
    n = np.asarray(num_gpus, dtype=int)
    shares = {k: llama_cpp_layer_counts(num_layers, int(k)) for k in np.unique(n)}
    first = np.array([max(shares[k][:-1], default=0) / num_layers for k in n.ravel()]).reshape(n.shape)
    last = np.array([shares[k][-1] / num_layers for k in n.ravel()]).reshape(n.shape)
    return first, last


def decode_weight_read_bytes(m: ModelSpec, fmt: QuantFormat, batch) -> np.ndarray:
    """Weight bytes one decode step reads: all but the embedding table (a row lookup); for MoE only the
    experts the batch routes to. With k of E experts per token, a batch of B touches on average
    E * (1 - (1 - k/E)^B) distinct experts per layer (uniform routing)."""
    total = model_weight_bytes(m, fmt)
    dense_read = total - (0.0 if m.tie_embeddings else embedding_bytes(m, fmt))
    batch = np.asarray(batch, dtype=float)
    if not m.is_moe:
        return np.broadcast_to(dense_read, batch.shape).astype(float)
    per_expert_bytes = arch.expert_params_each(m) * (fmt.experts_bpw or fmt.body_bpw) / 8.0
    experts_bytes = per_expert_bytes * m.num_experts
    return dense_read - experts_bytes + per_expert_bytes * arch.experts_touched(m, batch)


def kv_split_factor(m: ModelSpec, num_gpus, parallel_tp) -> np.ndarray:
    """Share of the KV cache each GPU holds. Pipeline split: 1/n. Tensor parallel splits KV heads,
    but a head cannot be split, so with more GPUs than KV heads each GPU holds one head (replicated);
    MLA's latent is not per head and is replicated on every GPU under TP (vLLM MLA backend)."""
    n = np.asarray(num_gpus, dtype=float)
    tp = np.asarray(parallel_tp, dtype=bool)
    if m.is_mla:
        tp_share = np.ones_like(n)
    else:
        tp_share = np.maximum(1.0 / n, 1.0 / m.num_kv_heads)
    return np.where(tp, tp_share, 1.0 / n)


def activation_bytes(m: ModelSpec, engine: EngineProfile, prompt_tokens, batch) -> np.ndarray:
    """Peak transient buffers per GPU during prefill (fp32 logits + one layer's intermediates).

    llama.cpp: one micro-batch of up to n_ubatch tokens, compute buffer replicated on every device.
    Serving engines: the profiling batch of max_num_batched_tokens in 16-bit, plus sampler logits.
    transformers: the whole prompt batch at once in 16-bit, logits of the last position in fp32.
    """
    inner = max(m.intermediate_size, (m.moe_intermediate_size or 0) * (m.experts_per_token or 0))
    per_token_fp32 = (4 * m.hidden_size + 2 * inner) * 4.0
    prompt = np.asarray(prompt_tokens, dtype=float)
    batch = np.asarray(batch, dtype=float)
    if engine.name == "llama.cpp":
        # ggml reuses buffers, so the peak is the larger of the fp32 logits (+ the hidden state) and one MLP's
        # intermediates, per token of the micro-batch; with flash attention (llama.cpp's default, -fa auto) no
        # n_ctx x n_ubatch score matrix. Checks: gpt-oss-20b 398 MiB (ggml-org/llama.cpp#17715, 2025-12-03),
        # Qwen2.5-3B 300.75 MiB (SciSharp/LLamaSharp#1099, 2025-02-13): (vocab + hidden) x 4 B x 512 exactly.
        ubatch = np.minimum(prompt * batch, LLAMA_CPP_UBATCH)
        mlp = m.hidden_size + (3 if m.mlp_gated else 2) * inner
        return ubatch * 4.0 * max(m.vocab_size + m.hidden_size, mlp)
    if engine.paged:
        tokens = np.minimum(np.maximum(prompt * batch, 1.0), SERVING_BATCHED_TOKENS)
        return tokens * per_token_fp32 / 2.0 + np.minimum(batch, 256.0) * m.vocab_size * 4.0
    return prompt * batch * per_token_fp32 / 2.0 + batch * m.vocab_size * 4.0


def usable_device_bytes(memory_gib, is_apple) -> np.ndarray:
    """Bytes the GPU may use: all of a discrete card; the Metal working-set share of Apple memory."""
    mem = np.asarray(memory_gib, dtype=float)
    share = np.where(mem <= APPLE_SMALL_LIMIT_GIB, APPLE_GPU_SHARE_SMALL, APPLE_GPU_SHARE_LARGE)
    return np.where(np.asarray(is_apple, dtype=bool), mem * share, mem) * GIB


def runtime_bytes(engine: EngineProfile, device_bytes) -> np.ndarray:
    """Per-GPU runtime overhead: context and libraries, plus the share a paged engine leaves unused."""
    device = np.asarray(device_bytes, dtype=float)
    reserve = (1.0 - SERVING_MEMORY_UTILIZATION) * device if engine.paged else 0.0 * device
    return engine.runtime_gib * GIB + reserve


def kv_tokens_allocated(engine: EngineProfile, context_tokens) -> np.ndarray:
    """Tokens of KV a sequence occupies: paged engines round up to whole blocks."""
    ctx = np.asarray(context_tokens, dtype=float)
    if engine.paged:
        return np.ceil(ctx / PAGED_BLOCK_TOKENS) * PAGED_BLOCK_TOKENS
    return ctx
