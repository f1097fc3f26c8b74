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

import pytest

from fakehub import FakeHub
from llmplan import hub
from llmplan.errors import GatedModelError, HubError, LlmplanError, UnknownModelError
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
        source=f"{fake_hub.url}/someorg/Llama-2-7b-mirror/blob/{repo.commit}/config.json", as_of="")


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


def test_fakehub_stops_by_itself(hub_env):
    fake = FakeHub(max_lifetime_s=0.1).start()
    fake._thread.join(timeout=10)
    assert not fake._thread.is_alive()
    fake.stop()  # idempotent
