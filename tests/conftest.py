"""Shared fixtures. The hub ones (``hub_env``, ``fake_hub``) run llmplan.hub's real huggingface_hub client
against tests/fakehub.py on 127.0.0.1: no internet, no token, no user cache."""

from __future__ import annotations

import pytest

from fakehub import FakeHub


@pytest.fixture
def hub_env(monkeypatch, tmp_path):
    """Environment for talking to a local fake Hub: no proxy for 127.0.0.1, no telemetry, no token,
    not offline, no HF_ENDPOINT. huggingface_hub reads some of these at import, so the constants are
    patched too, and its shared HTTP client is rebuilt to see the proxy settings."""
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HF_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    from huggingface_hub import constants
    from huggingface_hub.utils import close_session

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    # never the user's cache: hf_hub_download reads this module attribute at call time
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-hub-cache"))
    close_session()
    yield
    close_session()


@pytest.fixture
def fake_hub(hub_env):
    """A running FakeHub (empty: tests add repos with ``fake_hub.add_model``), stopped afterwards."""
    with FakeHub(max_lifetime_s=60.0) as hub:
        yield hub
