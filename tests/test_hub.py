"""llmplan.hub through the real huggingface_hub client against tests/fakehub.py (no internet).

Every call passes endpoint= and cache_dir= explicitly (huggingface_hub reads HF_ENDPOINT/HF_HOME at
import), except the tests that check HF_ENDPOINT is honoured.
"""

from __future__ import annotations

import dataclasses
import functools
import http.client
import json
import re
import socket
import struct
import subprocess
import sys
import time

import pytest

from fakehub import FakeHub
from llmplan import hub
from llmplan.errors import GatedModelError, HubError, InvalidInputError, LlmplanError, UnknownModelError
from llmplan.records import ModelSpec
from llmplan.resolve import resolve_model
from test_hfconfig import DEEPSEEK_V3, GEMMA_3_4B_IT, LLAMA_2_7B

QWEN3_0_6B = {  # Qwen/Qwen3-0.6B: tied embeddings, yet its safetensors also store lm_head
    "architectures": ["Qwen3ForCausalLM"], "head_dim": 128, "hidden_size": 1024, "intermediate_size": 3072,
    "max_position_embeddings": 40960, "model_type": "qwen3", "num_attention_heads": 16, "num_hidden_layers": 28,
    "num_key_value_heads": 8, "sliding_window": None, "tie_word_embeddings": True, "torch_dtype": "bfloat16",
    "use_sliding_window": False, "vocab_size": 151936,
}
GPTQ_CONFIG = LLAMA_2_7B | {"quantization_config": {"bits": 4, "group_size": 128, "desc_act": False,
                                                     "quant_method": "gptq", "sym": True}}


def _info(total=None, params=None, license=None, **extra):
    """A model-info JSON body the way the Hub sends it for our expand list."""
    info = {"gated": False, "pipeline_tag": "text-generation", "downloads": 1234, "likes": 56,
            "library_name": "transformers", "tags": ["transformers", "safetensors", "text-generation"]}
    if total is not None:
        info["safetensors"] = {"parameters": params or {"BF16": total}, "total": total}
    if license is not None:
        info["cardData"] = {"license": license}
        info["tags"] = info["tags"] + [f"license:{license}"]
    return info | extra


def _fetch(fake_hub, repo_id, tmp_path, **kw):
    return hub.fetch_model_spec(repo_id, endpoint=fake_hub.url, cache_dir=tmp_path / "hf-cache", **kw)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- successful reads -------------------------------------------------------------------------------------

def test_dense_llama_repo_gives_the_exact_spec(fake_hub, tmp_path):
    repo = fake_hub.add_model("someorg/Llama-2-7b-mirror",
                              _info(total=6_738_415_616, params={"F16": 6_738_415_616}, license="llama2"),
                              {"config.json": LLAMA_2_7B, "model.safetensors": b"\0" * 16})
    spec = _fetch(fake_hub, "someorg/Llama-2-7b-mirror", tmp_path)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", spec.as_of)
    assert dataclasses.replace(spec, as_of="") == ModelSpec(
        repo_id="someorg/Llama-2-7b-mirror", num_layers=32, hidden_size=4096, num_attention_heads=32, num_kv_heads=32,
        head_dim=128, intermediate_size=11008, vocab_size=32000, max_context_tokens=4096, mlp_gated=True,
        tie_embeddings=False, params_total=6_738_415_616, model_type="llama", license="llama2", gated=False,
        pipeline_tag="text-generation", native_dtype="float16", params_source="HF safetensors total",
        source=f"{fake_hub.url}/someorg/Llama-2-7b-mirror/blob/{repo.commit}/config.json", as_of="",
        downloads=1234, likes=56)


def test_one_api_call_with_expand_then_one_config_resolve(fake_hub, tmp_path):
    fake_hub.add_model("org/llama", _info(total=6_738_415_616), {"config.json": LLAMA_2_7B})
    _fetch(fake_hub, "org/llama", tmp_path)
    calls = [(method, path.split("?")[0]) for method, path, _ in fake_hub.requests]
    assert calls == [("GET", "/api/models/org/llama"), ("HEAD", "/org/llama/resolve/main/config.json"),
                     ("GET", "/org/llama/resolve/main/config.json")]
    query = fake_hub.requests[0][1].split("?", 1)[1]
    assert sorted(re.findall(r"expand(?:%5B%5D|\[\])?=(\w+)", query)) == sorted(hub.EXPAND)


def test_moe_mla_repo_deepseek_v3_like(fake_hub, tmp_path):
    # FP8 weights store one element per weight, so the Hub's total (incl. the MTP module) is used
    params = {"BF16": 3_918_786_560, "F8_E4M3": 680_571_043_840, "F32": 41_555_600}
    fake_hub.add_model("deepseek-ai/DeepSeek-V3", _info(total=684_531_386_000, params=params) | {
        "cardData": {"license": "other", "license_name": "deepseek"}}, {"config.json": DEEPSEEK_V3})
    spec = _fetch(fake_hub, "deepseek-ai/DeepSeek-V3", tmp_path)
    assert (spec.num_experts, spec.experts_per_token, spec.moe_intermediate_size, spec.num_shared_experts,
            spec.first_k_dense_layers) == (256, 8, 2048, 1, 3)
    assert (spec.kv_lora_rank, spec.q_lora_rank, spec.qk_rope_head_dim, spec.qk_nope_head_dim, spec.v_head_dim) == \
        (512, 1536, 64, 128, 128)
    assert (spec.prequantized, spec.params_total, spec.params_source) == \
        ("fp8", 684_531_386_000, "HF safetensors total")
    assert (spec.license, spec.model_type, spec.native_dtype) == ("deepseek", "deepseek_v3", "bfloat16")


def test_multimodal_text_config_gemma3_like(fake_hub, tmp_path):
    # the total includes the vision tower, which is loaded too: kept as the Hub states it
    fake_hub.add_model("google/gemma-3-4b-it", _info(total=4_300_079_472, license="gemma",
                                                     pipeline_tag="image-text-to-text"),
                       {"config.json": GEMMA_3_4B_IT})
    spec = _fetch(fake_hub, "google/gemma-3-4b-it", tmp_path)
    assert (spec.num_layers, spec.hidden_size, spec.num_attention_heads, spec.num_kv_heads, spec.head_dim,
            spec.intermediate_size, spec.vocab_size, spec.max_context_tokens) == \
        (34, 2560, 8, 4, 256, 10240, 262208, 131072)
    assert (spec.sliding_window_tokens, spec.sliding_window_pattern, spec.tie_embeddings) == (1024, 6, True)
    assert (spec.params_total, spec.pipeline_tag, spec.model_type) == \
        (4_300_079_472, "image-text-to-text", "gemma3")


def test_packed_gptq_counts_are_not_taken_as_parameters(fake_hub, tmp_path):
    # GPTQ stores 8 weights per I32 element: the Hub's total (1.2B here) is far below the real 6.7B
    fake_hub.add_model("someone/Llama-2-7B-GPTQ", _info(total=1_200_000_000, params={"I32": 900_000_000,
                                                                                     "F16": 300_000_000}),
                       {"config.json": GPTQ_CONFIG})
    spec = _fetch(fake_hub, "someone/Llama-2-7B-GPTQ", tmp_path)
    assert (spec.prequantized, spec.params_total, spec.params_source) == \
        ("gptq", None, "architecture count from config.json")


def test_a_duplicated_tied_head_is_not_counted_twice(fake_hub, tmp_path):
    # Qwen3-0.6B: 751,632,384 stored = 596,049,920 parameters + a 151,936 x 1,024 copy of the tied head
    fake_hub.add_model("Qwen/Qwen3-0.6B", _info(total=751_632_384, license="apache-2.0"),
                       {"config.json": QWEN3_0_6B})
    spec = _fetch(fake_hub, "Qwen/Qwen3-0.6B", tmp_path)
    assert spec.params_total == 751_632_384 - 151_936 * 1_024 == 596_049_920
    assert spec.params_source == "HF safetensors total less the duplicate tied lm_head"


def test_no_safetensors_no_card_license_from_tag_dtype_from_safetensors(fake_hub, tmp_path):
    config = {k: v for k, v in LLAMA_2_7B.items() if k != "torch_dtype"}
    info = _info(total=6_738_415_616, params={"BF16": 6_738_415_616}) | {"tags": ["license:mit", "llama"]}
    fake_hub.add_model("org/a", info, {"config.json": config})
    fake_hub.add_model("org/b", _info(), {"config.json": LLAMA_2_7B})
    a, b = _fetch(fake_hub, "org/a", tmp_path), _fetch(fake_hub, "org/b", tmp_path)
    assert (a.license, a.native_dtype) == ("mit", "bfloat16")
    assert (b.license, b.params_total, b.params_source) == ("", None, "architecture count from config.json")


def test_hf_endpoint_is_honoured_at_call_time(fake_hub, tmp_path, monkeypatch):
    fake_hub.add_model("org/llama", _info(), {"config.json": LLAMA_2_7B})
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    spec = hub.fetch_model_spec("org/llama", cache_dir=tmp_path)
    assert spec.source.startswith(fake_hub.url + "/org/llama/blob/")


# -- failures: one line, an LlmplanError, nothing else -----------------------------------------------------

def test_gated_repo(fake_hub, tmp_path):
    fake_hub.add_model("meta-llama/Llama-2-7b-hf", _info(license="llama2"), {"config.json": LLAMA_2_7B},
                       gated=True, tokens=("hf_valid",))
    with pytest.raises(GatedModelError) as exc:
        _fetch(fake_hub, "meta-llama/Llama-2-7b-hf", tmp_path)
    assert str(exc.value) == ("meta-llama/Llama-2-7b-hf is gated: accept its licence on huggingface.co and set "
                              "HF_TOKEN or --token")
    assert exc.value.__cause__ is None and exc.value.__suppress_context__


def test_gated_repo_with_an_accepted_token(fake_hub, tmp_path):
    fake_hub.add_model("meta-llama/Llama-2-7b-hf", _info(license="llama2"), {"config.json": LLAMA_2_7B},
                       gated=True, tokens=("hf_valid",))
    spec = _fetch(fake_hub, "meta-llama/Llama-2-7b-hf", tmp_path, token="hf_valid")
    assert (spec.gated, spec.num_layers) == (True, 32)
    assert fake_hub.requests[-1][2].get("authorization") == "Bearer hf_valid"


def test_unknown_repo(fake_hub, tmp_path):
    with pytest.raises(UnknownModelError) as exc:
        _fetch(fake_hub, "org/nope", tmp_path)
    assert str(exc.value) == "org/nope not found on the Hub"


def test_invalid_repo_id(fake_hub, tmp_path):
    with pytest.raises(UnknownModelError, match=r"^'org//x' is not a valid Hub repo id$"):
        _fetch(fake_hub, "org//x", tmp_path)


def test_repo_without_config_json(fake_hub, tmp_path):
    fake_hub.add_model("someone/Model-GGUF", _info(library_name="gguf"), {"model-Q4_K_M.gguf": b"GGUF"})
    with pytest.raises(HubError) as exc:
        _fetch(fake_hub, "someone/Model-GGUF", tmp_path)
    assert str(exc.value) == "someone/Model-GGUF has no config.json (a GGUF-only or non-transformers repo?)"


def test_rate_limited(fake_hub, tmp_path):
    fake_hub.add_model("org/llama", _info(), {"config.json": LLAMA_2_7B})
    fake_hub.fail("429", seconds=42)
    with pytest.raises(HubError) as exc:
        _fetch(fake_hub, "org/llama", tmp_path)
    assert str(exc.value) == "rate-limited by the Hub; retry in 42 s"


@pytest.mark.parametrize("headers, expected", [
    ({"Retry-After": "17"}, 17),
    ({"RateLimit": '"api";r=0;t=55', "RateLimit-Policy": '"fixed window";"api";q=500;w=300'}, 55),
    ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, None),
    ({}, None),
])
def test_retry_after_seconds(hub_env, headers, expected):
    assert hub._retry_after_s(headers) == expected


def test_malformed_model_info(fake_hub, tmp_path):
    fake_hub.add_model("org/llama", _info(), {"config.json": LLAMA_2_7B})
    fake_hub.fail("malformed", scope="api")
    with pytest.raises(HubError) as exc:
        _fetch(fake_hub, "org/llama", tmp_path)
    assert str(exc.value) == "the Hub sent malformed data for org/llama"


@pytest.mark.parametrize("info", [{"safetensors": {"parameters": {"BF16": 1}}}, {"safetensors": "abc"}])
def test_model_info_of_the_wrong_shape(fake_hub, tmp_path, info):
    fake_hub.add_model("org/llama", info, {"config.json": LLAMA_2_7B})
    with pytest.raises(HubError, match=r"^the Hub sent malformed data for org/llama$"):
        _fetch(fake_hub, "org/llama", tmp_path)


def test_odd_but_harmless_model_info_values_are_ignored(fake_hub, tmp_path):
    info = {"safetensors": {"parameters": {"BF16": "many", "F16": 7}, "total": "lots"}, "cardData": "not a dict"}
    fake_hub.add_model("org/llama", info, {"config.json": LLAMA_2_7B})
    spec = _fetch(fake_hub, "org/llama", tmp_path)
    assert (spec.params_total, spec.license, spec.native_dtype) == (None, "", "float16")


@pytest.mark.parametrize("content, message", [
    ("{not json", "the Hub sent malformed data for org/llama (config.json)"),
    (b"\xff\xfe\x00", "the Hub sent malformed data for org/llama (config.json)"),
    ([1, 2, 3], "config.json of org/llama is not a JSON object"),
    ({"model_type": "llama"}, "config.json of org/llama lacks num_hidden_layers"),
])
def test_malformed_config_json(fake_hub, tmp_path, content, message):
    fake_hub.add_model("org/llama", _info(), {"config.json": content})
    with pytest.raises(HubError) as exc:
        _fetch(fake_hub, "org/llama", tmp_path)
    assert str(exc.value) == message


def test_server_down(hub_env, tmp_path):
    with pytest.raises(HubError) as exc:
        hub.fetch_model_spec("org/llama", endpoint=f"http://127.0.0.1:{_closed_port()}", cache_dir=tmp_path,
                             timeout_s=2.0)
    assert str(exc.value).startswith("the Hub is unreachable (")
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("mode, scope", [("close", "all"), ("close", "resolve"), ("stall", "all")])
def test_connection_dropped_or_stalled(fake_hub, tmp_path, mode, scope):
    fake_hub.add_model("org/llama", _info(), {"config.json": LLAMA_2_7B})
    fake_hub.fail(mode, scope=scope, seconds=5)
    with pytest.raises(HubError) as exc:
        _fetch(fake_hub, "org/llama", tmp_path, timeout_s=0.3)
    assert str(exc.value).startswith("the Hub is unreachable (")


def test_offline_mode(hub_env, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubError, match=r"^the Hub is unreachable \(offline mode, HF_HUB_OFFLINE\)$"):
        hub.fetch_model_spec("org/llama", endpoint=f"http://127.0.0.1:{_closed_port()}", cache_dir=tmp_path)


@pytest.mark.parametrize("status, message", [(503, "the Hub is unreachable (HTTP 503)"),
                                             (403, "the Hub answered HTTP 403 for org/llama")])
def test_other_http_errors(fake_hub, tmp_path, status, message):
    fake_hub.add_model("org/llama", _info(), {"config.json": LLAMA_2_7B})
    fake_hub.fail("status", scope="api", status=status)
    with pytest.raises(HubError) as exc:
        _fetch(fake_hub, "org/llama", tmp_path)
    assert str(exc.value) == message


def test_every_failure_is_an_llmplan_error(fake_hub, tmp_path):
    fake_hub.add_model("org/llama", _info(), {"config.json": LLAMA_2_7B})
    for mode in ("429", "malformed", "close"):
        fake_hub.fail(mode, seconds=1)
        with pytest.raises(LlmplanError):
            _fetch(fake_hub, "org/llama", tmp_path)


# -- search_models -------------------------------------------------------------------------------------------

def _listing(downloads, likes, trending, modified, *, total=None, license=None, pipeline_tag="text-generation",
             **extra):
    """A repo as the Hub lists it (the properties search_models expands)."""
    info = _info(total=total, license=license, pipeline_tag=pipeline_tag, downloads=downloads, likes=likes,
                 trendingScore=trending, lastModified=f"{modified}T12:00:00.000Z")
    return info | extra


@pytest.fixture
def catalogue(fake_hub):
    """Five Qwen-like repos and two others, with distinct downloads / likes / trending / dates."""
    fake_hub.add_model("Qwen/Qwen3-8B", _listing(900, 40, 70, "2025-05-01", total=8_190_735_360,
                                                 license="apache-2.0"))
    fake_hub.add_model("Qwen/Qwen3-14B", _listing(500, 90, 20, "2025-06-01", total=14_768_307_200,
                                                  license="apache-2.0"))
    fake_hub.add_model("Qwen/Qwen3-0.6B", _listing(2000, 10, 50, "2025-04-01", total=751_632_384,
                                                   license="apache-2.0"))
    fake_hub.add_model("someone/qwen3-8b-mit-finetune", _listing(300, 60, 90, "2025-07-01", total=8_190_735_360,
                                                                 license="mit"))
    fake_hub.add_model("Qwen/Qwen3-Embedding-8B", _listing(800, 80, 80, "2025-08-01", total=7_567_295_488,
                                                           license="apache-2.0", pipeline_tag="feature-extraction"))
    fake_hub.add_model("meta-llama/Llama-3.1-8B", _listing(5000, 500, 100, "2024-09-01", total=8_030_261_248,
                                                           license="llama3.1", gated="manual"))
    fake_hub.add_model("org/no-metadata", {"downloads": 1})
    return fake_hub


def _search(hub_, **kw):
    return hub.search_models(endpoint=hub_.url, **kw)


def _query(fake_hub, i=-1) -> dict:
    from urllib.parse import parse_qs, urlsplit

    return parse_qs(urlsplit(fake_hub.requests[i][1]).query)


def test_search_by_text_pipeline_and_licence_gives_plain_dicts_best_first(catalogue):
    rows = _search(catalogue, search="qwen3", pipeline_tag="text-generation", license="apache-2.0")
    assert [r["repo_id"] for r in rows] == ["Qwen/Qwen3-0.6B", "Qwen/Qwen3-8B", "Qwen/Qwen3-14B"]
    assert rows[1] == {"repo_id": "Qwen/Qwen3-8B", "downloads": 900, "likes": 40, "trending_score": 70,
                       "last_modified": "2025-05-01T12:00:00Z", "pipeline_tag": "text-generation", "gated": False,
                       "license": "apache-2.0", "params_total": 8_190_735_360, "library_name": "transformers"}
    query = _query(catalogue)
    assert (query["search"], query["pipeline_tag"], query["filter"], query["sort"], query["limit"]) == \
        (["qwen3"], ["text-generation"], ["license:apache-2.0"], ["downloads"], ["50"])
    assert sorted(query["expand"]) == sorted(hub.SEARCH_EXPAND) and "num_parameters" not in query
    assert len(catalogue.requests) == 1


@pytest.mark.parametrize("sort, wire, expected", [
    ("downloads", "downloads",
     ["Qwen/Qwen3-0.6B", "Qwen/Qwen3-8B", "Qwen/Qwen3-14B", "someone/qwen3-8b-mit-finetune"]),
    ("likes", "likes", ["Qwen/Qwen3-14B", "someone/qwen3-8b-mit-finetune", "Qwen/Qwen3-8B", "Qwen/Qwen3-0.6B"]),
    ("trending", "trendingScore",
     ["someone/qwen3-8b-mit-finetune", "Qwen/Qwen3-8B", "Qwen/Qwen3-0.6B", "Qwen/Qwen3-14B"]),
    ("recent", "lastModified",
     ["someone/qwen3-8b-mit-finetune", "Qwen/Qwen3-14B", "Qwen/Qwen3-8B", "Qwen/Qwen3-0.6B"]),
    ("trending_score", "trendingScore",
     ["someone/qwen3-8b-mit-finetune", "Qwen/Qwen3-8B", "Qwen/Qwen3-0.6B", "Qwen/Qwen3-14B"]),
])
def test_search_sort_orders(catalogue, sort, wire, expected):
    rows = _search(catalogue, search="qwen3", pipeline_tag="text-generation", sort=sort)
    assert [r["repo_id"] for r in rows] == expected
    assert _query(catalogue)["sort"] == [wire]


def test_search_row_fields_for_a_gated_repo_and_one_without_metadata(catalogue):
    rows = _search(catalogue, sort="downloads")
    llama, bare = rows[0], rows[-1]
    assert (llama["repo_id"], llama["gated"], llama["license"], llama["params_total"]) == \
        ("meta-llama/Llama-3.1-8B", True, "llama3.1", 8_030_261_248)
    assert bare == {"repo_id": "org/no-metadata", "downloads": 1, "likes": 0, "trending_score": 0,
                    "last_modified": "", "pipeline_tag": "", "gated": False, "license": "", "params_total": None,
                    "library_name": ""}


def test_search_follows_pagination_up_to_the_limit(catalogue):
    catalogue.page_size = 2  # the Hub's pages hold `limit` rows at most; this fake's hold 2
    rows = _search(catalogue, search="qwen", limit=5)
    assert [r["repo_id"] for r in rows] == ["Qwen/Qwen3-0.6B", "Qwen/Qwen3-8B", "Qwen/Qwen3-Embedding-8B",
                                            "Qwen/Qwen3-14B", "someone/qwen3-8b-mit-finetune"]
    pages = [path for _, path, _ in catalogue.requests]
    assert len(pages) == 3 and "offset=2" in pages[1] and "offset=4" in pages[2]


def test_search_stops_at_the_limit_without_reading_further_pages(catalogue):
    catalogue.page_size = 2
    rows = _search(catalogue, search="qwen", limit=3)
    assert [r["repo_id"] for r in rows] == ["Qwen/Qwen3-0.6B", "Qwen/Qwen3-8B", "Qwen/Qwen3-Embedding-8B"]
    assert len(catalogue.requests) == 2


def test_search_by_parameter_count(catalogue):
    rows = _search(catalogue, search="qwen", min_params=6_000_000_000, max_params=14_000_000_000)
    assert [r["repo_id"] for r in rows] == ["Qwen/Qwen3-8B", "Qwen/Qwen3-Embedding-8B",
                                            "someone/qwen3-8b-mit-finetune"]
    assert _query(catalogue)["num_parameters"] == ["min:6B,max:14B"]


def test_search_parameter_bounds_are_sent_rounded_outwards_and_applied_exactly(catalogue):
    # 7.6B..8.1B is sent as min:7B,max:9B; the exact bounds then drop Qwen3-Embedding-8B (7.57B) and keep
    # only the 8.03B Llama
    rows = _search(catalogue, min_params=7_600_000_000, max_params=8_100_000_000)
    assert _query(catalogue)["num_parameters"] == ["min:7B,max:9B"]
    assert [r["repo_id"] for r in rows] == ["meta-llama/Llama-3.1-8B"]
    _search(catalogue, max_params=500_000_000)
    assert _query(catalogue)["num_parameters"] == ["max:1B"]


def test_search_parameter_filter_still_holds_when_the_hub_ignores_it(catalogue):
    catalogue.honour_num_parameters = False  # e.g. a mirror: everything comes back, filtered here
    rows = _search(catalogue, search="qwen", max_params=1_000_000_000)
    assert [r["repo_id"] for r in rows] == ["Qwen/Qwen3-0.6B"]
    rows = _search(catalogue, min_params=8_000_000_000, sort="likes")
    assert [r["repo_id"] for r in rows] == ["meta-llama/Llama-3.1-8B", "Qwen/Qwen3-14B",
                                            "someone/qwen3-8b-mit-finetune", "Qwen/Qwen3-8B", "org/no-metadata"]


def test_search_with_several_licences_filters_on_the_results(catalogue):
    rows = _search(catalogue, search="qwen3", pipeline_tag="text-generation", license="MIT, llama3.1,apache-2.0",
                   sort="likes")
    assert [r["repo_id"] for r in rows] == ["Qwen/Qwen3-14B", "someone/qwen3-8b-mit-finetune", "Qwen/Qwen3-8B",
                                            "Qwen/Qwen3-0.6B"]
    assert "filter" not in _query(catalogue)
    rows = _search(catalogue, license=["mit", "llama3.1"])
    assert [r["repo_id"] for r in rows] == ["meta-llama/Llama-3.1-8B", "someone/qwen3-8b-mit-finetune"]


def test_search_with_client_side_filters_reads_a_few_pages_at_most(catalogue):
    catalogue.page_size = 1
    rows = _search(catalogue, license="mit,gpl-3.0", sort="trending")  # the MIT repo is 2nd: on page 2
    assert [r["repo_id"] for r in rows] == ["someone/qwen3-8b-mit-finetune"]
    assert len(catalogue.requests) == hub._MAX_PAGES == 5  # still looking for up to 50 rows
    rows = _search(catalogue, license="mit,gpl-3.0", sort="downloads")  # 6th by downloads: never read
    assert rows == [] and len(catalogue.requests) == 10


def test_search_with_nothing_found(catalogue):
    assert _search(catalogue, search="no-such-model") == []


@pytest.mark.parametrize("kw, message", [
    ({"sort": "popular"}, r"^unknown sort 'popular': use downloads, likes, trending or recent$"),
    ({"limit": 0}, r"^limit must be a positive integer, not 0$"),
    ({"min_params": -1}, r"^min_params must be a non-negative parameter count, not -1$"),
    ({"min_params": 9_000_000_000, "max_params": 8_000_000_000}, r"^min_params \(9,000,000,000\) is above max_params"),
    ({"license": "apache 2.0"}, r"^'apache 2.0' is not a licence id"),
])
def test_search_rejects_bad_arguments_before_any_request(catalogue, kw, message):
    with pytest.raises(InvalidInputError, match=message):
        _search(catalogue, **kw)
    assert catalogue.requests == []


def test_search_rate_limited_fails_at_once(catalogue):
    catalogue.fail("429", seconds=42)
    started = time.monotonic()
    with pytest.raises(HubError) as exc:
        _search(catalogue, search="qwen")
    assert str(exc.value) == "rate-limited by the Hub; retry in 42 s"
    assert exc.value.__cause__ is None and exc.value.__suppress_context__
    assert len(catalogue.requests) == 1 and time.monotonic() - started < 5  # no retry, no sleeping


@pytest.mark.parametrize("mode, kw, message", [
    ("status", {"status": 503}, "the Hub is unreachable (HTTP 503)"),
    ("status", {"status": 401},
     "the Hub rejected the token for the model search (HTTP 401): check HF_TOKEN or --token"),
    ("malformed", {}, "the Hub sent malformed data for the model search"),
    ("close", {}, "the Hub is unreachable (Server disconnected without sending a response.)"),
])
def test_search_hub_failures_are_one_line_hub_errors(catalogue, mode, kw, message):
    catalogue.fail(mode, **kw)
    with pytest.raises(HubError) as exc:
        _search(catalogue, search="qwen")
    assert str(exc.value) == message
    assert len(catalogue.requests) == 1


@pytest.mark.parametrize("body", [b'{"id": "org/x"}', b'[{"downloads": 3}]', b'["org/x"]',
                                  b'[{"id": "org/x", "safetensors": "abc"}]',
                                  b'[{"id": "org/x", "lastModified": "yesterday"}]'])
def test_search_results_of_the_wrong_shape(fake_hub, monkeypatch, body):
    import fakehub

    monkeypatch.setattr(fakehub._Handler, "_list_models", lambda self, query: self._send(200, body,
                                                                                         "application/json"))
    with pytest.raises(HubError, match=r"^the Hub sent malformed data for the model search$"):
        _search(fake_hub)


def test_search_stalled_hub_times_out(catalogue):
    catalogue.fail("stall", seconds=5)
    started = time.monotonic()
    with pytest.raises(HubError, match=r"^the Hub is unreachable \("):
        _search(catalogue, timeout_s=0.3)
    assert time.monotonic() - started < 3


def test_search_with_the_server_down(hub_env):
    started = time.monotonic()
    with pytest.raises(HubError) as exc:
        hub.search_models(search="qwen", endpoint=f"http://127.0.0.1:{_closed_port()}", timeout_s=2.0)
    assert str(exc.value).startswith("the Hub is unreachable (") and "\n" not in str(exc.value)
    assert time.monotonic() - started < 5  # list_models itself would retry for ~23 s


def test_search_offline_mode(hub_env, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubError, match=r"^the Hub is unreachable \(offline mode, HF_HUB_OFFLINE\)$"):
        hub.search_models(endpoint=f"http://127.0.0.1:{_closed_port()}")


def test_search_honours_hf_endpoint_and_sends_the_token(catalogue, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", catalogue.url)
    rows = hub.search_models(search="Llama", token="hf_abc")
    assert [r["repo_id"] for r in rows] == ["meta-llama/Llama-3.1-8B"]
    assert catalogue.requests[-1][2].get("authorization") == "Bearer hf_abc"


# -- gguf_files ------------------------------------------------------------------------------------------

GB = 10**9


def test_gguf_files_single_and_split_files(fake_hub):
    fake_hub.add_model("someone/Qwen3-8B-GGUF", _info(library_name="gguf"), {"README.md": "# GGUF"}, sizes={
        "Qwen3-8B-Q4_K_M.gguf": 5_027_783_488,
        "Qwen3-8B-IQ3_XXS.gguf": 3_400_000_000,
        "Qwen3-8B-BF16-00001-of-00002.gguf": 9_000_000_000,
        "Qwen3-8B-BF16-00002-of-00002.gguf": 7_400_000_000,
        "Q8_0/Qwen3-8B-Q8_0-00002-of-00002.gguf": 3 * GB,  # listed out of order: parts are sorted
        "Q8_0/Qwen3-8B-Q8_0-00001-of-00002.gguf": 5 * GB,
        "mmproj-Qwen3-8B-F16.gguf": 600_000_000,
        "Qwen3-8B-notes.gguf": 100,
        "Qwen3-8B-Q4_K_M.safetensors": 1,
    })
    files = hub.gguf_files("someone/Qwen3-8B-GGUF", endpoint=fake_hub.url)
    assert files == [
        {"filename": "Qwen3-8B-Q4_K_M.gguf", "size_bytes": 5_027_783_488, "quant": "Q4_K_M",
         "files": ["Qwen3-8B-Q4_K_M.gguf"], "mmproj": False},
        {"filename": "Qwen3-8B-IQ3_XXS.gguf", "size_bytes": 3_400_000_000, "quant": "IQ3_XXS",
         "files": ["Qwen3-8B-IQ3_XXS.gguf"], "mmproj": False},
        {"filename": "Qwen3-8B-BF16.gguf", "size_bytes": 16_400_000_000, "quant": "BF16",
         "files": ["Qwen3-8B-BF16-00001-of-00002.gguf", "Qwen3-8B-BF16-00002-of-00002.gguf"], "mmproj": False},
        {"filename": "Q8_0/Qwen3-8B-Q8_0.gguf", "size_bytes": 8 * GB, "quant": "Q8_0",
         "files": ["Q8_0/Qwen3-8B-Q8_0-00001-of-00002.gguf", "Q8_0/Qwen3-8B-Q8_0-00002-of-00002.gguf"],
         "mmproj": False},
        {"filename": "mmproj-Qwen3-8B-F16.gguf", "size_bytes": 600_000_000, "quant": "F16",
         "files": ["mmproj-Qwen3-8B-F16.gguf"], "mmproj": True},
        {"filename": "Qwen3-8B-notes.gguf", "size_bytes": 100, "quant": None, "files": ["Qwen3-8B-notes.gguf"],
         "mmproj": False},
    ]
    assert [(m, p.split("?")[0]) for m, p, _ in fake_hub.requests] == [("GET", "/api/models/someone/Qwen3-8B-GGUF")]
    assert _query(fake_hub) == {"blobs": ["true"]}  # files_metadata=True; no expand (they do not combine)


def test_gguf_files_of_a_non_gguf_repo_is_empty(fake_hub):
    fake_hub.add_model("org/llama", _info(total=6_738_415_616), {"config.json": LLAMA_2_7B},
                       sizes={"model-00001-of-00002.safetensors": 5 * GB, "model-00002-of-00002.safetensors": GB})
    assert hub.gguf_files("org/llama", endpoint=fake_hub.url) == []


def test_gguf_files_old_style_splits_and_unknown_sizes(fake_hub, monkeypatch):
    fake_hub.add_model("TheBloke/Big-GGUF", sizes={"big.Q6_K.gguf-split-b": 20 * GB, "big.Q6_K.gguf-split-a": 30 * GB})
    assert hub.gguf_files("TheBloke/Big-GGUF", endpoint=fake_hub.url) == [
        {"filename": "big.Q6_K.gguf", "size_bytes": 50 * GB, "quant": "Q6_K",
         "files": ["big.Q6_K.gguf-split-a", "big.Q6_K.gguf-split-b"], "mmproj": False}]
    # a sibling without size (blobs not honoured) gives size_bytes None rather than a wrong sum
    monkeypatch.setattr(fake_hub.repos["TheBloke/Big-GGUF"], "siblings", lambda blobs: [
        {"rfilename": "big.Q6_K.gguf-split-a", "size": 30 * GB}, {"rfilename": "big.Q6_K.gguf-split-b"}])
    assert hub.gguf_files("TheBloke/Big-GGUF", endpoint=fake_hub.url)[0]["size_bytes"] is None


@pytest.mark.parametrize("name, quant", [
    ("Qwen3-8B-Q4_K_M.gguf", "Q4_K_M"), ("llama-2-7b.Q5_K_S.gguf", "Q5_K_S"), ("model-q8_0.gguf", "Q8_0"),
    ("Meta-Llama-3.1-8B-Instruct-IQ3_XXS.gguf", "IQ3_XXS"), ("x-IQ4_NL.gguf", "IQ4_NL"), ("x-IQ4_XS.gguf", "IQ4_XS"),
    ("x-IQ1_S.gguf", "IQ1_S"), ("x-IQ2_M.gguf", "IQ2_M"), ("x-Q2_K.gguf", "Q2_K"), ("x-Q6_K.gguf", "Q6_K"),
    ("x-f16.gguf", "F16"), ("x-fp16.gguf", "F16"), ("x-BF16.gguf", "BF16"), ("x-F32.gguf", "F32"),
    ("Qwen3-30B-A3B-UD-Q4_K_XL.gguf", "Q4_K_XL"), ("x-Q4_K_L.gguf", "Q4_K_L"), ("x-Q4_0_4_8.gguf", "Q4_0_4_8"),
    ("gpt-oss-20b-mxfp4.gguf", "MXFP4"), ("x-TQ1_0.gguf", "TQ1_0"), ("gemma-3-27b-it-qat-Q4_0.gguf", "Q4_0"),
    ("Q4_K_M/Qwen3-235B-A22B.gguf", "Q4_K_M"), ("Q8_0/model-Q4_K_M.gguf", "Q4_K_M"),
    ("model.gguf", None), ("Qwen2.5-7B.gguf", None), ("ggml-model-q4f16.gguf", None), ("bf16x.gguf", None),
])
def test_gguf_quant_from_file_name(name, quant):
    assert hub._gguf_quant(name) == quant


def test_gguf_files_errors(fake_hub):
    with pytest.raises(UnknownModelError, match=r"^org/nope not found on the Hub$"):
        hub.gguf_files("org/nope", endpoint=fake_hub.url)
    with pytest.raises(UnknownModelError, match=r"^'org//x' is not a valid Hub repo id$"):
        hub.gguf_files("org//x", endpoint=fake_hub.url)
    fake_hub.add_model("org/m-GGUF", sizes={"m-Q4_0.gguf": 1})
    for mode, kw, message in [("429", {"seconds": 7}, "rate-limited by the Hub; retry in 7 s"),
                              ("status", {"status": 502}, "the Hub is unreachable (HTTP 502)"),
                              ("malformed", {}, "the Hub sent malformed data for org/m-GGUF")]:
        fake_hub.fail(mode, **kw)
        with pytest.raises(HubError) as exc:
            hub.gguf_files("org/m-GGUF", endpoint=fake_hub.url)
        assert str(exc.value) == message


@pytest.mark.parametrize("siblings", [[{"rfilename": 3}], [{"size": 3}], ["m.gguf"], "m.gguf"])
def test_gguf_files_of_the_wrong_shape(fake_hub, monkeypatch, siblings):
    repo = fake_hub.add_model("org/m-GGUF")
    monkeypatch.setattr(repo, "siblings", lambda blobs: siblings)
    with pytest.raises(HubError, match=r"^the Hub sent malformed data for org/m-GGUF$"):
        hub.gguf_files("org/m-GGUF", endpoint=fake_hub.url)


def test_gguf_files_with_the_server_down(hub_env):
    with pytest.raises(HubError, match=r"^the Hub is unreachable \("):
        hub.gguf_files("org/m-GGUF", endpoint=f"http://127.0.0.1:{_closed_port()}", timeout_s=2.0)


# -- resolve_model end to end ------------------------------------------------------------------------------

@pytest.fixture
def hub_for_resolve(fake_hub, tmp_path, monkeypatch):
    """resolve_model calls hub.fetch_model_spec(name, token=...): point it at the fake Hub the way the
    CLI does (HF_ENDPOINT) and at a temporary cache."""
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    monkeypatch.setattr(hub, "fetch_model_spec", functools.partial(hub.fetch_model_spec, cache_dir=tmp_path))
    return fake_hub


def test_resolve_model_reads_an_uncatalogued_repo_from_the_hub(hub_for_resolve):
    hub_for_resolve.add_model("org/uncatalogued", _info(total=6_738_415_616, license="apache-2.0"),
                              {"config.json": LLAMA_2_7B})
    spec, warnings = resolve_model("org/uncatalogued")
    assert (spec.repo_id, spec.num_layers, spec.params_total, spec.license, warnings) == \
        ("org/uncatalogued", 32, 6_738_415_616, "apache-2.0", [])


def test_resolve_model_passes_gating_through(hub_for_resolve):
    hub_for_resolve.add_model("org/gated", _info(), {"config.json": LLAMA_2_7B}, gated=True)
    with pytest.raises(GatedModelError, match="^org/gated is gated"):
        resolve_model("org/gated")


def test_resolve_model_with_the_hub_down(hub_env, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setattr(hub, "fetch_model_spec", functools.partial(hub.fetch_model_spec, cache_dir=tmp_path))
    with pytest.raises(UnknownModelError, match=r"^unknown model 'org/x': not in the embedded catalog and the Hub "
                                                r"is unreachable \("):
        resolve_model("org/x")


# -- the module boundary -----------------------------------------------------------------------------------

def test_importing_hub_and_hfconfig_does_not_import_huggingface_hub():
    code = ("import sys, llmplan.hub, llmplan.hfconfig, llmplan.resolve; "
            "sys.exit('huggingface_hub' in sys.modules or 'transformers' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


# -- the fake Hub itself -----------------------------------------------------------------------------------

def _raw(fake_hub, method, path, headers=None):
    host, port = fake_hub.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_fakehub_resolve_headers_and_ranges(fake_hub):
    repo = fake_hub.add_model("org/m", files={"a.bin": b"0123456789"})
    status, headers, body = _raw(fake_hub, "HEAD", "/org/m/resolve/main/a.bin")
    assert (status, headers["X-Repo-Commit"], headers["Content-Length"], body) == (200, repo.commit, "10", b"")
    assert re.fullmatch(r'"[0-9a-f]{40}"', headers["ETag"]) and not any(k.lower().startswith("x-xet") for k in headers)
    assert _raw(fake_hub, "GET", "/org/m/resolve/main/a.bin", {"Range": "bytes=2-4"})[::2] == (206, b"234")
    status, headers, body = _raw(fake_hub, "GET", f"/org/m/resolve/{repo.commit}/a.bin", {"Range": "bytes=-3"})
    assert (status, headers["Content-Range"], body) == (206, "bytes 7-9/10", b"789")
    assert _raw(fake_hub, "GET", "/org/m/resolve/main/a.bin", {"Range": "bytes=20-30"})[0] == 416
    for path, code in [("/org/m/resolve/main/nope", "EntryNotFound"), ("/org/x/resolve/main/a.bin", "RepoNotFound"),
                       ("/org/m/resolve/v9/a.bin", "RevisionNotFound"), ("/api/models/org/x", "RepoNotFound")]:
        status, headers, _ = _raw(fake_hub, "GET", path)
        assert (status, headers["X-Error-Code"]) == (404, code)


def test_fakehub_model_info_expand_and_revision(fake_hub):
    repo = fake_hub.add_model("org/m", {"likes": 3, "downloads": 9, "tags": ["x"]}, {"config.json": {}})
    body = json.loads(_raw(fake_hub, "GET", "/api/models/org/m?expand=likes&expand[]=tags")[2])
    assert body == {"id": "org/m", "likes": 3, "tags": ["x"]}
    body = json.loads(_raw(fake_hub, "GET", f"/api/models/org/m/revision/{repo.commit}")[2])
    assert (body["id"], body["sha"], body["siblings"]) == ("org/m", repo.commit, [{"rfilename": "config.json"}])


def test_fakehub_serves_safetensors_headers_to_the_real_client(fake_hub):
    from huggingface_hub import HfApi

    header = json.dumps({"w": {"dtype": "F16", "shape": [2, 3], "data_offsets": [0, 12]},
                         "__metadata__": {"format": "pt"}}).encode()
    fake_hub.add_model("org/st", files={"model.safetensors": struct.pack("<Q", len(header)) + header + b"\0" * 12})
    meta = HfApi(endpoint=fake_hub.url, token=False).get_safetensors_metadata("org/st")
    assert meta.files_metadata["model.safetensors"].tensors["w"].shape == [2, 3]
    assert meta.parameter_count == {"F16": 6}


def test_fakehub_lists_models_with_pagination(fake_hub):
    from huggingface_hub import HfApi

    for i, name in enumerate(["qwen-a", "qwen-b", "qwen-c", "llama-d"]):
        fake_hub.add_model(f"org/{name}", {"downloads": i, "pipeline_tag": "text-generation"})
    fake_hub.page_size = 2
    found = HfApi(endpoint=fake_hub.url, token=False).list_models(search="qwen", sort="downloads")
    assert [m.id for m in found] == ["org/qwen-c", "org/qwen-b", "org/qwen-a"]


def test_fakehub_serves_list_models_filters_and_file_metadata_to_the_real_client(catalogue):
    from huggingface_hub import HfApi

    api = HfApi(endpoint=catalogue.url, token=False)
    found = api.list_models(num_parameters="min:6B,max:14B", sort="likes", limit=2, filter="license:apache-2.0")
    assert [m.id for m in found] == ["Qwen/Qwen3-Embedding-8B", "Qwen/Qwen3-8B"]
    assert "limit=2" in catalogue.requests[-1][1] and len(catalogue.requests) == 1
    catalogue.add_model("org/g", files={"a.txt": "abc"}, sizes={"m.gguf": 7 * GB})
    siblings = api.model_info("org/g", files_metadata=True).siblings
    assert [(s.rfilename, s.size, s.lfs and s.lfs.size) for s in siblings] == [("a.txt", 3, None),
                                                                             ("m.gguf", 7 * GB, 7 * GB)]
    assert [s.size for s in api.model_info("org/g").siblings] == [None, None]
    assert _raw(catalogue, "GET", "/api/models?num_parameters=min:6Q")[0] == 400


def test_fakehub_stops_by_itself(hub_env):
    fake = FakeHub(max_lifetime_s=0.1).start()
    fake._thread.join(timeout=10)
    assert not fake._thread.is_alive()
    fake.stop()  # idempotent


# -- the CLI over the fake Hub (HF_ENDPOINT is read at call time) -----------------------------------------

def test_cli_models_hub_search_and_gguf_info(catalogue, monkeypatch):
    from typer.testing import CliRunner

    from llmplan.cli.app import app

    monkeypatch.setenv("HF_ENDPOINT", catalogue.url)
    runner = CliRunner()
    r = runner.invoke(app, ["models", "--hub", "--search", "qwen3", "--task", "text-generation", "--license",
                            "permissive", "--sort", "downloads", "--format", "json"])
    assert r.exit_code == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [x["repo_id"] for x in rows][:3] == ["Qwen/Qwen3-0.6B", "Qwen/Qwen3-8B", "Qwen/Qwen3-14B"]
    assert all(x["license_group"] == "permissive" and x["downloads"] is not None for x in rows)
    catalogue.add_model("someone/Qwen3-8B-GGUF", _info(library_name="gguf"), {"README.md": "# GGUF"},
                        sizes={"Qwen3-8B-Q4_K_M.gguf": 5_027_783_488, "Qwen3-8B-Q8_0.gguf": 8_709_518_624})
    r = runner.invoke(app, ["info", "someone/Qwen3-8B-GGUF", "--format", "json"])
    assert r.exit_code == 0, r.stderr
    files = {x["quant"]: x for x in json.loads(r.stdout)}
    assert files["Q4_K_M"]["size_gib"] == pytest.approx(5_027_783_488 / 1024**3)


def test_cli_models_falls_back_to_the_catalog_when_the_hub_is_down(hub_env, monkeypatch):
    from typer.testing import CliRunner

    from llmplan.cli.app import app

    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    r = CliRunner().invoke(app, ["models", "--hub", "--limit", "2", "--format", "json"])
    assert r.exit_code == 0 and len(json.loads(r.stdout)) == 2
    assert "unreachable" in r.stderr and "embedded catalog" in r.stderr and r.stderr.count("\n") == 1


def test_card_evaluation_results_come_with_the_spec(fake_hub, tmp_path, monkeypatch):
    model_index = [{"name": "m", "results": [
        {"task": {"type": "text-generation"}, "dataset": {"type": "cais/mmlu", "name": "MMLU"},
         "metrics": [{"type": "acc", "value": 0.632}], "source": {"name": "Open LLM Leaderboard", "url": "https://x"}},
        {"task": {"type": "text-generation"}, "dataset": {"type": "openai/gsm8k", "name": "GSM8K"},
         "metrics": [{"type": "acc", "value": 41.5}]},
        {"task": {"type": "text-generation"}, "dataset": {"type": "some/unknown", "name": "?"},
         "metrics": [{"type": "acc", "value": 10}]}]}]
    info = _info(total=6_738_415_616, license="llama2")
    info["cardData"]["model-index"] = model_index
    fake_hub.add_model("org/evaluated", info, {"config.json": LLAMA_2_7B})
    spec = _fetch(fake_hub, "org/evaluated", tmp_path)
    scores = {e.benchmark: e for e in spec.evals}
    assert set(scores) == {"mmlu", "gsm8k"}
    assert scores["mmlu"].value == pytest.approx(63.2) and scores["mmlu"].setting.startswith("open-llm-leaderboard")
    assert scores["gsm8k"].value == 41.5 and scores["gsm8k"].setting == "model card (model-index)"
    # and `llmplan info` shows them for a repository the catalog has never seen
    from typer.testing import CliRunner

    from llmplan.cli.app import app

    from huggingface_hub import constants

    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cli-cache"))
    r = CliRunner().invoke(app, ["info", "org/evaluated", "--format", "json"])
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert {e["benchmark"] for e in data["evals"]} == {"mmlu", "gsm8k"}
    assert (data["downloads"], data["likes"]) == (1234, 56)


def test_offline_or_unreachable_falls_back_to_the_cached_config(fake_hub, tmp_path, monkeypatch):
    from llmplan.resolve import resolve_model

    from huggingface_hub import constants

    fake_hub.add_model("org/cached-llama", _info(total=6_738_415_616, license="llama2"), {"config.json": LLAMA_2_7B})
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))  # read at call time, not the env
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    online, warnings = resolve_model("org/cached-llama")
    assert online.license == "llama2" and not warnings
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline, warnings = resolve_model("org/cached-llama")
    assert offline.num_layers == online.num_layers == 32 and offline.license == ""
    assert len(warnings) == 1 and "cached config.json" in warnings[0]
    with pytest.raises(UnknownModelError, match="Hub is offline"):
        resolve_model("org/never-downloaded")


def _safetensors(tensors: dict) -> bytes:
    header = json.dumps({name: {"dtype": "BF16", "shape": shape, "data_offsets": [0, 0]}
                         for name, shape in tensors.items()}).encode()
    return struct.pack("<Q", len(header)) + header


def test_parameter_count_from_safetensors_headers_when_the_hub_has_none(fake_hub, tmp_path):
    # model info without a safetensors total: the count comes from the headers (range requests)
    fake_hub.add_model("org/headers", _info(), {"config.json": LLAMA_2_7B, "model.safetensors": _safetensors(
        {"a": [4096, 1000], "b": [2000]})})
    spec = _fetch(fake_hub, "org/headers", tmp_path)
    assert spec.params_total == 4096 * 1000 + 2000 and spec.params_source == "safetensors headers"


def test_truncated_safetensors_header_falls_back_to_the_architecture_count(fake_hub, tmp_path):
    whole = _safetensors({"a": [4096, 1000]})
    fake_hub.add_model("org/truncated", _info(), {"config.json": LLAMA_2_7B, "model.safetensors": whole[:20]})
    spec = _fetch(fake_hub, "org/truncated", tmp_path)
    assert spec.params_total is None and spec.params_source == "architecture count from config.json"
