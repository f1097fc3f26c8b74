"""Quantization formats: bits per weight, which tensors stay in 16 bit, and the kernel family.

Bits per weight (bpw) of GGUF block types follow from their block layouts (ggml-common.h): e.g. Q4_0
stores 32 weights in 18 bytes = 4.5 bpw, Q6_K 256 weights in 210 bytes = 6.5625 bpw. The k-quant mixes
(Q4_K_M, ...) pick a type per tensor; until the per-tensor model lands (issue 6) their body bpw is taken
from measured whole-file sizes of TheBloke/Llama-2-7B-GGUF (README file table, 2023-09; 6.74e9 params,
output tensor in Q6_K split out), which reproduces the block-layout bpw for the pure types Q4_0, Q5_0,
Q6_K and Q8_0 to within 0.5%.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmplan.errors import InvalidInputError

# bpw of the Q6_K output tensor that llama.cpp's mixes keep (block layout: 210 bytes / 256 weights).
Q6_K_BPW = 6.5625


@dataclass(frozen=True)
class QuantFormat:
    """How one quantization stores weights.

    ``body_bpw`` applies to every weight except the output head (and, when ``embeddings_16bit``, the
    token embedding); ``head_bpw`` is the output head's bpw.
    """

    name: str
    kind: str  # gguf | float | awq | awq-gemv | gptq | bnb | exl2 | mlc | mlx | fp8 | fp4 | mxfp4 | int8 | int4
    body_bpw: float
    head_bpw: float
    embeddings_16bit: bool = False
    compute: str = "fp16"  # tensor-core dtype the prefill matmuls run in: fp16 | fp8 | fp4 | int8
    source: str = ""
    # set per model by ``for_model``: the token embedding's and the routed experts' own bpw
    embedding_bpw: float | None = None
    experts_bpw: float | None = None

    @property
    def emb_bpw(self) -> float:
        if self.embedding_bpw is not None:
            return self.embedding_bpw
        return 16.0 if self.embeddings_16bit else self.body_bpw

    @property
    def is_gguf(self) -> bool:
        return self.kind == "gguf"


def _gguf(name: str, body_bpw: float, head_bpw: float = Q6_K_BPW, src: str = "") -> QuantFormat:
    return QuantFormat(name, "gguf", body_bpw, head_bpw, compute="int8",
                       source=src or "ggml-common.h block layout")


_BLOKE = "TheBloke/Llama-2-7B-GGUF file sizes (2023-09), head in Q6_K"
_QUANTIZE = "llama.cpp tools/quantize QUANT_OPTIONS bpw (2025)"

_FORMATS: dict[str, QuantFormat] = {q.name: q for q in [
    QuantFormat("F32", "float", 32.0, 32.0, source="definition"),
    QuantFormat("F16", "gguf", 16.0, 16.0, source="definition"),
    QuantFormat("BF16", "gguf", 16.0, 16.0, source="definition"),
    _gguf("Q8_0", 8.5, 8.5),
    _gguf("Q6_K", 6.5625),
    _gguf("Q5_K_M", 5.657, src=_BLOKE),
    _gguf("Q5_K_S", 5.500, src=_BLOKE),
    _gguf("Q5_1", 6.0),
    _gguf("Q5_0", 5.5),
    _gguf("Q4_K_M", 4.810, src=_BLOKE),
    _gguf("Q4_K_S", 4.543, src=_BLOKE),
    _gguf("Q4_1", 5.0),
    _gguf("Q4_0", 4.5),
    _gguf("IQ4_XS", 4.25),
    _gguf("IQ4_NL", 4.5),
    _gguf("Q3_K_L", 4.229, src=_BLOKE),
    _gguf("Q3_K_M", 3.865, src=_BLOKE),
    _gguf("Q3_K_S", 3.441, src=_BLOKE),
    _gguf("IQ3_M", 3.66, src=_QUANTIZE),
    _gguf("IQ3_S", 3.4375),
    _gguf("IQ3_XS", 3.3, src=_QUANTIZE),
    _gguf("IQ3_XXS", 3.0625),
    _gguf("Q2_K", 3.296, src=_BLOKE),
    _gguf("IQ2_M", 2.7, src=_QUANTIZE),
    _gguf("IQ2_S", 2.5),
    _gguf("IQ2_XS", 2.3125),
    _gguf("IQ2_XXS", 2.0625),
    _gguf("IQ1_M", 1.75),
    _gguf("IQ1_S", 1.5625),
    QuantFormat("fp32", "float", 32.0, 32.0, source="definition"),
    QuantFormat("fp16", "float", 16.0, 16.0, source="definition"),
    QuantFormat("bf16", "float", 16.0, 16.0, source="definition"),
    # FP8 (e4m3) with one fp32 scale per tensor or per channel: scales < 0.01 bpw; head kept in 16 bit
    # as vLLM's fp8 checkpoints do (vLLM docs, "FP8 W8A8", 2025).
    QuantFormat("fp8", "fp8", 8.0, 16.0, embeddings_16bit=True, compute="fp8",
                source="OCP FP8 spec; vLLM FP8 W8A8 docs"),
    # NVFP4: 4-bit e2m1 + one fp8 scale per 16 weights = 4.5 bpw (NVIDIA Blackwell NVFP4 blog, 2025-06).
    QuantFormat("fp4", "fp4", 4.5, 16.0, embeddings_16bit=True, compute="fp4",
                source="NVFP4 layout: 16-weight blocks, fp8 e4m3 scale"),
    # MXFP4: 4-bit e2m1 + one e8m0 scale per 32 weights = 4.25 bpw (OCP Microscaling spec v1.0, 2023-09).
    QuantFormat("mxfp4", "mxfp4", 4.25, 16.0, embeddings_16bit=True, compute="fp16",
                source="OCP MX spec v1.0"),
    # int8 weight-only with one fp16 scale per output channel: 8 bpw + negligible.
    QuantFormat("int8", "int8", 8.0, 16.0, embeddings_16bit=True, compute="int8", source="definition"),
    # int4 group-wise (group 128, fp16 scale + 4-bit zero): 4 + 16/128 + 4/128 = 4.156 bpw.
    QuantFormat("int4", "int4", 4.156, 16.0, embeddings_16bit=True, source="group-128 layout"),
    QuantFormat("awq", "awq", 4.156, 16.0, embeddings_16bit=True,
                source="AWQ group 128: fp16 scale + packed 4-bit zero (arXiv:2306.00978)"),
    # the same layout packed for AutoAWQ's GEMV kernel ("version": "gemv"); its scale/zero rows are padded to a
    # multiple of 8 groups (awq/modules/linear/gemv.py), < 0.01 bpw more on 4096-wide layers
    QuantFormat("awq-gemv", "awq-gemv", 4.156, 16.0, embeddings_16bit=True,
                source="AWQ group 128, GEMV packing (AutoAWQ)"),
    QuantFormat("gptq", "gptq", 4.156, 16.0, embeddings_16bit=True,
                source="GPTQ 4-bit group 128: fp16 scale + packed 4-bit zero (arXiv:2210.17323)"),
    # NF4 with double quantization: 4 + 0.127 bpw (QLoRA paper, arXiv:2305.14314, section 3).
    QuantFormat("nf4", "bnb", 4.127, 16.0, embeddings_16bit=True, source="arXiv:2305.14314 s.3"),
    # LLM.int8(): int8 weights + one fp32 scale per row (arXiv:2208.07339): ~8 bpw.
    QuantFormat("llm.int8", "bnb", 8.0, 16.0, embeddings_16bit=True, source="arXiv:2208.07339"),
    # MLC q4f16_1: 4-bit weights, one fp16 scale per 32 = 4.5 bpw (mlc-llm quantization docs).
    QuantFormat("mlc-q4f16_1", "mlc", 4.5, 4.5, source="mlc-llm group quantization, group 32"),
]}

_ALIASES = {"float16": "fp16", "half": "fp16", "bfloat16": "bf16", "float32": "fp32", "nvfp4": "fp4",
            "fp8_e4m3": "fp8", "int4-awq": "awq", "awq-gemm": "awq", "bnb-nf4": "nf4", "bnb-int8": "llm.int8",
            "q4f16_1": "mlc-q4f16_1", "f16": "F16", "bf16-gguf": "BF16"}


def parse_quant(name: str) -> QuantFormat:
    """Resolve a quantization name (case-insensitive): GGUF type names, fp16/bf16/fp8/..., exl2-<bpw>."""
    raw = name.strip()
    key = raw.lower()
    if key.startswith("exl2-"):
        try:
            bpw = float(key[5:])
        except ValueError:
            raise InvalidInputError(f"exl2 needs bits per weight, e.g. exl2-4.65 (got {raw!r})") from None
        if not 1.0 <= bpw <= 16.0:
            raise InvalidInputError(f"exl2 bits per weight must be between 1 and 16 (got {bpw})")
        # ExLlamaV2 keeps the head at 6 bpw by default (exllamav2 convert.py -hb default 6).
        return QuantFormat(f"exl2-{bpw:g}", "exl2", bpw, 6.0, source="exllamav2 convert defaults")
    if raw in _FORMATS:  # exact spelling first: "BF16" is the GGUF type, "bf16" the serving dtype
        return _FORMATS[raw]
    key = _ALIASES.get(key, key)
    for fmt_name, fmt in _FORMATS.items():
        if fmt_name.lower() == key.lower():
            return fmt
    raise InvalidInputError(f"unknown quantization {raw!r}; known: {', '.join(known_quants())}, exl2-<bpw>")


def known_quants() -> list[str]:
    return list(_FORMATS)


def weight_bytes(fmt: QuantFormat, embedding_params: float, head_params: float, body_params: float,
                 expert_params: float = 0.0) -> float:
    """Bytes of stored weights: the body (of which ``expert_params`` are routed experts), the token
    embedding and the output head, each at its bpw."""
    experts_bpw = fmt.experts_bpw if fmt.experts_bpw is not None else fmt.body_bpw
    bits = ((body_params - expert_params) * fmt.body_bpw + expert_params * experts_bpw
            + embedding_params * fmt.emb_bpw + head_params * fmt.head_bpw)
    return bits / 8.0


# llama.cpp's gpt-oss GGUF (MXFP4_MOE) keeps everything but the experts in Q8_0; the Hugging Face checkpoint
# vLLM loads keeps it in bf16 (Hub file sizes: ggml-org/gpt-oss-20b-GGUF 12.1 GB vs openai/gpt-oss-20b
# 13.8 GB, both as released 2025-08)
_MXFP4_REST_BPW = {"llama.cpp": 8.5}


def for_model(m, fmt: QuantFormat, engine_name: str = "llama.cpp") -> QuantFormat:
    """``fmt`` as it applies to one model: a llama.cpp mix's per-tensor types (llmplan.gguf) summed into
    embedding / head / body / expert bpw; MXFP4 on an MoE model quantizes the experts only."""
    from dataclasses import replace

    from llmplan import gguf

    if fmt.is_gguf and fmt.name in gguf.MIXES:
        emb, head, body, experts = gguf.mix_bpw(m, fmt.name)
        return replace(fmt, body_bpw=body, head_bpw=head, embedding_bpw=emb, experts_bpw=experts)
    if fmt.kind == "mxfp4" and m.is_moe:
        rest = _MXFP4_REST_BPW.get(engine_name, 16.0)
        return replace(fmt, body_bpw=rest, head_bpw=rest, embedding_bpw=rest, experts_bpw=fmt.body_bpw)
    return fmt


# Perplexity increase over F16 on LLaMA-v1-7B, from llama.cpp's quantize tool (QUANT_OPTIONS table in
# examples/quantize/quantize.cpp, 2023-2024). A rough guide to the quality cost of each level.
PPL_DELTA_LLAMA1_7B = {"Q8_0": 0.0004, "Q6_K": -0.0008, "Q5_K_M": 0.0122, "Q5_K_S": 0.0400, "Q5_1": 0.0349,
                       "Q5_0": 0.0683, "Q4_K_M": 0.0532, "Q4_K_S": 0.0992, "Q4_1": 0.1585, "Q4_0": 0.2166,
                       "Q3_K_L": 0.1764, "Q3_K_M": 0.2496, "Q3_K_S": 0.5551, "Q2_K": 0.6717}


def quality_note(name: str) -> str:
    """One line on the quality cost of a quantization level."""
    if name in PPL_DELTA_LLAMA1_7B:
        delta = PPL_DELTA_LLAMA1_7B[name]
        verdict = ("indistinguishable from 16 bit" if delta < 0.02 else "small loss" if delta < 0.1
                   else "noticeable loss" if delta < 0.3 else "large loss")
        return f"{name}: {verdict} ({delta:+.4f} perplexity vs F16 on LLaMA-7B, llama.cpp quantize table)"
    fmt = parse_quant(name)
    if fmt.kind in ("float", "gguf") and fmt.body_bpw >= 16:
        return f"{name}: full precision"
    if fmt.body_bpw >= 8:
        return f"{name}: 8-bit, close to 16-bit quality"
    if fmt.body_bpw >= 4:
        return f"{name}: 4-bit, small loss on most benchmarks"
    return f"{name}: below 4 bits per weight, noticeable loss"


# Quantizations the `fit` search tries, lightest last (a short, sensible ladder per engine family). Q2_K
# and the IQ2/IQ1 types are left out of the automatic search: below ~3.5 bpw quality falls off steeply
# (Q2_K +0.67 perplexity vs +0.05 for Q4_K_M, table above); ask for them with --quant.
FIT_LADDER_GGUF = ("F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M")
FIT_LADDER_SERVING = ("bf16", "fp8", "awq")


# KV-cache element sizes in bytes: f16/bf16 by definition; fp8 (e4m3/e5m2) 1 byte (vLLM --kv-cache-dtype fp8);
# llama.cpp's q8_0 and q4_0 cache types use the weight block layouts: 34 bytes / 32 and 18 bytes / 32.
KV_DTYPE_BYTES = {"f16": 2.0, "fp16": 2.0, "bf16": 2.0, "fp8": 1.0, "q8_0": 34 / 32, "q4_0": 18 / 32, "f32": 4.0}
# which engines can store which KV dtype (llama.cpp --cache-type-k/-v; vLLM --kv-cache-dtype)
KV_DTYPE_ENGINES = {"q8_0": ("llama.cpp",), "q4_0": ("llama.cpp",), "fp8": ("vllm", "exllamav2")}


def parse_kv_dtype(name: str | None, engine_name: str) -> tuple[str, float]:
    """(canonical KV dtype, bytes per element); f16 when not given."""
    key = (name or "f16").strip().lower()
    if key not in KV_DTYPE_BYTES:
        raise InvalidInputError(f"unknown KV cache dtype {name!r}; known: {', '.join(KV_DTYPE_BYTES)}")
    allowed = KV_DTYPE_ENGINES.get(key)
    if allowed and engine_name not in allowed:
        raise InvalidInputError(f"{engine_name} cannot store the KV cache as {key} (supported by {', '.join(allowed)})")
    return key, KV_DTYPE_BYTES[key]
