"""Per-tensor types of llama.cpp's quantization mixes, and the bits per weight they give one model.

A Q4_K_M file is not 4.5 bits everywhere: llama-quantize picks a type per tensor (src/llama-quant.cpp,
llama_tensor_get_type, read at ggerganov/llama.cpp@c392e50 of 2025-02-21; the k-quant rules are unchanged in
the 2026 code). This module restates those rules as data and sums the bytes of every tensor of a model's
architecture. Checked against published files in tests/test_gguf.py (llama.cpp's quantize help sizes,
bartowski and TheBloke repos): within 1% for the k-quant and legacy mixes.

Not modelled: importance-matrix variants (they change only Q4_0/Q5_0 and the IQ types), files made before
2024-01-11 (a larger Q2_K), Falcon's own rules, the IQ mixes (their effective bpw stays in quant.py).
"""

from __future__ import annotations

import functools

from llmplan import architecture as arch
from llmplan.records import ModelSpec

# Bits per weight and block size of each GGUF tensor type, from its block layout (ggml-common.h):
# e.g. Q4_K = 144 bytes per 256 weights = 4.5 bpw; Q8_0 = 34 bytes per 32 = 8.5 bpw.
TYPE_BPW = {"F32": 32.0, "F16": 16.0, "BF16": 16.0, "Q8_0": 8.5, "Q6_K": 6.5625, "Q5_K": 5.5, "Q4_K": 4.5,
            "Q3_K": 3.4375, "Q2_K": 2.625, "Q5_1": 6.0, "Q5_0": 5.5, "Q4_1": 5.0, "Q4_0": 4.5}
BLOCK = {"Q6_K": 256, "Q5_K": 256, "Q4_K": 256, "Q3_K": 256, "Q2_K": 256, "Q8_0": 32, "Q5_1": 32, "Q5_0": 32,
         "Q4_1": 32, "Q4_0": 32, "F16": 1, "BF16": 1, "F32": 1}
# A row whose length the type's block does not divide falls back (llama-quant.cpp, 2026 code)
FALLBACK = {"Q2_K": "Q4_0", "Q3_K": "Q4_0", "Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0"}
# the default tensor type of each mix
DEFAULT = {"Q2_K": "Q2_K", "Q3_K_S": "Q3_K", "Q3_K_M": "Q3_K", "Q3_K_L": "Q3_K", "Q4_K_S": "Q4_K",
           "Q4_K_M": "Q4_K", "Q5_K_S": "Q5_K", "Q5_K_M": "Q5_K", "Q6_K": "Q6_K", "Q8_0": "Q8_0", "Q4_0": "Q4_0",
           "Q4_1": "Q4_1", "Q5_0": "Q5_0", "Q5_1": "Q5_1"}
MIXES = frozenset(DEFAULT)


def use_more_bits(layer: int, n: int) -> bool:
    """The layers Q4_K_M / Q5_K_M give more bits: the first n/8, the last n/8 and every third between."""
    return layer < n // 8 or layer >= 7 * n // 8 or (layer - n // 8) % 3 == 2


def _attn_v(mix: str, i: int, n: int, m: ModelSpec) -> str:
    default = DEFAULT[mix]
    gqa = m.num_attention_heads // max(m.num_kv_heads, 1)
    chosen = {"Q2_K": "Q4_K" if gqa >= 4 else "Q3_K", "Q3_K_M": "Q5_K" if i < 2 else "Q4_K", "Q3_K_L": "Q5_K",
              "Q4_K_S": "Q5_K" if i < 4 else default,
              "Q4_K_M": "Q6_K" if use_more_bits(i, n) else default,
              "Q5_K_M": "Q6_K" if use_more_bits(i, n) else default}.get(mix, default)
    if _is_70b(m) and chosen in ("Q3_K", "Q4_K"):
        chosen = "Q5_K"
    return "Q8_0" if _moe8(m) else chosen


def _attn_output(mix: str, m: ModelSpec) -> str:
    default = DEFAULT[mix]
    if _moe8(m):
        return {"Q3_K_L": default}.get(mix, "Q5_K" if mix in ("Q2_K", "Q3_K_S", "Q3_K_M", "Q4_K_S", "Q4_K_M")
                                       else default)
    return {"Q2_K": "Q3_K", "Q3_K_M": "Q4_K", "Q3_K_L": "Q5_K"}.get(mix, default)


def _ffn_down(mix: str, i: int, n: int) -> str:
    default = DEFAULT[mix]
    return {"Q2_K": "Q3_K", "Q3_K_M": "Q5_K" if i < n // 16 else "Q4_K", "Q3_K_L": "Q5_K",
            "Q4_K_S": "Q5_K" if i < n // 8 else default,
            "Q4_K_M": "Q6_K" if use_more_bits(i, n) else default,
            "Q5_K_M": "Q6_K" if use_more_bits(i, n) else default}.get(mix, default)


def _moe8(m: ModelSpec) -> bool:
    return m.num_experts == 8


def _is_70b(m: ModelSpec) -> bool:
    """llama.cpp's LLM_TYPE_70B: 80 layers with grouped-query attention (Llama-2/3 70B, Qwen2 72B)."""
    return m.num_layers == 80 and m.num_kv_heads < m.num_attention_heads


def _fit(kind: str, row_length: int) -> str:
    """The type after the row-length fallback (F16 when even a 32-block does not divide the row)."""
    if row_length % BLOCK[kind] == 0:
        return kind
    fallback = FALLBACK.get(kind, "F16")
    return fallback if row_length % BLOCK[fallback] == 0 else "F16"


def _bits(kind: str, row_length: int, numel: float) -> float:
    return TYPE_BPW[_fit(kind, row_length)] * numel


@functools.lru_cache(maxsize=512)
def mix_bpw(m: ModelSpec, mix: str) -> tuple[float, float, float, float]:
    """(embedding, output head, non-expert body, routed experts) bits per weight of ``mix`` for model ``m``,
    summed tensor by tensor over its architecture (norms in F32; a tied head is the embedding table)."""
    n, h = m.num_layers, m.hidden_size
    default = DEFAULT[mix]
    # output (and a tied token_embd): Q8_0 when the row does not divide by the mix's block, or for Q8_0
    out_kind = "Q8_0" if (h % BLOCK[default] or mix == "Q8_0") else "Q6_K"
    head_bpw = TYPE_BPW[out_kind]
    emb_bpw = head_bpw if m.tie_embeddings else TYPE_BPW[_fit(default, h)]
    q_dim = m.num_attention_heads * m.head_dim
    kv_dim = m.num_kv_heads * m.head_dim
    moe_layers = arch.moe_layer_count(m)
    inner, expert_inner = m.intermediate_size, (m.moe_intermediate_size or m.intermediate_size)
    mlp_mats = 3 if m.mlp_gated else 2
    body_bits = body_params = expert_bits = expert_params = 0.0
    attn_params = arch.param_breakdown(m).attention / n
    for i in range(n):
        if m.is_mla:  # q_a/q_b/kv_a/kv_b keep the default type; o_proj follows attn_output
            o = q_dim * h if q_dim else 0
            body_bits += TYPE_BPW[default] * (attn_params - o) + _bits(_attn_output(mix, m), q_dim or h, o)
        else:
            body_bits += (_bits(default, h, h * q_dim) + _bits("Q8_0" if _moe8(m) else default, h, h * kv_dim)
                          + _bits(_attn_v(mix, i, n, m), h, h * kv_dim)
                          + _bits(_attn_output(mix, m), q_dim, q_dim * h))
        body_params += attn_params
        is_moe_layer = i >= n - moe_layers
        down = _ffn_down(mix, i, n)
        if is_moe_layer:
            per = m.num_experts * h * expert_inner
            expert_bits += _bits(default, h, per * (mlp_mats - 1)) + _bits(down, expert_inner, per)
            expert_params += per * mlp_mats
            shared = (m.num_shared_experts or 0) * h * expert_inner
            body_bits += _bits(default, h, shared * (mlp_mats - 1)) + _bits(down, expert_inner, shared)
            body_bits += 32.0 * h * m.num_experts  # the router stays F32
            body_params += shared * mlp_mats + h * m.num_experts
        else:
            per = h * inner
            body_bits += _bits(default, h, per * (mlp_mats - 1)) + _bits(down, inner, per)
            body_params += per * mlp_mats
    norms = (2 * n + 1) * h
    body_bits += 32.0 * norms
    body_params += norms
    expert_bpw = expert_bits / expert_params if expert_params else body_bits / body_params
    return emb_bpw, head_bpw, body_bits / body_params, expert_bpw
