"""Licence groups and the `models` listing."""

import json

import pytest
from typer.testing import CliRunner

from llmplan.cli.app import app
from llmplan.cli.views import parse_params
from llmplan.errors import InvalidInputError
from llmplan.licenses import caveat, group_of, matches


@pytest.mark.parametrize("lic,group", [("apache-2.0", "permissive"), ("MIT", "permissive"), ("llama3.1", "restricted"),
                                       ("gemma", "restricted"), ("cc-by-nc-4.0", "non-commercial"),
                                       ("qwen-research", "non-commercial"), ("gpl-3.0", "copyleft")])
def test_groups(lic, group):
    assert group_of(lic) == group


def test_matches_ids_and_groups():
    assert matches("apache-2.0", "permissive") and matches("apache-2.0", "mit,apache-2.0")
    assert not matches("llama2", "permissive")
    with pytest.raises(InvalidInputError):
        matches("mit", " , ")


def test_llama_caveat_names_the_700m_clause():
    assert "700M" in caveat("llama3.1")


@pytest.mark.parametrize("text,value", [("14B", 14e9), ("500M", 5e8), ("7", 7e9), ("7e9", 7e9)])
def test_parse_params(text, value):
    assert parse_params(text) == pytest.approx(value)


def test_models_filters_and_fit(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    runner = CliRunner()
    r = runner.invoke(app, ["models", "--license", "permissive", "--max-params", "14B", "--format", "json"])
    rows = json.loads(r.stdout)
    assert rows and all(x["license_group"] == "permissive" and x["params_b"] <= 14 for x in rows)
    r = runner.invoke(app, ["models", "--gpu", "RTX 4090", "--tps", "30", "--context", "8192", "--format", "json"])
    rows = json.loads(r.stdout)
    assert rows and all(x["fits"] and x["decode_tps"] >= 30 and x["vram_gib"] <= 24 for x in rows)
    r = runner.invoke(app, ["models", "--sort", "downloads", "--limit", "3", "--format", "json"])
    assert r.exit_code == 0 and "the Hub is offline" in r.stderr
    assert [x["params_b"] for x in json.loads(r.stdout)] == sorted((x["params_b"] for x in json.loads(r.stdout)),
                                                                   reverse=True)
