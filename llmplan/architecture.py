"""Parameter counts and KV-cache sizes derived from a model's architecture (config.json facts).

All functions are pure and work on plain numbers; callers convert to GiB only when rendering.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from llmplan.records import ModelSpec


@dataclass(frozen=True)
class ParamBreakdown:
    """Parameter counts by role. ``body`` is everything but the embedding table and the output head."""

    embedding: int
    lm_head: int
    attention: int  # all layers
    dense_mlp: int  # all dense-MLP layers
    routed_experts: int  # all layers, all routed experts
    shared_and_router: int  # shared experts plus router gates, all MoE layers
    norms: int

    @property
    def total(self) -> int:
        return (self.embedding + self.lm_head + self.attention + self.dense_mlp
                + self.routed_experts + self.shared_and_router + self.norms)

    @property
    def body(self) -> int:
        return self.total - self.embedding - self.lm_head


def _attention_params_per_layer(m: ModelSpec) -> int:
    h = m.hidden_size
    if m.is_mla:
        nope, rope = m.qk_nope_head_dim or 0, m.qk_rope_head_dim or 0
        v = m.v_head_dim or m.head_dim
        qk = nope + rope
        if m.q_lora_rank:
            q = h * m.q_lora_rank + m.q_lora_rank + m.q_lora_rank * m.num_attention_heads * qk
        else:
            q = h * m.num_attention_heads * qk
        kv = h * (m.kv_lora_rank + rope) + m.kv_lora_rank + m.kv_lora_rank * m.num_attention_heads * (nope + v)
        o = m.num_attention_heads * v * h
        return q + kv + o
    q = h * m.num_attention_heads * m.head_dim
    kv = 2 * h * m.num_kv_heads * m.head_dim
    o = m.num_attention_heads * m.head_dim * h
    return q + kv + o


def _mlp_params(hidden: int, inner: int, gated: bool) -> int:
    return (3 if gated else 2) * hidden * inner


def moe_layer_count(m: ModelSpec) -> int:
    """Number of layers whose MLP is a mixture of experts (DeepSeek keeps the first k dense)."""
    if not m.is_moe:
        return 0
    return m.num_layers - (m.first_k_dense_layers or 0)


def param_breakdown(m: ModelSpec) -> ParamBreakdown:
    """Count parameters from the architecture (biases ignored: < 0.1% for the catalog models)."""
    emb = m.vocab_size * m.hidden_size
    head = 0 if m.tie_embeddings else m.vocab_size * m.hidden_size
    attn = m.num_layers * _attention_params_per_layer(m)
    moe_layers = moe_layer_count(m)
    dense_layers = m.num_layers - moe_layers
    dense = dense_layers * _mlp_params(m.hidden_size, m.intermediate_size, m.mlp_gated)
    routed = shared = 0
    if moe_layers:
        expert_inner = m.moe_intermediate_size or m.intermediate_size
        per_expert = _mlp_params(m.hidden_size, expert_inner, m.mlp_gated)
        routed = moe_layers * m.num_experts * per_expert
        shared = moe_layers * ((m.num_shared_experts or 0) * per_expert + m.hidden_size * m.num_experts)
    norms = (2 * m.num_layers + 1) * m.hidden_size
    return ParamBreakdown(emb, head, attn, dense, routed, shared, norms)


def params_total(m: ModelSpec) -> int:
    """The published total when known, else the architecture's count."""
    return m.params_total or param_breakdown(m).total


def expert_params_each(m: ModelSpec) -> float:
    """Parameters of one routed expert summed over all MoE layers (0 for dense models)."""
    if not m.is_moe:
        return 0.0
    return param_breakdown(m).routed_experts / m.num_experts


def params_active(m: ModelSpec) -> int:
    """Parameters used per token: all of a dense model; for MoE the non-expert part plus k experts.

    The published active count wins when the catalog has one.
    """
    if not m.is_moe:
        return params_total(m)
    if m.params_active:
        return m.params_active
    b = param_breakdown(m)
    return int(b.total - b.routed_experts + m.experts_per_token * expert_params_each(m))


def qk_head_dim(m: ModelSpec) -> int:
    """Width of one query/key head: MLA's no-rope plus rope parts, else head_dim."""
    return (m.qk_nope_head_dim or 0) + (m.qk_rope_head_dim or 0) if m.is_mla else m.head_dim


def kv_elements_per_token(m: ModelSpec, *, mla_compressed: bool = True) -> tuple[int, int]:
    """KV-cache elements stored per token, split as (full-attention layers, sliding-window layers).

    Standard attention stores K and V: 2 x kv_heads x head_dim per layer. MLA stores the compressed
    latent plus the rope key, (kv_lora_rank + qk_rope_head_dim) per layer, when the engine supports it
    (DeepSeek-V2 paper, arXiv:2405.04434, section 2.1); otherwise the decompressed K and V.
    """
    if m.is_mla:
        if mla_compressed:
            per_layer = m.kv_lora_rank + (m.qk_rope_head_dim or 0)
        else:
            per_layer = m.num_attention_heads * (qk_head_dim(m) + (m.v_head_dim or m.head_dim))
    else:
        per_layer = 2 * m.num_kv_heads * m.head_dim
    swa_layers = sliding_layer_count(m)
    return per_layer * (m.num_layers - swa_layers), per_layer * swa_layers


def sliding_layer_count(m: ModelSpec) -> int:
    """Layers that attend only within the sliding window (pattern N: every Nth layer is global)."""
    if not m.sliding_window_tokens:
        return 0
    if not m.sliding_window_pattern:
        return m.num_layers
    return m.num_layers - m.num_layers // m.sliding_window_pattern


def kv_cache_bytes(m: ModelSpec, tokens, batch, kv_bytes_per_element: float, *,
                   mla_compressed: bool = True, window_capped: bool = True):
    """KV-cache bytes for ``batch`` sequences of ``tokens`` tokens each (numpy arrays broadcast).

    Sliding-window layers hold at most the window when the engine caps them.
    """
    full, swa = kv_elements_per_token(m, mla_compressed=mla_compressed)
    tokens = np.asarray(tokens, dtype=float)
    swa_tokens = np.minimum(tokens, m.sliding_window_tokens) if (swa and window_capped) else tokens
    return (full * tokens + swa * swa_tokens) * kv_bytes_per_element * np.asarray(batch, dtype=float)


def experts_touched(m: ModelSpec, batch) -> np.ndarray:
    """Distinct routed experts per MoE layer a batch of B tokens uses: with k of E experts per token and
    uniform routing, E * (1 - (1 - k/E)^B)."""
    e, k = float(m.num_experts), float(m.experts_per_token)
    return e * (1.0 - (1.0 - k / e) ** np.maximum(np.asarray(batch, dtype=float), 1.0))


def linear_calls_per_step(m: ModelSpec, batch) -> np.ndarray:
    """Weight-matrix multiplications one decode step launches: per layer the attention projections (q, k, v,
    o; MLA: q_a, q_b, kv_a, kv_b, o) and the MLP's gate, up and down; an MoE layer runs those three for each
    expert the batch routes to (``experts_touched``) and each shared expert."""
    attention = 5.0 if m.is_mla else 4.0
    batch = np.maximum(np.asarray(batch, dtype=float), 1.0)
    if not m.is_moe:
        return np.broadcast_to(m.num_layers * (attention + 3.0), batch.shape).astype(float)
    moe_layers = moe_layer_count(m)
    dense_layers = m.num_layers - moe_layers
    return (m.num_layers * attention + dense_layers * 3.0
            + moe_layers * 3.0 * (experts_touched(m, batch) + (m.num_shared_experts or 0)))

