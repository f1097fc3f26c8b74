"""The Hugging Face Hub client: the only module that imports huggingface_hub (inside functions, so that
``llmplan --help`` stays fast). It reads model metadata and config.json, never weights, and never runs a
repository's code.

Endpoint, token and cache follow huggingface_hub: ``endpoint=None`` means $HF_ENDPOINT (read at call
time here) else huggingface.co; ``token=None`` means $HF_TOKEN or the saved login; ``cache_dir=None``
means $HF_HUB_CACHE / $HF_HOME.
"""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import datetime, timezone
from typing import Callable

from llmplan.errors import GatedModelError, HubError, LlmplanError, UnknownModelError
from llmplan.records import ModelSpec

# What model_info must return; "expand" makes the Hub send only these (one small API call).
EXPAND = ["safetensors", "cardData", "tags", "gated", "pipeline_tag", "downloads", "likes", "library_name"]
# Quants whose safetensors element counts are counts of weights (one stored element per weight, scales
# aside). AWQ/GPTQ/int4/nf4/mxfp4 pack several weights per element, so their Hub totals are too low.
_UNPACKED_QUANTS = frozenset({None, "fp8", "int8", "llm.int8"})
_DTYPE_OF_SAFETENSORS = {"BF16": "bfloat16", "F16": "float16", "F32": "float32"}


def fetch_model_spec(repo_id: str, *, token: str | bool | None = None, timeout_s: float = 10.0,
                     endpoint: str | None = None, cache_dir: str | os.PathLike | None = None) -> ModelSpec:
    """The ModelSpec of a Hub repository, from its model_info and config.json.

    Raises GatedModelError, UnknownModelError or HubError, each with a one-line message; nothing else
    escapes for network, HTTP or data errors. ``timeout_s`` bounds each HTTP request (seconds).
    """
    endpoint = endpoint or os.environ.get("HF_ENDPOINT") or None
    try:
        info, config_bytes, commit = _download(repo_id, token, timeout_s, endpoint, cache_dir)
    except LlmplanError:
        raise
    except Exception as exc:  # mapped by type below; anything unmapped is re-raised as is
        mapped = _map_error(exc, repo_id)
        if mapped is exc:
            raise
        raise mapped from None
    try:
        config = json.loads(config_bytes.decode("utf-8-sig"))
    except ValueError:  # not UTF-8, or not JSON
        raise HubError(f"the Hub sent malformed data for {repo_id} (config.json)") from None
    from huggingface_hub import constants

    base = (endpoint or constants.ENDPOINT).rstrip("/")
    spec = spec_from_info(repo_id, info, config,
                          source=f"{base}/{repo_id}/blob/{commit or 'main'}/config.json",
                          as_of=datetime.now(timezone.utc).date().isoformat())
    return spec


def spec_from_info(repo_id: str, info, config: dict, *, source: str = "", as_of: str = "") -> ModelSpec:
    """Combine a huggingface_hub ModelInfo (license, gating, safetensors counts) with config.json."""
    from llmplan.hfconfig import spec_from_config

    st = getattr(info, "safetensors", None)
    params = getattr(st, "parameters", None)
    counts = {k: v for k, v in params.items() if isinstance(v, int)} if isinstance(params, dict) else {}
    dominant = max(counts, key=counts.get) if counts else ""  # the dtype most weights are stored in
    spec = spec_from_config(repo_id, config, license=_license(info), gated=info.gated not in (False, None),
                            pipeline_tag=info.pipeline_tag or "", source=source, as_of=as_of,
                            native_dtype=_DTYPE_OF_SAFETENSORS.get(str(dominant).upper(), ""))
    total = getattr(st, "total", None)
    if not isinstance(total, int) or total <= 0 or spec.prequantized not in _UNPACKED_QUANTS:
        return spec
    total, note = _untie_total(total, spec)
    return dataclasses.replace(spec, params_total=total, params_source="HF safetensors total" + note)


# How close (relative) the Hub's total less one embedding must come to the architecture's count before it
# is read as "the tied head stored twice"; biases and norms the architecture ignores are < 0.1%.
_TIED_MATCH_REL = 0.01


def _untie_total(total: int, spec: ModelSpec) -> tuple[int, str]:
    """Some tied-embedding checkpoints also store lm_head (e.g. Qwen/Qwen3-0.6B: 751,632,384 stored, of
    which 155,582,464 are the duplicate head). Only when the total less one embedding matches config.json's
    architecture and the total does not: a multimodal total (vision tower included) is left as it is."""
    from llmplan.architecture import param_breakdown

    if not spec.tie_embeddings:
        return total, ""
    arch = param_breakdown(spec).total
    untied = total - spec.vocab_size * spec.hidden_size
    if abs(untied - arch) <= _TIED_MATCH_REL * arch < abs(total - arch):
        return untied, " less the duplicate tied lm_head"
    return total, ""


def _license(info) -> str:
    card = getattr(info, "card_data", None)
    lic = getattr(card, "license", None) if card is not None else None
    if isinstance(lic, list):
        lic = lic[0] if lic else None
    if lic == "other" and getattr(card, "license_name", None):
        lic = card.license_name
    if lic:
        return str(lic)
    for tag in getattr(info, "tags", None) or ():
        if isinstance(tag, str) and tag.startswith("license:"):
            return tag.split(":", 1)[1]
    return ""


def _download(repo_id: str, token, timeout_s: float, endpoint: str | None, cache_dir):
    """(ModelInfo, config.json bytes, commit sha or None): one API call and one file resolve."""
    from huggingface_hub import HfApi, hf_hub_download

    api = HfApi(endpoint=endpoint, token=token)
    try:
        info = api.model_info(repo_id, expand=EXPAND, timeout=timeout_s)
    except (KeyError, TypeError) as exc:  # a JSON body without "id", or with fields of the wrong shape
        raise _Malformed() from exc
    path = hf_hub_download(repo_id, "config.json", token=token, endpoint=endpoint, cache_dir=cache_dir,
                           etag_timeout=timeout_s)
    with open(path, "rb") as f:
        raw = f.read()
    # the cache layout is .../snapshots/<commit>/config.json
    commit = os.path.basename(os.path.dirname(path))
    return info, raw, commit if len(commit) == 40 else None


class _Malformed(Exception):
    pass


def _map_error(exc: Exception, repo_id: str) -> Exception:
    """The one-line llmplan error for a client exception (first matching row wins; subclasses first).
    Exceptions of no listed type come back unchanged (they are bugs, not Hub conditions)."""
    for types, make in _error_table():
        if isinstance(exc, types):
            return make(exc, repo_id)
    return exc


def _error_table() -> list[tuple[tuple[type, ...], Callable[[Exception, str], LlmplanError]]]:
    import httpx2
    from huggingface_hub.errors import (EntryNotFoundError, GatedRepoError, HFValidationError, HfHubHTTPError,
                                        LocalEntryNotFoundError, OfflineModeIsEnabled, RepositoryNotFoundError,
                                        RevisionNotFoundError)

    return [
        ((GatedRepoError,), lambda e, r: GatedModelError(
            f"{r} is gated: accept its licence on huggingface.co and set HF_TOKEN or --token")),
        ((RepositoryNotFoundError,), lambda e, r: UnknownModelError(f"{r} not found on the Hub")),
        ((HFValidationError,), lambda e, r: UnknownModelError(f"{r!r} is not a valid Hub repo id")),
        ((OfflineModeIsEnabled,), lambda e, r: HubError("the Hub is unreachable (offline mode, HF_HUB_OFFLINE)")),
        ((LocalEntryNotFoundError,), lambda e, r: HubError(f"the Hub is unreachable ({_cause(e)})")),
        ((EntryNotFoundError,), lambda e, r: HubError(
            f"{r} has no config.json (a GGUF-only or non-transformers repo?)")),
        ((RevisionNotFoundError,), lambda e, r: HubError(f"{r} has no main revision on the Hub")),
        ((HfHubHTTPError,), _http_error),
        ((_Malformed, json.JSONDecodeError, ValueError), lambda e, r: HubError(
            f"the Hub sent malformed data for {r}")),
        ((httpx2.HTTPError, ConnectionError, TimeoutError), lambda e, r: HubError(
            f"the Hub is unreachable ({_first_line(e)})")),
        ((OSError,), lambda e, r: HubError(f"could not read {r} from the Hub ({_first_line(e)})")),
    ]


def _http_error(exc: Exception, repo_id: str) -> HubError:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if status == 429:
        wait = _retry_after_s(response.headers)
        return HubError(f"rate-limited by the Hub; retry in {wait} s" if wait is not None
                        else "rate-limited by the Hub; retry in a few minutes")
    if status is not None and status >= 500:
        return HubError(f"the Hub is unreachable (HTTP {status})")
    return HubError(f"the Hub answered HTTP {status} for {repo_id}")


def _retry_after_s(headers) -> int | None:
    """Seconds to wait: Retry-After (delay-seconds form), else the IETF RateLimit header's reset."""
    value = str(headers.get("Retry-After") or "").strip()
    if value.isdigit():
        return int(value)
    from huggingface_hub.utils import parse_ratelimit_headers

    try:
        info = parse_ratelimit_headers(headers)
    except (ValueError, TypeError):
        return None
    return info.reset_in_seconds if info is not None else None


def _cause(exc: BaseException) -> str:
    """The network error under a LocalEntryNotFoundError, else its own first line."""
    inner = exc.__cause__ or exc.__context__
    return _first_line(inner) if inner is not None else _first_line(exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0].strip() if text else ""
    line = line if len(line) <= 120 else line[:117] + "..."
    return line or type(exc).__name__
