"""The Hugging Face Hub client: the only module that imports huggingface_hub (inside functions, so that
``llmplan --help`` stays fast). It reads model metadata and config.json, never weights, and never runs a
repository's code.

- ``fetch_model_spec``: a repository's ModelSpec (model_info + config.json).
- ``search_models``: a ranked list of repositories (the Hub's model search), as plain dicts.
- ``gguf_files``: the GGUF files of a repository with their sizes and llama.cpp quant types.

Endpoint, token and cache follow huggingface_hub: ``endpoint=None`` means $HF_ENDPOINT (read at call
time here) else huggingface.co; ``token=None`` means $HF_TOKEN or the saved login; ``cache_dir=None``
means $HF_HUB_CACHE / $HF_HOME. Every failure is an LlmplanError with a one-line message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from urllib.parse import urljoin

from llmplan.errors import (GatedModelError, HubError, InvalidInputError, LlmplanError, NoConfigError,
                             UnknownModelError)
from llmplan.records import ModelSpec

# What model_info must return; "expand" makes the Hub send only these (one small API call).
EXPAND = ["safetensors", "cardData", "tags", "gated", "pipeline_tag", "downloads", "likes", "library_name"]
# What each search result carries (the Hub's property names).
SEARCH_EXPAND = ["downloads", "likes", "trendingScore", "lastModified", "pipeline_tag", "gated", "safetensors",
                 "cardData", "tags", "library_name"]
# search_models(sort=...) -> the Hub's sort key (always descending). The client's own names are accepted too.
SEARCH_SORTS = {"downloads": "downloads", "likes": "likes", "trending": "trendingScore",
                "trending_score": "trendingScore", "recent": "lastModified", "last_modified": "lastModified"}
# The Hub's largest page; and how many pages one search may read while client-side filters thin them out.
_MAX_PAGE = 1000
_MAX_PAGES = 5
_SEARCH = "the model search"  # the subject of search_models' error messages
_LICENSE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+_-]*")
# Quants whose safetensors element counts are counts of weights (one stored element per weight, scales
# aside). AWQ/GPTQ/int4/nf4/mxfp4 pack several weights per element, so their Hub totals are too low.
_UNPACKED_QUANTS = frozenset({None, "fp8", "int8", "llm.int8"})
_DTYPE_OF_SAFETENSORS = {"BF16": "bfloat16", "F16": "float16", "F32": "float32"}


# -- fetch_model_spec ---------------------------------------------------------------------------------------

def fetch_model_spec(repo_id: str, *, token: str | bool | None = None, timeout_s: float = 10.0,
                     endpoint: str | None = None, cache_dir: str | os.PathLike | None = None) -> ModelSpec:
    """The ModelSpec of a Hub repository, from its model_info and config.json.

    Raises GatedModelError, UnknownModelError or HubError, each with a one-line message; nothing else
    escapes for network, HTTP or data errors. ``timeout_s`` bounds each HTTP request (seconds).
    """
    with _hub_errors(repo_id):
        api = _api(endpoint, token)
        info = _model_info(api, repo_id, timeout_s, expand=EXPAND)
        config_bytes, commit = _download_config(api, repo_id, token, timeout_s, cache_dir)
        header_total = None if _safetensors_total(info) is not None else _header_total(api, repo_id)
    try:
        config = json.loads(config_bytes.decode("utf-8-sig"))
    except ValueError:  # not UTF-8, or not JSON
        raise HubError(f"the Hub sent malformed data for {repo_id} (config.json)") from None
    spec = spec_from_info(repo_id, info, config,
                          source=f"{api.endpoint.rstrip('/')}/{repo_id}/blob/{commit or 'main'}/config.json",
                          as_of=datetime.now(timezone.utc).date().isoformat())
    if header_total and spec.params_total is None and spec.prequantized in _UNPACKED_QUANTS:
        total, note = _untie_total(header_total, spec)
        spec = dataclasses.replace(spec, params_total=total, params_source="safetensors headers" + note)
    return spec


def _header_total(api, repo_id: str) -> int | None:
    """Parameter count from the safetensors headers (HTTP range requests) when the Hub's model info has
    none; None when the repo has no safetensors or a header cannot be parsed (truncated, malformed): the
    architecture count is used then, never a guess."""
    from huggingface_hub.errors import NotASafetensorsRepoError, SafetensorsParsingError

    try:
        counts = api.get_safetensors_metadata(repo_id).parameter_count
    except (NotASafetensorsRepoError, SafetensorsParsingError, ValueError, KeyError):
        return None
    total = sum(v for v in counts.values() if isinstance(v, int))
    return total or None


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
    from llmplan.evals import from_model_index

    card = getattr(info, "card_data", None)
    evals = from_model_index(getattr(card, "eval_results", None), source.replace("/blob/", "/tree/").rsplit(
        "/config.json", 1)[0], as_of)
    spec = dataclasses.replace(spec, evals=evals, downloads=getattr(info, "downloads", None),
                               likes=getattr(info, "likes", None))
    total = _safetensors_total(info)
    if total is None or total <= 0 or spec.prequantized not in _UNPACKED_QUANTS:
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


def _download_config(api, repo_id: str, token, timeout_s: float, cache_dir) -> tuple[bytes, str | None]:
    """(config.json bytes, commit sha or None): one file resolve, through the cache."""
    from huggingface_hub import hf_hub_download

    path = hf_hub_download(repo_id, "config.json", token=token, endpoint=api.endpoint, cache_dir=cache_dir,
                           etag_timeout=timeout_s)
    with open(path, "rb") as f:
        raw = f.read()
    # the cache layout is .../snapshots/<commit>/config.json
    commit = os.path.basename(os.path.dirname(path))
    return raw, commit if len(commit) == 40 else None


def cached_model_spec(repo_id: str, *, cache_dir=None) -> ModelSpec | None:
    """The spec from a config.json already in the local Hugging Face cache (no network), or None. Licence,
    gating and the published parameter count are not in config.json, so they stay unknown."""
    from huggingface_hub import hf_hub_download

    try:
        path = hf_hub_download(repo_id, "config.json", cache_dir=cache_dir, local_files_only=True)
        with open(path, "rb") as f:
            config = json.loads(f.read().decode("utf-8-sig"))
    except Exception:  # not cached, unreadable or malformed: no fallback
        return None
    from llmplan.hfconfig import spec_from_config

    try:
        return spec_from_config(repo_id, config, source=f"local cache: {path}")
    except LlmplanError:
        return None


# -- search_models -------------------------------------------------------------------------------------------

def search_models(*, search: str | None = None, pipeline_tag: str | None = None,
                  license: str | list[str] | tuple[str, ...] | None = None, sort: str = "downloads",
                  limit: int = 50, min_params: int | None = None, max_params: int | None = None,
                  token: str | bool | None = None, timeout_s: float = 10.0,
                  endpoint: str | None = None) -> list[dict]:
    """Hub repositories matching ``search`` (a substring of the repo id), ``pipeline_tag`` and ``license``,
    best first by ``sort`` (downloads, likes, trending or recent; always descending), at most ``limit``.

    ``license``: one licence id (e.g. "apache-2.0") is filtered by the Hub; several (a list, or ids separated
    by commas) are filtered here, on the results' card licence or license:xxx tags. ``min_params`` /
    ``max_params`` (parameter counts) go to the Hub rounded outwards to whole billions and are then applied
    exactly here to the safetensors totals; a repo without a safetensors total is kept as the Hub judged it.
    Client-side filtering may follow up to a few result pages, so fewer than ``limit`` rows can come back.

    Each row: repo_id, downloads, likes, trending_score, last_modified (ISO 8601, UTC, "" if unknown),
    pipeline_tag, gated (bool), license ("" if none), params_total (safetensors total, or None; for
    GPTQ/AWQ repos a count of packed elements, so too low), library_name.

    ``timeout_s`` bounds each HTTP request and nothing is retried (huggingface_hub's list_models has no
    timeout and retries 429/5xx/network errors for minutes), so a dead or rate-limiting Hub fails fast.
    Raises InvalidInputError for bad arguments, HubError (one line) for everything the Hub does wrong.
    """
    wire_sort = SEARCH_SORTS.get(str(sort).lower())
    if wire_sort is None:
        raise InvalidInputError(f"unknown sort {sort!r}: use downloads, likes, trending or recent")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidInputError(f"limit must be a positive integer, not {limit!r}")
    lo, hi = _param_bound(min_params, "min_params"), _param_bound(max_params, "max_params")
    if lo is not None and hi is not None and lo > hi:
        raise InvalidInputError(f"min_params ({lo:,}) is above max_params ({hi:,})")
    licenses = _license_ids(license)

    params: dict = {"sort": wire_sort, "limit": min(limit, _MAX_PAGE), "expand": SEARCH_EXPAND}
    if search:
        params["search"] = search
    if pipeline_tag:
        params["pipeline_tag"] = pipeline_tag
    if len(licenses) == 1:
        params["filter"] = [f"license:{licenses[0]}"]
    if lo is not None or hi is not None:
        params["num_parameters"] = _num_parameters(lo, hi)

    rows: list[dict] = []
    with _hub_errors(_SEARCH):
        api = _api(endpoint, token)
        for item in _list_models(api, params, token, timeout_s):
            row = _search_row(_parse_model_info(item))
            if len(licenses) > 1 and not _has_license(row, item, licenses):
                continue
            total = row["params_total"]
            if total is not None and ((lo is not None and total < lo) or (hi is not None and total > hi)):
                continue
            rows.append(row)
            if len(rows) == limit:
                break
    return rows


def _param_bound(value, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 or math.isinf(value):
        raise InvalidInputError(f"{name} must be a non-negative parameter count, not {value!r}")
    return int(value)


def _num_parameters(lo: int | None, hi: int | None) -> str:
    """The Hub's range syntax in whole billions ("min:6B,max:14B"), rounded outwards (min down, max up) so
    that the Hub returns a superset of what the exact client-side bounds keep."""
    parts = []
    if lo:
        parts.append(f"min:{lo // 10**9}B" if lo >= 10**9 else "min:0")
    if hi is not None:
        parts.append(f"max:{max(1, -(-hi // 10**9))}B")
    return ",".join(parts) or "min:0"


def _license_ids(license) -> list[str]:
    """Lower-case licence ids from "apache-2.0", "apache-2.0,mit" or ["apache-2.0", "mit"]."""
    if license is None:
        return []
    items = license.split(",") if isinstance(license, str) else list(license)
    ids = []
    for item in items:
        lic = str(item).strip().lower()
        if not _LICENSE_ID.fullmatch(lic):
            raise InvalidInputError(f"{item!r} is not a licence id (such as apache-2.0, mit, llama3.1)")
        if lic not in ids:
            ids.append(lic)
    return ids


def _has_license(row: dict, item: dict, licenses: list[str]) -> bool:
    tags = item.get("tags") if isinstance(item.get("tags"), list) else []
    return row["license"].lower() in licenses or any(f"license:{lic}" in tags for lic in licenses)


def _list_models(api, params: dict, token, timeout_s: float) -> Iterator:
    """The raw items of GET /api/models, following ``Link: <...>; rel="next"`` for at most _MAX_PAGES
    pages: the request list_models makes, but each with a timeout and none retried."""
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    headers = build_hf_headers(token=token)
    url: str | None = f"{api.endpoint.rstrip('/')}/api/models"
    for _ in range(_MAX_PAGES):
        response = get_session().get(url, params=params, headers=headers, timeout=timeout_s)
        hf_raise_for_status(response)
        page = response.json()
        if not isinstance(page, list):
            raise _Malformed()
        yield from page
        nxt = response.links.get("next", {}).get("url")
        if not nxt:
            return
        url, params = urljoin(str(response.url), nxt), None  # the next link carries the query


def _search_row(info) -> dict:
    modified = getattr(info, "last_modified", None)
    return {
        "repo_id": info.id,
        "downloads": _count(info.downloads),
        "likes": _count(info.likes),
        "trending_score": _count(info.trending_score),
        "last_modified": modified.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        if isinstance(modified, datetime) else "",
        "pipeline_tag": info.pipeline_tag if isinstance(info.pipeline_tag, str) else "",
        "gated": info.gated not in (False, None),
        "license": _license(info),
        "params_total": _safetensors_total(info),
        "library_name": info.library_name if isinstance(info.library_name, str) else "",
    }


def _count(value) -> int | float:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


# -- gguf_files ------------------------------------------------------------------------------------------

# llama.cpp quant types as they appear in GGUF file names (Q4_K_M, IQ3_XXS, Q8_0, Q4_0_4_4, BF16, ...),
# plus the common mixes named after them (bartowski's Q4_K_L, unsloth's Q4_K_XL). The last match wins.
_GGUF_QUANT = re.compile(
    r"(?<![A-Za-z0-9])("
    r"IQ[1-4]_(?:XXS|XS|NL|S|M)"
    r"|TQ[12]_0"
    r"|Q[1-8]_K(?:_(?:XXL|XL|S|M|L))?"
    r"|Q[1-8]_[01](?:_[48]_[48])?"
    r"|MXFP4(?:_MOE)?"
    r"|BF16|FP16|F16|FP32|F32"
    r")(?![A-Za-z0-9])", re.IGNORECASE)
_QUANT_ALIASES = {"FP16": "F16", "FP32": "F32"}
# Split GGUF files: llama.cpp's gguf-split ("-00001-of-00003.gguf") and the older "x.gguf-split-a" and
# "x.gguf.part1of2" (plain byte splits).
_GGUF_PART = re.compile(r"(?:-\d{5}-of-\d{5}\.gguf|\.gguf-split-[a-z]|\.gguf\.part\d+of\d+)$", re.IGNORECASE)


def gguf_files(repo_id: str, *, token: str | bool | None = None, timeout_s: float = 10.0,
               endpoint: str | None = None) -> list[dict]:
    """The GGUF files of a Hub repository, one dict per model file, in the Hub's order:

    filename (split files under their base name, e.g. "M-Q8_0.gguf" for "M-Q8_0-00001-of-00002.gguf"...),
    size_bytes (the parts summed; None if the Hub gave no size), quant (the llama.cpp type from the file
    name, e.g. "Q4_K_M", or None), files (the repository paths, parts in order) and mmproj (True for a
    multimodal projector, which is loaded next to a model file, not instead of one).

    One API call (model_info with file metadata). A repository without GGUF files gives [].
    Raises UnknownModelError or HubError with a one-line message, like fetch_model_spec.
    """
    with _hub_errors(repo_id):
        info = _model_info(_api(endpoint, token), repo_id, timeout_s, files_metadata=True)
        siblings = list(info.siblings or ())
        entries: dict[str, dict] = {}
        for sibling in siblings:
            name = sibling.rfilename
            if not isinstance(name, str):
                raise _Malformed()
            part = _GGUF_PART.search(name)
            if not part and not name.lower().endswith(".gguf"):
                continue
            base = name[:part.start()] + ".gguf" if part else name
            entry = entries.setdefault(base, {"filename": base, "size_bytes": 0, "quant": _gguf_quant(base),
                                              "files": [], "mmproj": "mmproj" in base.rsplit("/", 1)[-1].lower()})
            entry["files"].append(name)
            size = _sibling_size(sibling)
            entry["size_bytes"] = None if size is None or entry["size_bytes"] is None else entry["size_bytes"] + size
    for entry in entries.values():
        entry["files"].sort()
    return list(entries.values())


def _gguf_quant(filename: str) -> str | None:
    """The llama.cpp quant type in a GGUF file name ("Qwen3-8B-Q4_K_M.gguf" -> "Q4_K_M"), else None."""
    found = _GGUF_QUANT.findall(filename.removesuffix(".gguf"))
    if not found:
        return None
    quant = found[-1].upper()
    return _QUANT_ALIASES.get(quant, quant)


def _sibling_size(sibling) -> int | None:
    for size in (getattr(sibling, "size", None), getattr(getattr(sibling, "lfs", None), "size", None)):
        if isinstance(size, int) and not isinstance(size, bool) and size >= 0:
            return size
    return None


# -- shared: the client, parsing, error mapping -----------------------------------------------------------

def _api(endpoint: str | None, token):
    from huggingface_hub import HfApi

    return HfApi(endpoint=endpoint or os.environ.get("HF_ENDPOINT") or None, token=token)


def _model_info(api, repo_id: str, timeout_s: float, **kwargs):
    try:
        return api.model_info(repo_id, timeout=timeout_s, **kwargs)
    except (KeyError, TypeError, AttributeError) as exc:  # a JSON body without "id", or of the wrong shape
        raise _Malformed() from exc


def _parse_model_info(item):
    from huggingface_hub.hf_api import ModelInfo

    if not isinstance(item, dict):
        raise _Malformed()
    item = {"siblings": None} | item  # as list_models does
    try:
        return ModelInfo(**item)
    except (KeyError, TypeError, AttributeError) as exc:
        raise _Malformed() from exc


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


def _safetensors_total(info) -> int | None:
    total = getattr(getattr(info, "safetensors", None), "total", None)
    return total if isinstance(total, int) and not isinstance(total, bool) else None


class _Malformed(Exception):
    pass


@contextlib.contextmanager
def _hub_errors(subject: str):
    """Turn the client's exceptions into one-line llmplan errors about ``subject`` (a repo id, or
    "the model search"); LlmplanErrors pass through, unmapped exceptions (bugs) propagate unchanged."""
    try:
        yield
    except LlmplanError:
        raise
    except Exception as exc:
        mapped = _map_error(exc, subject)
        if mapped is exc:
            raise
        raise mapped from None


def _map_error(exc: Exception, subject: str) -> Exception:
    """The one-line llmplan error for a client exception (first matching row wins; subclasses first).
    Exceptions of no listed type come back unchanged (they are bugs, not Hub conditions)."""
    for types, make in _error_table():
        if isinstance(exc, types):
            return make(exc, subject)
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
        ((EntryNotFoundError,), lambda e, r: NoConfigError(
            f"{r} has no config.json (a GGUF-only or non-transformers repo?)")),
        ((RevisionNotFoundError,), lambda e, r: HubError(f"{r} has no main revision on the Hub")),
        ((HfHubHTTPError,), _http_error),
        ((_Malformed, json.JSONDecodeError, ValueError), lambda e, r: HubError(
            f"the Hub sent malformed data for {r}")),
        ((httpx2.HTTPError, ConnectionError, TimeoutError), lambda e, r: HubError(
            f"the Hub is unreachable ({_first_line(e)})")),
        ((OSError,), lambda e, r: HubError(f"could not read {r} from the Hub ({_first_line(e)})")),
    ]


def _http_error(exc: Exception, subject: str) -> HubError:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if status == 429:
        wait = _retry_after_s(response.headers)
        return HubError(f"rate-limited by the Hub; retry in {wait} s" if wait is not None
                        else "rate-limited by the Hub; retry in a few minutes")
    if status is not None and status >= 500:
        return HubError(f"the Hub is unreachable (HTTP {status})")
    if status == 401:
        return HubError(f"the Hub rejected the token for {subject} (HTTP 401): check HF_TOKEN or --token")
    why = getattr(exc, "server_message", None) if status == 400 else None  # e.g. a bad num_parameters range
    why = f" ({_one_line(why)})" if isinstance(why, str) and why.strip() else ""
    return HubError(f"the Hub answered HTTP {status} for {subject}{why}")


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
    return _one_line(str(exc)) or type(exc).__name__


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    line = lines[0].strip() if lines else ""
    return line if len(line) <= 120 else line[:117] + "..."
