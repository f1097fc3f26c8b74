"""Name -> record resolution for models: the embedded catalog first, then the Hub."""

from __future__ import annotations

import os

from llmplan.catalog import find_in_catalog, unknown_model
from llmplan.errors import GatedModelError, HubError, NoConfigError, UnknownModelError
from llmplan.records import ModelSpec


def hub_disabled() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def resolve_model(name: str, *, use_hub: bool = True, token: str | None = None) -> tuple[ModelSpec, list[str]]:
    """The catalog's record for a short name or repo id; a repo id the catalog lacks is read from the
    Hub (unless offline). Returns the spec and any warnings."""
    if not name or not name.strip():
        raise UnknownModelError("empty model name")
    spec = find_in_catalog(name)
    if spec is not None:
        return spec, []
    if "/" not in name:
        raise unknown_model(name, "not in the embedded catalog (give the Hub repo id, e.g. org/name)")
    from llmplan import hub

    repo_id = name.strip()
    if not use_hub or hub_disabled():
        cached = hub.cached_model_spec(repo_id)
        if cached is None:
            raise unknown_model(name, "not in the embedded catalog and the Hub is offline (HF_HUB_OFFLINE=1)")
        return cached, ["the Hub is offline: using the cached config.json (licence and gating unknown)"]
    try:
        return hub.fetch_model_spec(repo_id, token=token), []
    except (GatedModelError, NoConfigError):
        raise
    except UnknownModelError:
        raise unknown_model(name, "not in the embedded catalog nor on the Hub") from None
    except HubError as exc:
        cached = hub.cached_model_spec(repo_id)
        if cached is not None:
            return cached, [f"{exc}: using the cached config.json (licence and gating unknown)"]
        raise unknown_model(name, f"not in the embedded catalog and {exc}") from None
