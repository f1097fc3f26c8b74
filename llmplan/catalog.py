"""The embedded model catalog (llmplan/data/models.csv): offline facts for popular models."""

from __future__ import annotations

import difflib
from functools import lru_cache
from pathlib import Path

from llmplan._csv import opt_bool, opt_int, read_rows, split_list
from llmplan.errors import DataFileError, UnknownModelError
from llmplan.records import ModelSpec

_REQUIRED = ("repo_id", "num_layers", "hidden_size", "num_attention_heads", "vocab_size")
_INT_FIELDS = ("params_total", "params_active", "num_layers", "hidden_size", "num_attention_heads",
               "num_kv_heads", "head_dim", "intermediate_size", "vocab_size", "max_context", "sliding_window",
               "sliding_window_pattern", "num_experts", "experts_per_token", "moe_intermediate_size",
               "num_shared_experts", "first_k_dense_layers", "kv_lora_rank", "q_lora_rank", "qk_rope_head_dim",
               "qk_nope_head_dim", "v_head_dim")


def catalog_path() -> Path:
    from importlib.resources import files

    return Path(str(files("llmplan") / "data" / "models.csv"))


def parse_catalog(source, label: str | None = None) -> list[ModelSpec]:
    models = []
    for lineno, row in read_rows(source, _REQUIRED, label):
        where = f"{label or source}:{lineno}"
        n = {f: opt_int(row, f, where) for f in _INT_FIELDS}
        heads = n["num_attention_heads"]
        if not heads or not n["hidden_size"] or not n["num_layers"]:
            raise DataFileError(f"{where}: layers, hidden_size and heads must be positive")
        models.append(ModelSpec(
            repo_id=row["repo_id"], num_layers=n["num_layers"], hidden_size=n["hidden_size"],
            num_attention_heads=heads, num_kv_heads=n["num_kv_heads"] or heads,
            head_dim=n["head_dim"] or n["hidden_size"] // heads,
            intermediate_size=n["intermediate_size"] or 4 * n["hidden_size"], vocab_size=n["vocab_size"],
            max_context_tokens=n["max_context"] or 4096,
            mlp_gated=opt_bool(row, "mlp_gated", where) is not False,
            tie_embeddings=bool(opt_bool(row, "tie_embeddings", where)),
            params_total=n["params_total"], params_active=n["params_active"],
            family=row.get("family", ""), model_type=row.get("model_type", ""),
            sliding_window_tokens=n["sliding_window"], sliding_window_pattern=n["sliding_window_pattern"],
            num_experts=n["num_experts"], experts_per_token=n["experts_per_token"],
            moe_intermediate_size=n["moe_intermediate_size"], num_shared_experts=n["num_shared_experts"],
            first_k_dense_layers=n["first_k_dense_layers"], kv_lora_rank=n["kv_lora_rank"],
            q_lora_rank=n["q_lora_rank"], qk_rope_head_dim=n["qk_rope_head_dim"],
            qk_nope_head_dim=n["qk_nope_head_dim"], v_head_dim=n["v_head_dim"],
            license=row.get("license", ""), gated=bool(opt_bool(row, "gated", where)),
            pipeline_tag=row.get("pipeline_tag", "") or "text-generation",
            native_dtype=row.get("native_dtype", "") or "bfloat16",
            aliases=tuple(a.lower() for a in split_list(row.get("aliases", ""))),
            params_source=row.get("params_source", ""), source=row.get("source", ""),
            as_of=row.get("as_of", ""), prequantized=row.get("prequantized", "") or None))
    return models


@lru_cache(maxsize=1)
def load_catalog() -> tuple[ModelSpec, ...]:
    return tuple(parse_catalog(catalog_path(), "models.csv"))


def find_in_catalog(name: str, models: tuple[ModelSpec, ...] | None = None) -> ModelSpec | None:
    """Exact repo id, short alias, or the repo's name without the organisation (case-insensitive)."""
    models = models if models is not None else load_catalog()
    key = name.strip().lower()
    for m in models:
        if key == m.repo_id.lower() or key in m.aliases:
            return m
    if "/" not in key:
        matches = [m for m in models if m.repo_id.lower().split("/", 1)[-1] == key]
        if len(matches) == 1:
            return matches[0]
    return None


def suggest(name: str, models: tuple[ModelSpec, ...] | None = None) -> list[str]:
    models = models if models is not None else load_catalog()
    names = {a: m.repo_id for m in models for a in (*m.aliases, m.repo_id.lower())}
    close = difflib.get_close_matches(name.strip().lower(), list(names), n=3, cutoff=0.6)
    return list(dict.fromkeys(names[c] for c in close))


def unknown_model(name: str, why: str) -> UnknownModelError:
    hints = suggest(name)
    hint = f"; did you mean {', '.join(hints)}?" if hints else ""
    return UnknownModelError(f"unknown model {name!r}: {why}{hint}")
