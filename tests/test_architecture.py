"""Parameter counts and KV sizes from the architecture, with the arithmetic written out."""

import pytest

from llmplan import architecture as arch
from llmplan.catalog import find_in_catalog, load_catalog


def test_llama2_7b_parameter_count_golden():
    m = find_in_catalog("llama-2-7b")
    b = arch.param_breakdown(m)
    # embedding and untied head: 32000 x 4096 each
    assert b.embedding == 32000 * 4096 == 131_072_000
    assert b.lm_head == 131_072_000
    # per layer: q, k, v, o 4096 x 4096 each; gate, up, down 4096 x 11008 each; 32 layers
    assert b.attention == 32 * 4 * 4096 * 4096
    assert b.dense_mlp == 32 * 3 * 4096 * 11008
    # + 2 norms per layer and the final norm, 4096 each = 6,738,415,616 (the HF safetensors total)
    assert b.total == 6_738_415_616


def test_kv_bytes_per_token_golden():
    # Llama-2-7B, MHA: 2 (K,V) x 32 kv heads x 128 head_dim x 32 layers x 2 bytes = 524,288 B
    assert float(arch.kv_cache_bytes(find_in_catalog("llama-2-7b"), 1, 1, 2.0)) == 524_288
    # Llama-3.1-8B, GQA 8 kv heads: 2 x 8 x 128 x 32 x 2 = 131,072 B
    assert float(arch.kv_cache_bytes(find_in_catalog("llama-3.1-8b"), 1, 1, 2.0)) == 131_072
    # DeepSeek-V3, MLA latent: (512 + 64) x 61 layers x 2 bytes = 70,272 B
    assert float(arch.kv_cache_bytes(find_in_catalog("deepseek-v3"), 1, 1, 2.0)) == 70_272


def test_mla_uncompressed_is_much_larger():
    m = find_in_catalog("deepseek-v3")
    latent = float(arch.kv_cache_bytes(m, 1, 1, 2.0))
    full = float(arch.kv_cache_bytes(m, 1, 1, 2.0, mla_compressed=False))
    # 128 heads x (192 + 128) x 61 x 2 = 4,997,120 B
    assert full == 128 * (192 + 128) * 61 * 2
    assert full / latent > 70


def test_sliding_window_caps_half_the_gemma2_layers():
    m = find_in_catalog("google/gemma-2-9b-it")
    assert arch.sliding_layer_count(m) == m.num_layers - m.num_layers // 2
    per_token_layer = 2 * m.num_kv_heads * m.head_dim * 2
    tokens = 32768
    expected = per_token_layer * ((m.num_layers // 2) * tokens + (m.num_layers - m.num_layers // 2) * 4096)
    assert float(arch.kv_cache_bytes(m, tokens, 1, 2.0)) == expected
    assert float(arch.kv_cache_bytes(m, tokens, 1, 2.0, window_capped=False)) > expected


def test_moe_active_parameters():
    mixtral = find_in_catalog("mixtral-8x7b")
    assert arch.params_active(mixtral) < 0.4 * arch.params_total(mixtral)
    qwen = find_in_catalog("qwen3-30b-a3b")
    assert 3.0e9 < arch.params_active(qwen) < 3.6e9


@pytest.mark.parametrize("m", load_catalog(), ids=lambda m: m.repo_id)
def test_architecture_count_close_to_published(m):
    """Computed from config.json vs the published count: within 1% of an exact (safetensors) count; 5% of a
    rounded model-card figure ("7B", "1T"); multimodal repos carry a vision tower the text architecture does
    not model, so they get 12%."""
    if not m.params_total:
        pytest.skip("no published count")
    computed = arch.param_breakdown(m).total
    exact = "safetensors" in m.params_source.lower()
    tolerance = 0.12 if m.pipeline_tag == "image-text-to-text" else (0.01 if exact else 0.05)
    assert computed == pytest.approx(m.params_total, rel=tolerance)
