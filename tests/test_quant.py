"""Quantization formats: names, bits per weight, file sizes."""

import pytest

from llmplan.catalog import find_in_catalog
from llmplan.errors import InvalidInputError
from llmplan.memory import model_weight_bytes
from llmplan.quant import known_quants, parse_quant

# TheBloke/Llama-2-7B-GGUF README file table (2023-09), sizes in GB (1e9 bytes)
LLAMA2_7B_GGUF_GB = {"Q2_K": 2.83, "Q3_K_S": 2.95, "Q3_K_M": 3.30, "Q3_K_L": 3.60, "Q4_0": 3.83, "Q4_K_S": 3.86,
                     "Q4_K_M": 4.08, "Q5_0": 4.65, "Q5_K_S": 4.65, "Q5_K_M": 4.78, "Q6_K": 5.53, "Q8_0": 7.16}


@pytest.mark.parametrize("quant,size_gb", LLAMA2_7B_GGUF_GB.items())
def test_gguf_file_sizes_llama2_7b(quant, size_gb):
    m = find_in_catalog("llama-2-7b")
    assert model_weight_bytes(m, parse_quant(quant)) / 1e9 == pytest.approx(size_gb, rel=0.02)


def test_block_layout_bpw():
    assert parse_quant("Q4_0").body_bpw == 18 * 8 / 32  # 32 weights in 18 bytes
    assert parse_quant("Q8_0").body_bpw == 34 * 8 / 32
    assert parse_quant("Q6_K").body_bpw == 210 * 8 / 256


@pytest.mark.parametrize("name", ["q4_k_m", "Q4_K_M", "fp16", "BF16", "awq", "GPTQ", "nf4", "llm.int8",
                                  "exl2-4.65", "mlc-q4f16_1", "mxfp4", "fp4", "IQ1_S", "IQ3_M", "int4", "int8"])
def test_contract_quant_names_parse(name):
    assert parse_quant(name).body_bpw > 0


def test_exl2_bits():
    assert parse_quant("exl2-4.65").body_bpw == 4.65
    with pytest.raises(InvalidInputError):
        parse_quant("exl2-abc")


def test_unknown_quant_lists_known():
    with pytest.raises(InvalidInputError, match="unknown quantization 'Q9_K'"):
        parse_quant("Q9_K")


def test_more_bits_never_less_memory():
    m = find_in_catalog("llama-3.1-8b")
    formats = sorted((parse_quant(q) for q in known_quants()), key=lambda f: (f.body_bpw, f.head_bpw))
    sizes = [model_weight_bytes(m, f) for f in formats if not f.embeddings_16bit]
    assert sizes == sorted(sizes)


def test_awq_keeps_embeddings_and_head_in_16_bit():
    m = find_in_catalog("llama-2-7b")
    # 6.607e9 body weights x 4.156 bpw + 2 x 131.07e6 x 16 bits
    expected = (6_738_415_616 - 2 * 131_072_000) * 4.156 / 8 + 2 * 131_072_000 * 2
    assert model_weight_bytes(m, parse_quant("awq")) == pytest.approx(expected, rel=1e-3)


def test_quality_notes_rank_the_levels():
    from llmplan.quant import quality_note

    assert "indistinguishable" in quality_note("Q8_0") and "+0.0004" in quality_note("Q8_0")
    assert "small loss" in quality_note("Q4_K_M") and "large loss" in quality_note("Q2_K")
    assert "8-bit" in quality_note("fp8") and "full precision" in quality_note("bf16")
