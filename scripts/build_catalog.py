#!/usr/bin/env python3
"""Rebuild llmplan/data/models.csv from the Hugging Face Hub (needs a network; gated repos need HF_TOKEN).

    python scripts/build_catalog.py [--out llmplan/data/models.csv] [REPO_ID ...]

Without repo ids it refreshes every repository already in the catalog, keeping each row's short names
(aliases) and family; facts come from config.json and the safetensors parameter count through
``llmplan.hub`` (the project's only Hub client). A repository that fails keeps its old row and is reported.
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import asdict
from pathlib import Path

from llmplan.catalog import catalog_path, load_catalog
from llmplan.errors import LlmplanError
from llmplan.hub import fetch_model_spec

COLUMNS = ["repo_id", "aliases", "family", "model_type", "params_total", "params_active", "num_layers", "hidden_size",
           "num_attention_heads", "num_kv_heads", "head_dim", "intermediate_size", "mlp_gated", "vocab_size",
           "max_context", "tie_embeddings", "sliding_window", "sliding_window_pattern", "num_experts",
           "experts_per_token", "moe_intermediate_size", "num_shared_experts", "first_k_dense_layers", "kv_lora_rank",
           "q_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim", "license", "gated", "pipeline_tag",
           "native_dtype", "params_source", "source", "as_of", "prequantized"]
_RENAMED = {"max_context": "max_context_tokens", "sliding_window": "sliding_window_tokens"}


def row_of(spec, aliases: tuple[str, ...], family: str) -> dict:
    data = asdict(spec)
    row = {c: data.get(_RENAMED.get(c, c)) for c in COLUMNS}
    row["aliases"] = ";".join(aliases)
    row["family"] = family or spec.family
    for key, value in row.items():
        if isinstance(value, bool):
            row[key] = "true" if value else "false"
        elif value is None:
            row[key] = ""
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repos", nargs="*")
    parser.add_argument("--out", default=str(catalog_path()))
    args = parser.parse_args()
    old = {m.repo_id: m for m in load_catalog()}
    repos = args.repos or list(old)
    rows, failed = [], []
    for repo in repos:
        previous = old.get(repo)
        try:
            spec = fetch_model_spec(repo)
        except LlmplanError as exc:
            failed.append(f"{repo}: {exc}")
            spec = previous
        if spec is None:
            continue
        rows.append(row_of(spec, previous.aliases if previous else (), previous.family if previous else ""))
    with Path(args.out).open("w", newline="", encoding="utf-8") as fh:
        fh.write("# llmplan embedded model catalog, rebuilt by scripts/build_catalog.py from the Hugging Face Hub.\n")
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    for line in failed:
        print(f"kept the old row: {line}", file=sys.stderr)
    print(f"wrote {len(rows)} models to {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
