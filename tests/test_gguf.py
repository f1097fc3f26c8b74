"""llama.cpp's per-tensor quantization mixes (llmplan.gguf) against published GGUF files."""

import pytest

from llmplan import gguf
from llmplan.catalog import find_in_catalog
from llmplan.memory import model_weight_bytes
from llmplan.quant import for_model, parse_quant

GIB = 1024**3
# Published sizes, with the source of each group. The files' few MB of metadata (tokenizer) are not weights,
# hence the 1% tolerance (the sums agree to 0.3% or better; docs/data.md, "GGUF mixes").
# llama.cpp's quantize help text, "G" = GiB of the Llama-3-8B file (ggerganov/llama.cpp@c392e50
# examples/quantize/quantize.cpp, values added in #8058, 2024-06-22)
LLAMA3_8B_GIB = {"Q2_K": 2.96, "Q3_K_S": 3.41, "Q3_K_M": 3.74, "Q3_K_L": 4.03, "Q4_0": 4.34, "Q4_1": 4.78,
                 "Q4_K_S": 4.37, "Q4_K_M": 4.58, "Q5_0": 5.21, "Q5_1": 5.65, "Q5_K_S": 5.21, "Q5_K_M": 5.33,
                 "Q6_K": 6.14, "Q8_0": 7.96}
# TheBloke/Mistral-7B-Instruct-v0.2-GGUF README table, GB (2023-12); Q2_K left out: that file predates the
# 2024-01-11 change of the Q2_K mix (#4872), and today's rule gives 2.72 GB against its 3.08
MISTRAL_7B_GB = {"Q3_K_S": 3.16, "Q3_K_M": 3.52, "Q3_K_L": 3.82, "Q4_0": 4.11, "Q4_K_S": 4.14, "Q4_K_M": 4.37,
                 "Q5_0": 5.00, "Q5_K_S": 5.00, "Q5_K_M": 5.13, "Q6_K": 5.94, "Q8_0": 7.70}


@pytest.mark.parametrize("quant,gib", LLAMA3_8B_GIB.items())
def test_llama3_8b_file_sizes(quant, gib):
    m = find_in_catalog("meta-llama/Meta-Llama-3-8B-Instruct")
    assert model_weight_bytes(m, for_model(m, parse_quant(quant))) / GIB == pytest.approx(gib, rel=0.01)


@pytest.mark.parametrize("quant,gb", MISTRAL_7B_GB.items())
def test_mistral_7b_file_sizes(quant, gb):
    m = find_in_catalog("mistralai/Mistral-7B-Instruct-v0.2")
    assert model_weight_bytes(m, for_model(m, parse_quant(quant))) / 1e9 == pytest.approx(gb, rel=0.01)


@pytest.mark.parametrize("repo,quant,size_bytes", [
    # exact byte counts of single files (the file minus its tensors is its metadata, 6-8 MB here)
    ("google/gemma-2-9b-it", "Q4_K_M", 5_761_057_728),  # lmstudio-community/gemma-2-9b-it-GGUF, 2024-06-28
    ("meta-llama/Meta-Llama-3-8B-Instruct", "Q4_K_M", 4_920_733_888),  # lmstudio-community, 2024-04-19
])
def test_exact_files(repo, quant, size_bytes):
    m = find_in_catalog(repo)
    assert model_weight_bytes(m, for_model(m, parse_quant(quant))) == pytest.approx(size_bytes, rel=0.01)


def test_moe_file_size_llama_bench():
    """Qwen3-Coder-30B-A3B Q8_0: 30.25 GiB of tensors (llama-bench, ggml-org/llama.cpp@4c7e989
    benches/dgx-spark.md, 2025-11-02); 128 experts, so no 8-expert rules."""
    m = find_in_catalog("Qwen/Qwen3-Coder-30B-A3B-Instruct")
    assert model_weight_bytes(m, for_model(m, parse_quant("Q8_0"))) / GIB == pytest.approx(30.25, rel=0.01)


def test_use_more_bits_layers():
    # 32 layers: the first 4, the last 4 and every third from layer 6: 16 layers
    chosen = [i for i in range(32) if gguf.use_more_bits(i, 32)]
    assert chosen == [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]


def test_q4_k_m_tensor_types_golden():
    """Llama-2-7B Q4_K_M by hand: untied token_embd Q4_K (4.5 bpw), output Q6_K (6.5625); in the body, half the
    layers (use_more_bits) have attn_v and ffn_down in Q6_K, the rest in Q4_K; norms F32."""
    m = find_in_catalog("llama-2-7b")
    emb, head, body, _ = gguf.mix_bpw(m, "Q4_K_M")
    assert (emb, head) == (4.5, 6.5625)
    h, f, n = 4096, 11008, 32
    per_layer_q4 = 3 * h * h + 2 * h * f  # q, k, o + gate, up
    v, down = h * h, h * f
    bits = n * per_layer_q4 * 4.5 + 16 * (v + down) * 6.5625 + 16 * (v + down) * 4.5 + 32 * (2 * n + 1) * h
    params = n * (per_layer_q4 + v + down) + (2 * n + 1) * h
    assert body == pytest.approx(bits / params, rel=1e-9)


def test_row_length_fallback_and_tied_output():
    """gpt-oss has hidden 2880 (not a multiple of 256): k-quant tensors fall back (Q4_K -> Q5_0) and the
    output is Q8_0. Gemma-2's tied embedding takes the output rule (Q6_K), not the default Q4_K."""
    oss = find_in_catalog("openai/gpt-oss-20b")
    emb, head, body, _ = gguf.mix_bpw(oss, "Q4_K_M")
    assert head == 8.5 and emb == 5.5
    gemma = find_in_catalog("google/gemma-2-9b-it")
    assert gguf.mix_bpw(gemma, "Q4_K_M")[0] == 6.5625


def test_mixtral_gets_the_eight_expert_rules():
    """n_expert == 8: attn_v and attn_k in Q8_0, attn_output Q5_K for Q4_K_M, so its non-expert body is
    heavier than a dense model's; the experts follow the ffn rules (26.49 GiB of tensors, llama-bench)."""
    m = find_in_catalog("mixtral-8x7b")
    assert model_weight_bytes(m, for_model(m, parse_quant("Q4_K_M"))) / GIB == pytest.approx(26.49, rel=0.01)


def test_mxfp4_quantizes_only_the_experts():
    """gpt-oss-20b: MXFP4 experts; llama.cpp's GGUF keeps the rest in Q8_0 (12.1 GB file), the Hugging Face
    checkpoint vLLM loads in bf16 (13.8 GB)."""
    m = find_in_catalog("openai/gpt-oss-20b")
    fmt = parse_quant("mxfp4")
    assert model_weight_bytes(m, for_model(m, fmt, "llama.cpp")) / 1e9 == pytest.approx(12.1, rel=0.02)
    assert model_weight_bytes(m, for_model(m, fmt, "vllm")) / 1e9 == pytest.approx(13.8, rel=0.02)
