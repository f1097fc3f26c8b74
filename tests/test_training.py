"""Training memory: the ZeRO paper's worked example, LoRA counts, properties."""

import dataclasses

import pytest

from llmplan.catalog import find_in_catalog
from llmplan.errors import InvalidInputError
from llmplan.training import lora_params, training_memory

LLAMA2 = find_in_catalog("llama-2-7b")


@pytest.mark.parametrize("stage,expected_gb", [(0, 120.0), (1, 31.4), (2, 16.6), (3, 1.9)])
def test_zero_paper_example_7_5b_on_64_gpus(stage, expected_gb):
    """ZeRO paper, figure 1: a 7.5B model, K = 12, 64 GPUs: 120 GB, 31.4 GB, 16.6 GB, 1.9 GB of model states
    per GPU: (2 + 2 + 12) x 7.5e9; 4 x 7.5e9 + 12 x 7.5e9 / 64; 2 x 7.5e9 + 14 x 7.5e9 / 64; 16 x 7.5e9 / 64."""
    m = dataclasses.replace(LLAMA2, params_total=7_500_000_000)
    mem = training_memory(m, num_gpus=64, zero_stage=stage)
    states = mem.weights_bytes + mem.gradients_bytes + mem.optimizer_bytes
    assert states / 1e9 == pytest.approx(expected_gb, abs=0.06)


def test_lora_parameter_count_llama2_7b_rank_8_qv():
    # q and v adapters, rank 8: 8 x (4096 + 4096) x 2 matrices x 32 layers = 4,194,304 (the figure PEFT
    # prints for Llama-2-7B with r=8 on q_proj, v_proj)
    assert lora_params(LLAMA2, 8, ("q", "v")) == 4_194_304


def test_qlora_is_smaller_than_lora_and_lora_than_full():
    full = training_memory(LLAMA2, method="full").total_bytes
    lora = training_memory(LLAMA2, method="lora").total_bytes
    qlora = training_memory(LLAMA2, method="qlora").total_bytes
    assert qlora < lora < full


def test_checkpointing_and_8bit_adam_save_memory_and_more_tokens_cost_more():
    base = training_memory(LLAMA2, checkpointing=False, seq_len=4096)
    assert training_memory(LLAMA2, checkpointing=True, seq_len=4096).activations_bytes < base.activations_bytes
    assert training_memory(LLAMA2, optimizer="adamw-8bit").optimizer_bytes < training_memory(LLAMA2).optimizer_bytes
    sizes = [training_memory(LLAMA2, seq_len=s).total_bytes for s in (512, 1024, 2048, 4096)]
    assert sizes == sorted(sizes)


def test_bad_training_input():
    with pytest.raises(InvalidInputError):
        training_memory(LLAMA2, method="dpo")
    with pytest.raises(InvalidInputError):
        lora_params(LLAMA2, 8, ("qkv",))
