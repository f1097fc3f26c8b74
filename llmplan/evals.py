"""Published benchmark scores (llmplan/data/evals.csv) and the leaderboard-style quality mean.

Scores are copied from model cards and the Open LLM Leaderboard, each row with its source and date. The
quality of a model is the mean of the chosen benchmarks it has, with equal weights by default as the open
leaderboards do; the benchmarks present are always reported, because a mean over fewer benchmarks is not
comparable with a mean over more.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from llmplan._csv import opt_float, read_rows
from llmplan.errors import DataFileError, InvalidInputError

LEADERBOARD_V1 = ("arc", "hellaswag", "mmlu", "truthfulqa", "winogrande", "gsm8k")
LEADERBOARD_V2 = ("ifeval", "bbh", "math_lvl5", "gpqa", "musr", "mmlu_pro")
CODE = ("humaneval", "mbpp")
BENCHMARKS = LEADERBOARD_V1 + LEADERBOARD_V2 + CODE


@dataclass(frozen=True)
class EvalScore:
    benchmark: str
    value: float  # 0-100
    metric: str
    setting: str
    source: str
    as_of: str


def evals_path() -> Path:
    from importlib.resources import files

    return Path(str(files("llmplan") / "data" / "evals.csv"))


def parse_evals(source, label: str | None = None) -> dict[str, list[EvalScore]]:
    table: dict[str, list[EvalScore]] = {}
    for lineno, row in read_rows(source, ("repo_id", "benchmark", "value"), label):
        where = f"{label or source}:{lineno}"
        bench = row["benchmark"].lower()
        if bench not in BENCHMARKS:
            raise DataFileError(f"{where}: unknown benchmark {row['benchmark']!r}")
        value = opt_float(row, "value", where)
        if value is None or not 0 <= value <= 100:
            raise DataFileError(f"{where}: value must be a number from 0 to 100")
        table.setdefault(row["repo_id"].lower(), []).append(EvalScore(
            bench, value, row.get("metric", ""), row.get("setting", ""), row.get("source", ""), row.get("as_of", "")))
    return table


@lru_cache(maxsize=1)
def load_evals() -> dict[str, list[EvalScore]]:
    path = evals_path()
    return parse_evals(path, "evals.csv") if path.is_file() else {}


def scores_for(repo_id: str) -> list[EvalScore]:
    return load_evals().get(repo_id.lower(), [])


def parse_weights(text: str | None) -> dict[str, float]:
    """'mmlu,arc' (equal weights) or 'mmlu=2,arc=1'; default: the Open LLM Leaderboard v2 set."""
    if not text:
        return {b: 1.0 for b in LEADERBOARD_V2}
    weights: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, _, weight = part.partition("=")
        name = name.strip().lower()
        if name in ("v1", "leaderboard-v1"):
            weights.update({b: 1.0 for b in LEADERBOARD_V1})
            continue
        if name in ("v2", "leaderboard-v2"):
            weights.update({b: 1.0 for b in LEADERBOARD_V2})
            continue
        if name not in BENCHMARKS:
            raise InvalidInputError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}, v1, v2")
        try:
            weights[name] = float(weight) if weight else 1.0
        except ValueError:
            raise InvalidInputError(f"benchmark weight {weight!r} is not a number") from None
        if weights[name] <= 0:
            raise InvalidInputError("benchmark weights must be positive")
    return weights


def comparable(score: EvalScore) -> bool:
    """Leaderboard rows share one harness and scale across models (v2 subtracts the random baseline); a
    model card's own numbers do not, so only leaderboard rows (and code pass@1, which only cards publish)
    enter the quality mean. Cards' numbers are still shown by `llmplan info`."""
    return score.setting.lower().startswith("open-llm-leaderboard") or score.benchmark in CODE


def quality(scores: list[EvalScore], weights: dict[str, float]) -> tuple[float | None, list[str]]:
    """(weighted mean over the chosen benchmarks present, the benchmarks present), leaderboard rows only."""
    by_name = {s.benchmark: s.value for s in scores if comparable(s)}
    present = [b for b in weights if b in by_name]
    if not present:
        return None, []
    total = sum(weights[b] for b in present)
    return sum(weights[b] * by_name[b] for b in present) / total, present


# Hub dataset ids (model-index `dataset.type`) of the benchmarks above.
_DATASETS = {"ai2_arc": "arc", "allenai/ai2_arc": "arc", "arc": "arc", "hellaswag": "hellaswag",
             "rowan/hellaswag": "hellaswag", "cais/mmlu": "mmlu", "mmlu": "mmlu", "hendrycks_test": "mmlu",
             "truthful_qa": "truthfulqa", "truthfulqa/truthful_qa": "truthfulqa", "winogrande": "winogrande",
             "allenai/winogrande": "winogrande", "gsm8k": "gsm8k", "openai/gsm8k": "gsm8k",
             "huggingfaceh4/ifeval": "ifeval", "google/ifeval": "ifeval", "wis-k/instruction-following-eval": "ifeval",
             "bbh": "bbh", "saylortwift/bbh": "bbh", "lukaemon/bbh": "bbh", "hendrycks/competition_math": "math_lvl5",
             "lighteval/math-hard": "math_lvl5", "idavidrein/gpqa": "gpqa", "taur-lab/musr": "musr",
             "tiger-lab/mmlu-pro": "mmlu_pro", "openai_humaneval": "humaneval", "openai/openai_humaneval": "humaneval",
             "mbpp": "mbpp", "google-research-datasets/mbpp": "mbpp"}


def from_model_index(eval_results, source_url: str, as_of: str) -> tuple[EvalScore, ...]:
    """EvalScores from a card's parsed model-index (huggingface_hub EvalResult objects); unknown datasets and
    non-numeric values are skipped. Fractions (<= 1) are scaled to 0-100."""
    scores: dict[str, EvalScore] = {}
    for r in eval_results or ():
        bench = _DATASETS.get(str(getattr(r, "dataset_type", "") or "").lower())
        value = getattr(r, "metric_value", None)
        if bench is None or bench in scores or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        value = float(value) * (100.0 if 0 <= value <= 1 else 1.0)
        if not 0 <= value <= 100:
            continue
        leaderboard = "open llm leaderboard" in str(getattr(r, "source_name", "") or "").lower()
        setting = ("open-llm-leaderboard (model-index)" if leaderboard else "model card (model-index)")
        scores[bench] = EvalScore(bench, value, str(getattr(r, "metric_type", "") or ""), setting,
                                  str(getattr(r, "source_url", "") or source_url), as_of)
    return tuple(scores.values())
