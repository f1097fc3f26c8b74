"""spec_from_config: config.json files of each supported family, read into ModelSpec fields.

The configs below are the published config.json files of the named repositories (huggingface.co, read
2025), trimmed of keys llmplan does not read (token ids, dropout, rope details, auto_map kept where the
repo has one, to show it is ignored).
"""

from __future__ import annotations

import copy

import pytest

from llmplan.architecture import param_breakdown, params_active, sliding_layer_count
from llmplan.errors import HubError
from llmplan.hfconfig import prequantized_from_config, spec_from_config

LLAMA_2_7B = {  # meta-llama/Llama-2-7b-hf
    "architectures": ["LlamaForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
    "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 11008, "max_position_embeddings": 4096,
    "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
    "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": None, "tie_word_embeddings": False,
    "torch_dtype": "float16", "transformers_version": "4.31.0.dev0", "use_cache": True, "vocab_size": 32000,
}
LLAMA_3_1_8B = {  # meta-llama/Llama-3.1-8B
    "architectures": ["LlamaForCausalLM"], "attention_bias": False, "hidden_act": "silu", "hidden_size": 4096,
    "intermediate_size": 14336, "max_position_embeddings": 131072, "mlp_bias": False, "model_type": "llama",
    "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
    "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "rope_theta": 500000.0, "tie_word_embeddings": False, "torch_dtype": "bfloat16", "vocab_size": 128256,
}
MISTRAL_7B = {  # mistralai/Mistral-7B-v0.1
    "architectures": ["MistralForCausalLM"], "hidden_act": "silu", "hidden_size": 4096, "intermediate_size": 14336,
    "max_position_embeddings": 32768, "model_type": "mistral", "num_attention_heads": 32, "num_hidden_layers": 32,
    "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096,
    "tie_word_embeddings": False, "torch_dtype": "bfloat16", "vocab_size": 32000,
}
QWEN2_5_7B = {  # Qwen/Qwen2.5-7B-Instruct
    "architectures": ["Qwen2ForCausalLM"], "hidden_act": "silu", "hidden_size": 3584, "intermediate_size": 18944,
    "max_position_embeddings": 32768, "max_window_layers": 28, "model_type": "qwen2", "num_attention_heads": 28,
    "num_hidden_layers": 28, "num_key_value_heads": 4, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
    "sliding_window": 131072, "tie_word_embeddings": False, "torch_dtype": "bfloat16", "use_sliding_window": False,
    "vocab_size": 152064,
}
QWEN3_4B = {  # Qwen/Qwen3-4B: head_dim 128 is stated (hidden 2560 / 32 heads would give 80)
    "architectures": ["Qwen3ForCausalLM"], "attention_bias": False, "head_dim": 128, "hidden_act": "silu",
    "hidden_size": 2560, "intermediate_size": 9728, "max_position_embeddings": 40960, "max_window_layers": 36,
    "model_type": "qwen3", "num_attention_heads": 32, "num_hidden_layers": 36, "num_key_value_heads": 8,
    "rms_norm_eps": 1e-06, "rope_scaling": None, "rope_theta": 1000000, "sliding_window": None,
    "tie_word_embeddings": True, "torch_dtype": "bfloat16", "use_sliding_window": False, "vocab_size": 151936,
}
GEMMA_7B = {  # google/gemma-7b: no tie_word_embeddings key (GemmaConfig ties by default)
    "architectures": ["GemmaForCausalLM"], "head_dim": 256, "hidden_act": "gelu", "hidden_size": 3072,
    "intermediate_size": 24576, "max_position_embeddings": 8192, "model_type": "gemma", "num_attention_heads": 16,
    "num_hidden_layers": 28, "num_key_value_heads": 16, "rms_norm_eps": 1e-06, "rope_theta": 10000.0,
    "torch_dtype": "bfloat16", "vocab_size": 256000,
}
GEMMA_2_9B = {  # google/gemma-2-9b: sliding and global layers alternate
    "architectures": ["Gemma2ForCausalLM"], "attn_logit_softcapping": 50.0, "cache_implementation": "hybrid",
    "final_logit_softcapping": 30.0, "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 3584,
    "intermediate_size": 14336, "max_position_embeddings": 8192, "model_type": "gemma2", "num_attention_heads": 16,
    "num_hidden_layers": 42, "num_key_value_heads": 8, "query_pre_attn_scalar": 256, "sliding_window": 4096,
    "sliding_window_size": 4096, "torch_dtype": "float32", "vocab_size": 256000,
}
GEMMA_3_1B = {  # google/gemma-3-1b-it: text-only, states sliding_window_pattern
    "architectures": ["Gemma3ForCausalLM"], "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh",
    "hidden_size": 1152, "intermediate_size": 6912, "max_position_embeddings": 32768, "model_type": "gemma3_text",
    "num_attention_heads": 4, "num_hidden_layers": 26, "num_key_value_heads": 1, "query_pre_attn_scalar": 256,
    "rope_local_base_freq": 10000, "rope_scaling": None, "rope_theta": 1000000, "sliding_window": 512,
    "sliding_window_pattern": 6, "torch_dtype": "bfloat16", "vocab_size": 262144,
}
GEMMA_3_4B_IT = {  # google/gemma-3-4b-it: multimodal; text_config is a diff against Gemma3TextConfig
    "architectures": ["Gemma3ForConditionalGeneration"], "boi_token_index": 255999, "eoi_token_index": 256000,
    "image_token_index": 262144, "mm_tokens_per_image": 256, "model_type": "gemma3",
    "text_config": {"hidden_size": 2560, "intermediate_size": 10240, "model_type": "gemma3_text",
                    "num_hidden_layers": 34, "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
                    "sliding_window": 1024},
    "torch_dtype": "bfloat16", "transformers_version": "4.50.0.dev0",
    "vision_config": {"hidden_size": 1152, "image_size": 896, "intermediate_size": 4304,
                      "model_type": "siglip_vision_model", "num_attention_heads": 16, "num_hidden_layers": 27,
                      "patch_size": 14, "vision_use_head": False},
}
PHI_3_MINI = {  # microsoft/Phi-3-mini-4k-instruct
    "architectures": ["Phi3ForCausalLM"], "auto_map": {"AutoConfig": "configuration_phi3.Phi3Config"},
    "hidden_act": "silu", "hidden_size": 3072, "intermediate_size": 8192, "max_position_embeddings": 4096,
    "model_type": "phi3", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
    "original_max_position_embeddings": 4096, "rms_norm_eps": 1e-05, "rope_scaling": None, "sliding_window": 2047,
    "tie_word_embeddings": False, "torch_dtype": "bfloat16", "vocab_size": 32064,
}
FALCON_7B = {  # tiiuae/falcon-7b: multi-query, MLP 4 x hidden, no max_position_embeddings key
    "alibi": False, "architectures": ["FalconForCausalLM"], "bias": False, "hidden_size": 4544,
    "model_type": "falcon", "multi_query": True, "new_decoder_architecture": False, "num_attention_heads": 71,
    "num_hidden_layers": 32, "parallel_attn": True, "torch_dtype": "bfloat16", "vocab_size": 65024,
}
FALCON_40B_RW = {  # tiiuae/falcon-40b before its transformers port (custom RefinedWeb code, n_* keys)
    "alibi": False, "architectures": ["RWForCausalLM"], "auto_map": {"AutoConfig": "configuration_RW.RWConfig"},
    "bias": False, "hidden_size": 8192, "model_type": "RefinedWeb", "n_head": 128, "n_head_kv": 8, "n_layer": 60,
    "parallel_attn": True, "torch_dtype": "bfloat16", "vocab_size": 65024,
}
FALCON_180B = {  # tiiuae/falcon-180B
    "architectures": ["FalconForCausalLM"], "hidden_size": 14848, "max_position_embeddings": 2048,
    "model_type": "falcon", "new_decoder_architecture": True, "num_attention_heads": 232, "num_hidden_layers": 80,
    "num_kv_heads": 8, "parallel_attn": True, "torch_dtype": "bfloat16", "vocab_size": 65024,
}
STARCODER = {  # bigcode/starcoder (gpt_bigcode)
    "activation_function": "gelu_pytorch_tanh", "architectures": ["GPTBigCodeForCausalLM"],
    "max_sequence_length": None, "model_type": "gpt_bigcode", "multi_query": True, "n_embd": 6144, "n_head": 48,
    "n_inner": 24576, "n_layer": 40, "n_positions": 8192, "torch_dtype": "float32", "vocab_size": 49152,
}
MIXTRAL_8X7B = {  # mistralai/Mixtral-8x7B-v0.1
    "architectures": ["MixtralForCausalLM"], "hidden_act": "silu", "hidden_size": 4096, "intermediate_size": 14336,
    "max_position_embeddings": 32768, "model_type": "mixtral", "num_attention_heads": 32, "num_experts_per_tok": 2,
    "num_hidden_layers": 32, "num_key_value_heads": 8, "num_local_experts": 8, "rope_theta": 1000000.0,
    "sliding_window": None, "tie_word_embeddings": False, "torch_dtype": "bfloat16", "vocab_size": 32000,
}
QWEN3_30B_A3B = {  # Qwen/Qwen3-30B-A3B
    "architectures": ["Qwen3MoeForCausalLM"], "decoder_sparse_step": 1, "head_dim": 128, "hidden_act": "silu",
    "hidden_size": 2048, "intermediate_size": 6144, "max_position_embeddings": 40960, "max_window_layers": 48,
    "mlp_only_layers": [], "model_type": "qwen3_moe", "moe_intermediate_size": 768, "norm_topk_prob": True,
    "num_attention_heads": 32, "num_experts": 128, "num_experts_per_tok": 8, "num_hidden_layers": 48,
    "num_key_value_heads": 4, "rope_theta": 1000000.0, "sliding_window": None, "tie_word_embeddings": False,
    "torch_dtype": "bfloat16", "use_sliding_window": False, "vocab_size": 151936,
}
QWEN1_5_MOE_A2_7B = {  # Qwen/Qwen1.5-MoE-A2.7B (qwen2_moe): one shared expert MLP 4x an expert's width
    "architectures": ["Qwen2MoeForCausalLM"], "decoder_sparse_step": 1, "hidden_act": "silu", "hidden_size": 2048,
    "intermediate_size": 5632, "max_position_embeddings": 8192, "max_window_layers": 21, "model_type": "qwen2_moe",
    "moe_intermediate_size": 1408, "num_attention_heads": 16, "num_experts": 60, "num_experts_per_tok": 4,
    "num_hidden_layers": 24, "num_key_value_heads": 16, "shared_expert_intermediate_size": 5632,
    "sliding_window": 32768, "tie_word_embeddings": False, "torch_dtype": "bfloat16", "use_sliding_window": False,
    "vocab_size": 151936,
}
DEEPSEEK_V3 = {  # deepseek-ai/DeepSeek-V3: MLA + 256 routed experts, first 3 layers dense, FP8 weights
    "architectures": ["DeepseekV3ForCausalLM"], "auto_map": {"AutoConfig": "configuration_deepseek.DeepseekV3Config"},
    "first_k_dense_replace": 3, "hidden_act": "silu", "hidden_size": 7168, "intermediate_size": 18432,
    "kv_lora_rank": 512, "max_position_embeddings": 163840, "model_type": "deepseek_v3", "moe_intermediate_size": 2048,
    "moe_layer_freq": 1, "n_group": 8, "n_routed_experts": 256, "n_shared_experts": 1, "norm_topk_prob": True,
    "num_attention_heads": 128, "num_experts_per_tok": 8, "num_hidden_layers": 61, "num_key_value_heads": 128,
    "num_nextn_predict_layers": 1, "q_lora_rank": 1536, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
    "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                            "weight_block_size": [128, 128]},
    "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 1.0, "mscale_all_dim": 1.0,
                     "original_max_position_embeddings": 4096, "type": "yarn"},
    "tie_word_embeddings": False, "topk_group": 4, "torch_dtype": "bfloat16", "v_head_dim": 128, "vocab_size": 129280,
}
DEEPSEEK_V2_LITE = {  # deepseek-ai/DeepSeek-V2-Lite: MLA without a query low-rank (q_lora_rank null)
    "architectures": ["DeepseekV2ForCausalLM"], "first_k_dense_replace": 1, "hidden_size": 2048,
    "intermediate_size": 10944, "kv_lora_rank": 512, "max_position_embeddings": 163840, "model_type": "deepseek_v2",
    "moe_intermediate_size": 1408, "moe_layer_freq": 1, "n_routed_experts": 64, "n_shared_experts": 2,
    "num_attention_heads": 16, "num_experts_per_tok": 6, "num_hidden_layers": 27, "num_key_value_heads": 16,
    "q_lora_rank": None, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "tie_word_embeddings": False,
    "torch_dtype": "bfloat16", "v_head_dim": 128, "vocab_size": 102400,
}
GPT_OSS_20B = {  # openai/gpt-oss-20b: alternating sliding (128) / full layers, MXFP4 experts
    "architectures": ["GptOssForCausalLM"], "attention_bias": True, "experts_per_token": 4, "head_dim": 64,
    "hidden_act": "silu", "hidden_size": 2880, "initial_context_length": 4096, "intermediate_size": 2880,
    "layer_types": ["sliding_attention", "full_attention"] * 12, "max_position_embeddings": 131072,
    "model_type": "gpt_oss", "num_attention_heads": 64, "num_experts_per_tok": 4, "num_hidden_layers": 24,
    "num_key_value_heads": 8, "num_local_experts": 32,
    "quantization_config": {"modules_to_not_convert": ["model.layers.*.self_attn", "model.layers.*.mlp.router",
                                                       "model.embed_tokens", "lm_head"], "quant_method": "mxfp4"},
    "rope_theta": 150000, "sliding_window": 128, "tie_word_embeddings": False, "vocab_size": 201088,
}


def _spec(config, repo_id="org/model", **kw):
    return spec_from_config(repo_id, copy.deepcopy(config), **kw)


def _fields(spec, names):
    return {n: getattr(spec, n) for n in names}


DENSE_FIELDS = ("num_layers", "hidden_size", "num_attention_heads", "num_kv_heads", "head_dim",
                "intermediate_size", "vocab_size", "max_context_tokens", "mlp_gated", "tie_embeddings",
                "sliding_window_tokens", "sliding_window_pattern", "native_dtype", "model_type")


@pytest.mark.parametrize("config, expected", [
    (LLAMA_2_7B, (32, 4096, 32, 32, 128, 11008, 32000, 4096, True, False, None, None, "float16", "llama")),
    (LLAMA_3_1_8B, (32, 4096, 32, 8, 128, 14336, 128256, 131072, True, False, None, None, "bfloat16", "llama")),
    # Mistral v0.1: a 4096-token window on every layer (no pattern)
    (MISTRAL_7B, (32, 4096, 32, 8, 128, 14336, 32000, 32768, True, False, 4096, None, "bfloat16", "mistral")),
    # Qwen2.5: use_sliding_window false overrides sliding_window 131072
    (QWEN2_5_7B, (28, 3584, 28, 4, 128, 18944, 152064, 32768, True, False, None, None, "bfloat16", "qwen2")),
    (QWEN3_4B, (36, 2560, 32, 8, 128, 9728, 151936, 40960, True, True, None, None, "bfloat16", "qwen3")),
    # Gemma: head_dim 256 stated (3072/16 would be 192); tied by GemmaConfig default
    (GEMMA_7B, (28, 3072, 16, 16, 256, 24576, 256000, 8192, True, True, None, None, "bfloat16", "gemma")),
    # Gemma 2 alternates: every 2nd layer global
    (GEMMA_2_9B, (42, 3584, 16, 8, 256, 14336, 256000, 8192, True, True, 4096, 2, "float32", "gemma2")),
    (GEMMA_3_1B, (26, 1152, 4, 1, 256, 6912, 262144, 32768, True, True, 512, 6, "bfloat16", "gemma3_text")),
    # Gemma 3 multimodal: the text_config's omitted keys are Gemma3TextConfig defaults (8 heads, 4 kv heads,
    # head_dim 256, vocab 262208, 131072 context, tied, every 6th layer global)
    (GEMMA_3_4B_IT, (34, 2560, 8, 4, 256, 10240, 262208, 131072, True, True, 1024, 6, "bfloat16", "gemma3")),
    (PHI_3_MINI, (32, 3072, 32, 32, 96, 8192, 32064, 4096, True, False, 2047, None, "bfloat16", "phi3")),
    # Falcon-7B: multi_query -> 1 kv head; MLP 4 x 4544; FalconConfig default context 2048; tied; not gated
    (FALCON_7B, (32, 4544, 71, 1, 64, 18176, 65024, 2048, False, True, None, None, "bfloat16", "falcon")),
    (FALCON_40B_RW, (60, 8192, 128, 8, 64, 32768, 65024, 2048, False, True, None, None, "bfloat16", "RefinedWeb")),
    (FALCON_180B, (80, 14848, 232, 8, 64, 59392, 65024, 2048, False, True, None, None, "bfloat16", "falcon")),
    # StarCoder: n_* keys, multi-query, context from n_positions (max_sequence_length is null)
    (STARCODER, (40, 6144, 48, 1, 128, 24576, 49152, 8192, False, True, None, None, "float32", "gpt_bigcode")),
    # gpt-oss: layer_types alternate sliding/full -> pattern 2; no torch_dtype -> the default
    (GPT_OSS_20B, (24, 2880, 64, 8, 64, 2880, 201088, 131072, True, False, 128, 2, "bfloat16", "gpt_oss")),
], ids=["llama2-7b", "llama3.1-8b", "mistral-7b", "qwen2.5-7b", "qwen3-4b", "gemma-7b", "gemma2-9b", "gemma3-1b",
        "gemma3-4b-mm", "phi3-mini", "falcon-7b", "falcon-40b-rw", "falcon-180b", "starcoder", "gpt-oss-20b"])
def test_dense_and_attention_fields(config, expected):
    spec = _spec(config)
    assert _fields(spec, DENSE_FIELDS) == dict(zip(DENSE_FIELDS, expected))


def test_a_dense_model_has_no_moe_or_mla_fields():
    spec = _spec(LLAMA_3_1_8B)
    assert not spec.is_moe and not spec.is_mla and spec.prequantized is None
    assert (spec.num_experts, spec.experts_per_token, spec.moe_intermediate_size, spec.num_shared_experts,
            spec.first_k_dense_layers, spec.kv_lora_rank) == (None,) * 6


MOE_FIELDS = ("num_experts", "experts_per_token", "moe_intermediate_size", "num_shared_experts",
              "first_k_dense_layers")


@pytest.mark.parametrize("config, expected", [
    # Mixtral: experts as wide as intermediate_size, no shared experts, every layer MoE
    (MIXTRAL_8X7B, (8, 2, 14336, None, None)),
    (QWEN3_30B_A3B, (128, 8, 768, None, None)),
    # Qwen1.5-MoE: shared_expert_intermediate_size 5632 = 4 x 1408
    (QWEN1_5_MOE_A2_7B, (60, 4, 1408, 4, None)),
    (DEEPSEEK_V3, (256, 8, 2048, 1, 3)),
    (DEEPSEEK_V2_LITE, (64, 6, 1408, 2, 1)),
    (GPT_OSS_20B, (32, 4, 2880, None, None)),
], ids=["mixtral", "qwen3-moe", "qwen2-moe", "deepseek-v3", "deepseek-v2-lite", "gpt-oss"])
def test_moe_fields(config, expected):
    assert _fields(_spec(config), MOE_FIELDS) == dict(zip(MOE_FIELDS, expected))


def test_deepseek_v3_mla_and_fp8():
    spec = _spec(DEEPSEEK_V3, "deepseek-ai/DeepSeek-V3")
    assert spec.is_mla and spec.is_moe
    assert (spec.kv_lora_rank, spec.q_lora_rank, spec.qk_rope_head_dim, spec.qk_nope_head_dim, spec.v_head_dim) == \
        (512, 1536, 64, 128, 128)
    assert (spec.num_layers, spec.hidden_size, spec.num_attention_heads, spec.num_kv_heads) == (61, 7168, 128, 128)
    assert spec.head_dim == 7168 // 128 == 56  # derived; MLA sizes use the dims above
    assert (spec.intermediate_size, spec.max_context_tokens, spec.vocab_size) == (18432, 163840, 129280)
    assert spec.prequantized == "fp8" and spec.native_dtype == "bfloat16"


def test_deepseek_v2_lite_has_no_query_low_rank():
    spec = _spec(DEEPSEEK_V2_LITE)
    assert (spec.kv_lora_rank, spec.q_lora_rank) == (512, None)


def test_moe_layers_that_stay_dense():
    # Qwen-MoE's mlp_only_layers and decoder_sparse_step, DeepSeek's moe_layer_freq: dense layers counted
    cfg = copy.deepcopy(QWEN3_30B_A3B) | {"mlp_only_layers": [0, 1, 47]}
    assert _spec(cfg).first_k_dense_layers == 3
    cfg = copy.deepcopy(QWEN3_30B_A3B) | {"decoder_sparse_step": 2}  # layers 1, 3, ... carry experts
    assert _spec(cfg).first_k_dense_layers == 24
    cfg = copy.deepcopy(DEEPSEEK_V2_LITE) | {"moe_layer_freq": 2}  # layers 2, 4, ..., 26 carry experts
    assert _spec(cfg).first_k_dense_layers == 27 - 13


@pytest.mark.parametrize("config, expected_total, rel", [
    # 6,738,415,616 = 2 x 32000 x 4096 (embedding + head) + 32 x (4 x 4096^2 + 3 x 4096 x 11008) + 65 x 4096
    (LLAMA_2_7B, 6_738_415_616, 1e-9),
    (LLAMA_3_1_8B, 8_030_261_248, 1e-9),  # HF safetensors total
    (MISTRAL_7B, 7_241_732_096, 1e-9),  # HF safetensors total
    (MIXTRAL_8X7B, 46_702_792_704, 1e-9),  # HF safetensors total
    # Qwen3-30B-A3B safetensors total 30,532,122,624; architecture ignores the 48 x 2 x 128 q/k-norm weights
    (QWEN3_30B_A3B, 30_532_122_624, 1e-6),
    (QWEN3_4B, 4_022_468_096, 1e-5),  # HF safetensors total (tied head stored once)
    (QWEN2_5_7B, 7_615_616_512, 1e-4),  # HF safetensors total; the architecture ignores qkv biases
    (DEEPSEEK_V2_LITE, 15_706_484_224, 1e-9),  # HF safetensors total
    (DEEPSEEK_V3, 671_000_000_000, 1e-3),  # paper arXiv:2412.19437 (main model, MTP module excluded)
    (GPT_OSS_20B, 20_910_000_000, 1e-3),  # model card: 20.9B (21B) parameters
    # Gemma 3 4B text model: 3,880,099,328 (keras-hub preset gemma3_4b_text); the architecture ignores
    # the 34 x 2 x 256 q/k-norm weights. Checks the Gemma3TextConfig defaults filled in.
    (GEMMA_3_4B_IT, 3_880_099_328, 1e-5),
    (STARCODER, 15_500_000_000, 0.01),  # model card: 15.5B
], ids=["llama2-7b", "llama3.1-8b", "mistral-7b", "mixtral", "qwen3-30b-a3b", "qwen3-4b", "qwen2.5-7b",
        "deepseek-v2-lite", "deepseek-v3", "gpt-oss-20b", "gemma3-4b-text", "starcoder"])
def test_architecture_param_count_matches_published(config, expected_total, rel):
    assert param_breakdown(_spec(config)).total == pytest.approx(expected_total, rel=rel)


def test_active_params_of_moe_models():
    # published active counts: Qwen3-30B-A3B 3.3B, DeepSeek-V3 37B (incl. embedding), Mixtral 12.9B
    assert params_active(_spec(QWEN3_30B_A3B)) == pytest.approx(3.3e9, rel=0.03)
    assert params_active(_spec(DEEPSEEK_V3)) == pytest.approx(37e9, rel=0.03)
    assert params_active(_spec(MIXTRAL_8X7B)) == pytest.approx(12.9e9, rel=0.01)


def test_sliding_layers_counted_from_patterns():
    assert sliding_layer_count(_spec(GEMMA_2_9B)) == 21  # 42 layers, every 2nd global
    assert sliding_layer_count(_spec(GEMMA_3_4B_IT)) == 34 - 34 // 6 == 29
    assert sliding_layer_count(_spec(GPT_OSS_20B)) == 12
    assert sliding_layer_count(_spec(MISTRAL_7B)) == 32


@pytest.mark.parametrize("layer_types, expected", [
    (["full_attention"] * 8, (None, None)),  # no sliding layer: no window
    (["sliding_attention"] * 8, (512, None)),  # every layer slides
    ((["sliding_attention"] * 5 + ["full_attention"]) * 5 + ["sliding_attention"] * 4, (512, 6)),  # Gemma 3, 34
    # not periodic (global layers 0, 1, 7 of 9): N = 9 // 3 = 3 gives 3 global layers, as many as the list
    (["full_attention"] * 2 + ["sliding_attention"] * 5 + ["full_attention"] + ["sliding_attention"], (512, 3)),
])
def test_layer_types_to_window_pattern(layer_types, expected):
    cfg = copy.deepcopy(GEMMA_3_1B) | {"layer_types": layer_types, "num_hidden_layers": len(layer_types)}
    cfg.pop("sliding_window_pattern")
    spec = _spec(cfg)
    assert (spec.sliding_window_tokens, spec.sliding_window_pattern) == expected


def test_qwen2_sliding_window_from_max_window_layers():
    cfg = copy.deepcopy(QWEN2_5_7B) | {"use_sliding_window": True, "sliding_window": 4096, "max_window_layers": 21}
    spec = _spec(cfg)  # layers 21..27 slide: 21 global of 28 -> N = 28 // 21 = 1 (all global, never fewer)
    assert (spec.sliding_window_tokens, spec.sliding_window_pattern) == (4096, 1)
    mistral_v02 = copy.deepcopy(MISTRAL_7B) | {"sliding_window": None}
    assert _spec(mistral_v02).sliding_window_tokens is None


def test_text_config_wins_over_wrapper_and_wrapper_keys_fill_dtype():
    cfg = copy.deepcopy(GEMMA_3_4B_IT)
    cfg["text_config"] |= {"vocab_size": 262144, "num_attention_heads": 16}
    spec = _spec(cfg)
    assert (spec.vocab_size, spec.num_attention_heads, spec.native_dtype) == (262144, 16, "bfloat16")


def test_metadata_arguments_pass_through():
    spec = _spec(LLAMA_2_7B, "meta-llama/Llama-2-7b-hf", params_total=6_738_417_664, license="llama2", gated=True,
                 pipeline_tag="text-generation", source="https://huggingface.co/x", as_of="2026-01-02")
    assert (spec.repo_id, spec.params_total, spec.license, spec.gated, spec.pipeline_tag, spec.source, spec.as_of) == \
        ("meta-llama/Llama-2-7b-hf", 6_738_417_664, "llama2", True, "text-generation", "https://huggingface.co/x",
         "2026-01-02")
    assert spec.params_source == "published count"
    assert _spec(LLAMA_2_7B).params_source == "architecture count from config.json"
    assert _spec(LLAMA_2_7B).pipeline_tag == "text-generation"


def test_dtype_from_dtype_key_or_caller_fallback():
    cfg = copy.deepcopy(LLAMA_2_7B)
    del cfg["torch_dtype"]
    assert _spec(cfg | {"dtype": "float32"}).native_dtype == "float32"  # transformers >= 4.56 writes "dtype"
    assert _spec(cfg, native_dtype="float16").native_dtype == "float16"  # e.g. from safetensors dtypes
    assert _spec(cfg).native_dtype == "bfloat16"


@pytest.mark.parametrize("qc, expected", [
    ({"quant_method": "awq", "bits": 4, "group_size": 128, "version": "gemm", "zero_point": True}, "awq"),
    ({"quant_method": "awq", "bits": 4, "group_size": 128, "version": "GEMV", "zero_point": True}, "awq-gemv"),
    ({"quant_method": "gptq", "bits": 4, "group_size": 128, "desc_act": False}, "gptq"),
    ({"quant_method": "gptq", "bits": 8, "group_size": 128}, "int8"),
    ({"quant_method": "fp8", "activation_scheme": "dynamic", "weight_block_size": [128, 128]}, "fp8"),
    ({"quant_method": "fbgemm_fp8", "activation_scale_ub": 1200.0}, "fp8"),
    ({"quant_method": "mxfp4", "modules_to_not_convert": ["lm_head"]}, "mxfp4"),
    ({"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4"}, "nf4"),
    ({"quant_method": "bitsandbytes", "_load_in_8bit": True, "load_in_8bit": True}, "llm.int8"),
    ({"quant_method": "compressed-tensors", "format": "float-quantized",
      "config_groups": {"group_0": {"targets": ["Linear"], "weights": {"num_bits": 8, "type": "float"}}}}, "fp8"),
    ({"quant_method": "compressed-tensors", "format": "pack-quantized",
      "config_groups": {"group_0": {"weights": {"num_bits": 4, "type": "int", "group_size": 128}}}}, "int4"),
    ({"quant_method": "compressed-tensors", "format": "nvfp4-pack-quantized"}, "fp4"),
    ({"quant_method": "modelopt", "quant_algo": "NVFP4"}, "fp4"),
    ({"quant_method": "hqq", "nbits": 4}, "hqq"),  # not modelled: named as is, never taken for 16 bit
    ({}, None),
    (None, None),
])
def test_quantization_config(qc, expected):
    assert prequantized_from_config(qc) == expected
    assert _spec(LLAMA_2_7B | {"quantization_config": qc}).prequantized == expected


@pytest.mark.parametrize("key", ["num_hidden_layers", "hidden_size", "num_attention_heads", "vocab_size",
                                 "intermediate_size", "max_position_embeddings"])
def test_a_missing_essential_key_is_named(key):
    cfg = copy.deepcopy(LLAMA_2_7B)
    del cfg[key]
    cfg["model_type"] = "somenewarch"  # no class defaults to fall back on
    with pytest.raises(HubError, match=rf"^config\.json of org/x lacks {key}$"):
        spec_from_config("org/x", cfg)


def test_a_known_model_type_uses_its_class_default_context():
    cfg = copy.deepcopy(LLAMA_2_7B)
    del cfg["max_position_embeddings"]
    assert _spec(cfg).max_context_tokens == 2048  # LlamaConfig default


@pytest.mark.parametrize("patch, message", [
    ({"num_hidden_layers": "32"}, "has a malformed num_hidden_layers: '32'"),
    ({"hidden_size": 0}, "has a malformed hidden_size: 0"),
    ({"vocab_size": True}, "has a malformed vocab_size: True"),
    ({"num_local_experts": 8}, "lacks num_experts_per_tok"),
    ({"hidden_size": 4100}, "lacks head_dim (hidden_size 4100 is not a multiple of 32 heads)"),
    ({"kv_lora_rank": 512}, "lacks qk_rope_head_dim"),
])
def test_malformed_or_incomplete_configs_raise_one_line(patch, message):
    with pytest.raises(HubError) as exc:
        spec_from_config("org/x", copy.deepcopy(LLAMA_2_7B) | patch)
    assert str(exc.value) == f"config.json of org/x {message}"


@pytest.mark.parametrize("config", [[1, 2], "text", None])
def test_a_config_that_is_not_an_object(config):
    with pytest.raises(HubError, match=r"^config\.json of org/x is not a JSON object$"):
        spec_from_config("org/x", config)


def test_the_input_config_is_not_modified():
    cfg = copy.deepcopy(GEMMA_3_4B_IT)
    spec_from_config("org/x", cfg)
    assert cfg == GEMMA_3_4B_IT


def test_llama4_maverick_interleaved_moe_and_chunked_attention():
    """Llama-4-Maverick text_config: 48 layers, MoE on every 2nd layer (interleave_moe_layer_step 2), 128
    experts of 8192 + 1 shared, dense layers 16384 wide (intermediate_size_mlp), chunked attention of 8192 on
    3 of every 4 layers (no_rope_layer_interval 4)."""
    config = {"model_type": "llama4", "text_config": {
        "model_type": "llama4_text", "num_hidden_layers": 48, "hidden_size": 5120, "num_attention_heads": 40,
        "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 202048, "max_position_embeddings": 1048576,
        "intermediate_size": 8192, "intermediate_size_mlp": 16384, "num_local_experts": 128,
        "num_experts_per_tok": 1, "interleave_moe_layer_step": 2, "attention_chunk_size": 8192,
        "no_rope_layer_interval": 4}}
    m = spec_from_config("meta-llama/Llama-4-Maverick-17B-128E-Instruct", config)
    assert (m.num_experts, m.experts_per_token, m.moe_intermediate_size) == (128, 1, 8192)
    assert m.first_k_dense_layers == 24 and m.intermediate_size == 16384
    assert (m.sliding_window_tokens, m.sliding_window_pattern) == (8192, 4)
    # published: 400B total, 17B active (Llama 4 model card)
    assert param_breakdown(m).total == pytest.approx(400e9, rel=0.02)
    assert params_active(m) == pytest.approx(17e9, rel=0.05)
