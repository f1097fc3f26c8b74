"""A Hugging Face ``config.json`` read into a ModelSpec. Pure: no network, no huggingface_hub, no transformers.

Keys are read the way transformers reads them for each ``model_type``; a value config.json omits is taken
from the transformers config class default only where that default is what transformers itself would use
(``_CLASS_DEFAULTS``, below). A missing essential key (layers, hidden size, heads, vocabulary, MLP width,
context length) raises ``HubError`` naming the key: nothing is guessed.
"""

from __future__ import annotations

import math
from typing import Any

from llmplan.errors import HubError
from llmplan.records import ModelSpec

# Values transformers' configuration_<type>.py classes (v4.50-4.57) use when config.json omits the key.
# save_pretrained writes nested sub-configs (text_config) as a diff against the sub-config's defaults,
# so e.g. google/gemma-3-4b-it's text_config states neither heads nor vocab_size: these defaults are the
# model's real values, not guesses.
_CLASS_DEFAULTS: dict[str, dict[str, Any]] = {
    "llama": {"max_position_embeddings": 2048, "tie_word_embeddings": False},
    "mistral": {"max_position_embeddings": 131072, "tie_word_embeddings": False},
    "mixtral": {"max_position_embeddings": 131072, "tie_word_embeddings": False},
    "qwen2": {"max_position_embeddings": 32768, "tie_word_embeddings": False},
    "qwen2_moe": {"max_position_embeddings": 32768, "tie_word_embeddings": False},
    "qwen3": {"max_position_embeddings": 32768, "tie_word_embeddings": False},
    "qwen3_moe": {"max_position_embeddings": 32768, "tie_word_embeddings": False},
    "phi3": {"max_position_embeddings": 4096, "tie_word_embeddings": False},
    "phimoe": {"max_position_embeddings": 131072, "tie_word_embeddings": False},
    "phi": {"max_position_embeddings": 2048, "tie_word_embeddings": False},
    "deepseek_v2": {"max_position_embeddings": 2048, "tie_word_embeddings": False},
    "deepseek_v3": {"max_position_embeddings": 4096, "tie_word_embeddings": False},
    "gpt_oss": {"max_position_embeddings": 131072, "tie_word_embeddings": False},
    "granite": {"max_position_embeddings": 2048, "tie_word_embeddings": False},
    "olmo2": {"max_position_embeddings": 2048, "tie_word_embeddings": False},
    "gemma": {"max_position_embeddings": 8192, "tie_word_embeddings": True},
    "gemma2": {"max_position_embeddings": 8192, "tie_word_embeddings": True},
    "gemma3_text": {"vocab_size": 262208, "max_position_embeddings": 131072, "num_attention_heads": 8,
                    "num_key_value_heads": 4, "head_dim": 256, "tie_word_embeddings": True,
                    "sliding_window": 4096, "sliding_window_pattern": 6},
    "cohere": {"max_position_embeddings": 8192, "tie_word_embeddings": True},
    "starcoder2": {"max_position_embeddings": 4096, "tie_word_embeddings": True},
    "falcon": {"max_position_embeddings": 2048, "tie_word_embeddings": True, "multi_query": True},
    "gpt_bigcode": {"n_positions": 1024, "tie_word_embeddings": True, "multi_query": True},
}
# Pre-transformers Falcon checkpoints (custom RW code) read like model_type "falcon".
_CLASS_DEFAULTS["RefinedWeb"] = _CLASS_DEFAULTS["RefinedWebModel"] = _CLASS_DEFAULTS["falcon"]
_FALCON_TYPES = frozenset({"falcon", "RefinedWeb", "RefinedWebModel"})
# Wrappers whose text_config may omit its own model_type.
_TEXT_TYPE_OF_WRAPPER = {"gemma3": "gemma3_text"}
# Families whose MLP is up -> activation -> down (2 matrices), not a gated GLU (3 matrices).
_NON_GATED_MLP = frozenset({"falcon", "RefinedWeb", "RefinedWebModel", "gpt_bigcode", "starcoder2", "phi",
                            "gpt2", "gpt_neox", "gptj", "gpt_neo", "opt", "bloom", "mpt", "codegen", "nemotron"})
# Families whose MLP width is 4 x hidden by definition when the config leaves it unset.
_MLP_4X_HIDDEN = frozenset({"falcon", "RefinedWeb", "RefinedWebModel", "gpt_bigcode", "gpt2"})
# PretrainedConfig's own default: save_pretrained drops tie_word_embeddings only when it equals it.
_BASE_TIE_DEFAULT = True
# When neither config.json nor the caller states a dtype: ModelSpec's (and the catalog's) default.
_DEFAULT_DTYPE = "bfloat16"
_DTYPES = {"bfloat16": "bfloat16", "bf16": "bfloat16", "float16": "float16", "fp16": "float16",
           "half": "float16", "float32": "float32", "fp32": "float32", "float": "float32"}
_NESTED_TEXT_KEYS = ("text_config", "llm_config", "language_config")


def spec_from_config(repo_id: str, config: dict, *, params_total: int | None = None, license: str = "",
                     gated: bool = False, pipeline_tag: str = "", source: str = "", as_of: str = "",
                     native_dtype: str = "", params_source: str = "") -> ModelSpec:
    """The ModelSpec of ``repo_id`` from its parsed config.json.

    ``params_total`` is a published count (None: llmplan computes it from the architecture).
    ``native_dtype`` is used only when config.json states no ``torch_dtype``/``dtype``.
    Raises HubError (one line, naming the key) when an essential key is missing or malformed.
    """
    if not isinstance(config, dict):
        raise HubError(f"config.json of {repo_id} is not a JSON object")
    r = _Reader(repo_id, config)
    layers = r.int_("num_hidden_layers", "n_layer", "num_layers", "n_layers")
    hidden = r.int_("hidden_size", "n_embd", "d_model")
    heads = r.int_("num_attention_heads", "n_head", "num_heads", "n_heads")
    vocab = r.int_("vocab_size", "padded_vocab_size")
    head_dim = r.int_("head_dim", "kv_channels", required=False)
    if head_dim is None:
        if hidden % heads:
            raise HubError(f"config.json of {repo_id} lacks head_dim (hidden_size {hidden} is not a multiple "
                           f"of {heads} heads)")
        head_dim = hidden // heads
    intermediate = r.int_("intermediate_size", "ffn_hidden_size", "n_inner", "ffn_dim", "moe_intermediate_size",
                          required=r.text_type not in _MLP_4X_HIDDEN)
    if intermediate is None:
        intermediate = 4 * hidden
    dense_inner = r.int_("intermediate_size_mlp", required=False)  # Llama 4: dense layers are wider than experts
    max_ctx = r.int_("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length",
                     "max_seq_len", "n_ctx")
    window, pattern = _sliding_window(r, layers)
    moe = _moe_fields(r, layers, intermediate)
    if dense_inner and moe:
        intermediate = dense_inner
    mla = _mla_fields(r)
    quant = prequantized_from_config(r.get("quantization_config"))
    dtype = _dtype(r.get("torch_dtype", "dtype")) or _dtype(native_dtype) or _DEFAULT_DTYPE
    return ModelSpec(
        repo_id=repo_id, num_layers=layers, hidden_size=hidden, num_attention_heads=heads,
        num_kv_heads=_kv_heads(r, heads), head_dim=head_dim, intermediate_size=intermediate, vocab_size=vocab,
        max_context_tokens=max_ctx, mlp_gated=r.text_type not in _NON_GATED_MLP, tie_embeddings=_tied(r),
        params_total=params_total, model_type=r.model_type, sliding_window_tokens=window,
        sliding_window_pattern=pattern, **moe, **mla, license=license, gated=gated,
        pipeline_tag=pipeline_tag or "text-generation", native_dtype=dtype,
        params_source=params_source or ("published count" if params_total else "architecture count from config.json"),
        source=source, as_of=as_of, prequantized=quant)


def prequantized_from_config(qc: object) -> str | None:
    """The llmplan quant name (see llmplan.quant) of a config.json ``quantization_config``; None for 16-bit.

    An unrecognised method is returned as its own name, so a caller can say which one it does not model.
    """
    if not isinstance(qc, dict) or not qc:
        return None
    method = str(qc.get("quant_method") or "").strip().lower()
    bits = qc.get("bits")
    if method == "awq":  # AutoAWQ's GEMV packing runs other kernels than the default GEMM one
        return "awq-gemv" if str(qc.get("version") or "").strip().lower() == "gemv" else "awq"
    if method == "gptq":
        return "int8" if bits == 8 else "gptq"
    if method in ("fp8", "fbgemm_fp8"):
        return "fp8"
    if method == "mxfp4":
        return "mxfp4"
    if method == "eetq":
        return "int8"
    if method == "bitsandbytes":
        if qc.get("load_in_8bit") or qc.get("_load_in_8bit"):
            return "llm.int8"
        # bnb's fp4 type stores like nf4 (4-bit codes + one absmax per 64 weights): same bytes
        return "nf4"
    if method == "compressed-tensors":
        return _compressed_tensors_quant(qc) or method
    if method == "modelopt":
        algo = str(qc.get("quant_algo") or "").upper()
        return {"FP8": "fp8", "NVFP4": "fp4"}.get(algo, method)
    return method or None


def _compressed_tensors_quant(qc: dict) -> str | None:
    """Best llmplan match of a compressed-tensors scheme, from its first weight scheme, else its format."""
    groups = qc.get("config_groups")
    if isinstance(groups, dict):
        for group in groups.values():
            weights = group.get("weights") if isinstance(group, dict) else None
            if isinstance(weights, dict) and weights.get("num_bits"):
                bits, kind = weights.get("num_bits"), str(weights.get("type") or "int").lower()
                if kind == "float":
                    return {8: "fp8", 4: "fp4"}.get(bits)
                return {8: "int8", 4: "int4"}.get(bits)
    fmt = str(qc.get("format") or "").lower()
    return {"float-quantized": "fp8", "nvfp4-pack-quantized": "fp4", "pack-quantized": "int4",
            "int-quantized": "int8"}.get(fmt)


class _Reader:
    """Key lookup over the text model's config, then the wrapper's, then the class defaults."""

    def __init__(self, repo_id: str, config: dict):
        self.repo_id = repo_id
        self.model_type = str(config.get("model_type") or "")
        nested = next((config[k] for k in _NESTED_TEXT_KEYS if isinstance(config.get(k), dict)), None)
        self.text = nested if nested is not None else config
        self.outer = config if nested is not None else {}
        self.text_type = str(self.text.get("model_type") or _TEXT_TYPE_OF_WRAPPER.get(self.model_type)
                             or self.model_type)
        self.defaults = _CLASS_DEFAULTS.get(self.text_type, {})

    def has(self, key: str) -> bool:
        return self.text.get(key) is not None

    def get(self, *keys: str, default: Any = None) -> Any:
        """First non-null value among ``keys``: the text config, then (for dtype, quantization and tying
        only) the wrapper, then the class defaults."""
        for key in keys:
            if self.text.get(key) is not None:
                return self.text[key]
        for key in keys:
            if key in ("torch_dtype", "dtype", "quantization_config", "tie_word_embeddings") and \
                    self.outer.get(key) is not None:
                return self.outer[key]
        for key in keys:
            if self.defaults.get(key) is not None:
                return self.defaults[key]
        return default

    def int_(self, *keys: str, required: bool = True, minimum: int = 1) -> int | None:
        value = self.get(*keys)
        if value is None:
            if required:
                raise HubError(f"config.json of {self.repo_id} lacks {keys[0]}")
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) \
                or value < minimum:
            raise HubError(f"config.json of {self.repo_id} has a malformed {keys[0]}: {value!r}")
        return int(value)


def _kv_heads(r: _Reader, heads: int) -> int:
    if r.text_type in _FALCON_TYPES:
        # FalconConfig: the new decoder uses num_kv_heads; the old one is multi-query (1) or multi-head.
        if r.get("new_decoder_architecture") or r.has("n_head_kv"):
            return r.int_("num_kv_heads", "n_head_kv", required=False) or heads
        return 1 if r.get("multi_query") else heads
    kv = r.int_("num_key_value_heads", "num_kv_heads", "n_head_kv", "multi_query_group_num", required=False)
    if kv is not None:
        return kv
    return 1 if r.get("multi_query") is True else heads


def _tied(r: _Reader) -> bool:
    return bool(r.get("tie_word_embeddings", default=_BASE_TIE_DEFAULT))


def _dtype(value: object) -> str:
    if not isinstance(value, str):
        return ""
    return _DTYPES.get(value.strip().lower().removeprefix("torch."), "")


def _sliding_window(r: _Reader, layers: int) -> tuple[int | None, int | None]:
    """(window tokens, pattern N: every Nth layer global) as transformers applies them; (None, None): none.
    Llama 4's chunked attention (attention_chunk_size on the RoPE layers; every no_rope_layer_interval-th
    layer is a global NoPE layer) holds at most one chunk of KV per layer, so it is treated as a window."""
    chunk = r.int_("attention_chunk_size", required=False)
    if chunk:
        flags = r.get("no_rope_layers")
        if isinstance(flags, list) and len(flags) >= layers:
            return _pattern_from_layer_types([bool(f) for f in flags[:layers]], chunk)
        interval = r.int_("no_rope_layer_interval", required=False) or 4
        return _pattern_from_layer_types([(i + 1) % interval != 0 for i in range(layers)], chunk)
    if r.get("use_sliding_window") is False:
        return None, None
    window = r.int_("sliding_window", "sliding_window_size", required=False)
    if not window:
        return None, None
    layer_types = r.get("layer_types")
    if isinstance(layer_types, list) and layer_types:
        return _pattern_from_layer_types([t == "sliding_attention" for t in layer_types], window)
    if r.get("use_sliding_window") is True and r.has("max_window_layers"):
        # Qwen2: layers from max_window_layers on use the window
        first = r.int_("max_window_layers", minimum=0)
        return _pattern_from_layer_types([i >= first for i in range(layers)], window)
    if r.text_type == "gemma2":
        return window, 2  # Gemma2 alternates sliding and global layers
    pattern = r.int_("sliding_window_pattern", "_sliding_window_pattern", required=False)
    return window, pattern


def _pattern_from_layer_types(sliding: list[bool], window: int) -> tuple[int | None, int | None]:
    """Per-layer sliding flags as (window, N). A list that is not exactly "every Nth layer global" gets
    the N with at least as many global layers as the list has (never under-counts the KV cache)."""
    n, n_global = len(sliding), sliding.count(False)
    if n_global == n:
        return None, None
    if n_global == 0:
        return window, None
    period = sliding.index(False) + 1
    if [i for i, s in enumerate(sliding) if not s] == list(range(period - 1, n, period)):
        return window, period
    return window, max(1, n // n_global)


def _moe_fields(r: _Reader, layers: int, intermediate: int) -> dict[str, int | None]:
    experts = r.int_("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts", required=False,
                     minimum=0)
    if not experts or experts < 2:
        return {}
    per_token = r.int_("num_experts_per_tok", "experts_per_token", "moe_top_k", "num_selected_experts")
    expert_inner = r.int_("moe_intermediate_size", required=False) or intermediate
    shared = r.int_("n_shared_experts", required=False, minimum=0)
    shared_inner = r.int_("shared_expert_intermediate_size", required=False)
    if shared is None and r.text_type == "llama4_text":
        shared = 1  # every Llama 4 MoE layer adds one shared expert (transformers Llama4TextMoe.shared_expert)
    if shared is None and shared_inner:
        # Qwen2-MoE: one shared MLP of shared_expert_intermediate_size = that many expert-sized MLPs
        shared = math.ceil(shared_inner / expert_inner)
    dense = layers - sum(_is_moe_layer(r, i) for i in range(layers))
    return {"num_experts": experts, "experts_per_token": per_token, "moe_intermediate_size": expert_inner,
            "num_shared_experts": shared or None, "first_k_dense_layers": dense or None}


def _is_moe_layer(r: _Reader, i: int) -> bool:
    """Which layers carry experts: DeepSeek keeps the first k dense (and may space MoE layers by
    moe_layer_freq); Qwen-MoE lists dense layers in mlp_only_layers and spaces by decoder_sparse_step."""
    first_k = r.int_("first_k_dense_replace", required=False, minimum=0) or 0
    freq = r.int_("moe_layer_freq", required=False) or 1
    step = r.int_("decoder_sparse_step", "interleave_moe_layer_step", required=False) or 1
    dense_only = r.get("mlp_only_layers")
    dense_only = dense_only if isinstance(dense_only, list) else []
    return i >= first_k and i % freq == 0 and (i + 1) % step == 0 and i not in dense_only


def _mla_fields(r: _Reader) -> dict[str, int | None]:
    rank = r.int_("kv_lora_rank", required=False)
    if not rank:
        return {}
    return {"kv_lora_rank": rank, "q_lora_rank": r.int_("q_lora_rank", required=False),
            "qk_rope_head_dim": r.int_("qk_rope_head_dim"), "qk_nope_head_dim": r.int_("qk_nope_head_dim"),
            "v_head_dim": r.int_("v_head_dim")}
