"""The embedded catalog: coverage of the families the product promises, names, sources."""

import pytest

from llmplan.catalog import find_in_catalog, load_catalog
from llmplan.errors import UnknownModelError
from llmplan.resolve import resolve_model

REQUIRED = ["huggyllama/llama-7b", "meta-llama/Llama-2-7b-hf", "meta-llama/Meta-Llama-3-8B",
            "meta-llama/Llama-3.1-70B-Instruct", "meta-llama/Llama-3.2-3B", "meta-llama/Llama-3.3-70B-Instruct",
            "meta-llama/CodeLlama-7b-hf", "mistralai/Mistral-7B-v0.1", "mistralai/Mistral-7B-Instruct-v0.2",
            "mistralai/Mistral-7B-v0.3", "mistralai/Mixtral-8x7B-v0.1", "mistralai/Mixtral-8x22B-v0.1",
            "Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen3-8B", "Qwen/Qwen3-30B-A3B", "Qwen/Qwen3-235B-A22B",
            "deepseek-ai/deepseek-coder-6.7b-base", "deepseek-ai/deepseek-coder-33b-instruct",
            "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", "deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
            "deepseek-ai/DeepSeek-V3", "deepseek-ai/DeepSeek-R1", "google/gemma-2-9b-it", "google/gemma-3-27b-it",
            "microsoft/Phi-3-mini-4k-instruct", "microsoft/phi-4", "TinyLlama/TinyLlama-1.1B-Chat-v1.0",
            "lmsys/vicuna-7b-v1.5", "bigcode/starcoder", "bigcode/octocoder", "tiiuae/falcon-7b", "01-ai/Yi-34B",
            "openai/gpt-oss-20b", "openai/gpt-oss-120b"]


@pytest.mark.parametrize("repo", REQUIRED)
def test_required_models_present(repo):
    m = find_in_catalog(repo)
    assert m is not None and m.repo_id == repo
    assert m.source and m.as_of


@pytest.mark.parametrize("short,repo", [("llama-2-7b", "meta-llama/Llama-2-7b-hf"),
                                        ("LLAMA-2-7B", "meta-llama/Llama-2-7b-hf"),
                                        ("Llama-2-7b-hf", "meta-llama/Llama-2-7b-hf"),
                                        ("mixtral-8x7b", "mistralai/Mixtral-8x7B-v0.1"),
                                        ("gpt-oss-20b", "openai/gpt-oss-20b"),
                                        ("tinyllama", "TinyLlama/TinyLlama-1.1B-Chat-v1.0")])
def test_short_names(short, repo):
    assert find_in_catalog(short).repo_id == repo


def test_aliases_and_ids_unique():
    keys = [k for m in load_catalog() for k in {m.repo_id.lower(), *m.aliases}]
    assert len(keys) == len(set(keys))


def test_unknown_short_name_suggests_and_never_guesses(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UnknownModelError, match="did you mean"):
        resolve_model("llama-2-7")


def test_uncatalogued_repo_offline_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UnknownModelError, match="Hub is offline"):
        resolve_model("someorg/some-new-model")
