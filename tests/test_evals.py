"""Benchmark scores and the leaderboard-style quality mean."""

import io

import pytest

from llmplan.errors import DataFileError, InvalidInputError
from llmplan.evals import LEADERBOARD_V1, EvalScore, load_evals, parse_evals, parse_weights, quality


def _s(bench, value, setting="open-llm-leaderboard-v1"):
    return EvalScore(bench, value, "acc", setting, "test", "2026-11-22")


def test_equal_weights_over_the_benchmarks_present():
    scores = [_s("mmlu", 60.0), _s("arc", 50.0), _s("gsm8k", 30.0)]
    # mmlu and arc present, hellaswag missing: (60 + 50) / 2
    assert quality(scores, parse_weights("mmlu,arc,hellaswag")) == (55.0, ["mmlu", "arc"])
    # user weights: (2 x 60 + 1 x 30) / 3
    assert quality(scores, parse_weights("mmlu=2,gsm8k=1")) == (50.0, ["mmlu", "gsm8k"])
    assert quality(scores, parse_weights("ifeval")) == (None, [])


def test_model_card_numbers_stay_out_of_the_mean():
    # a card's raw GPQA-Diamond (60) is not on the leaderboard's normalised scale
    scores = [_s("gpqa", 60.0, "model card, 0-shot"), _s("bbh", 40.0, "open-llm-leaderboard-v2 (normalized)")]
    assert quality(scores, parse_weights("gpqa,bbh")) == (40.0, ["bbh"])
    assert quality([_s("humaneval", 70.0, "model card, pass@1")], parse_weights("humaneval")) == (70.0, ["humaneval"])


def test_named_sets_and_bad_weights():
    assert list(parse_weights("v1")) == list(LEADERBOARD_V1)
    assert len(parse_weights(None)) == 6
    with pytest.raises(InvalidInputError):
        parse_weights("mmlu=-1")
    with pytest.raises(InvalidInputError):
        parse_weights("elo")


def test_eval_file_errors_name_the_line():
    text = "repo_id,benchmark,value\norg/a,mmlu,61.5\norg/a,mmlu,612\n"
    with pytest.raises(DataFileError, match="e.csv:3: value must be a number from 0 to 100"):
        parse_evals(io.StringIO(text), "e.csv")
    assert parse_evals(io.StringIO(text.splitlines(True)[0] + "org/a,arc,40\n"), "e.csv")["org/a"][0].value == 40


def test_shipped_scores_load_and_belong_to_catalog_models():
    from llmplan.catalog import find_in_catalog

    table = load_evals()
    for repo_id, scores in table.items():
        assert find_in_catalog(repo_id) is not None, repo_id
        assert all(s.source for s in scores)
