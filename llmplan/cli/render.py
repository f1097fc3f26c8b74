"""The one output path: data on stdout as a rich table, JSON, JSONL or CSV; messages on stderr."""

from __future__ import annotations

import csv
import json
import math
import sys
from enum import Enum
from typing import Any, Iterable, Sequence


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    jsonl = "jsonl"


def _clean(value: Any) -> Any:
    """JSON-safe plain values: NaN -> None, numpy scalars -> Python."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        value = value.item()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def _cell(value: Any) -> str:
    value = _clean(value)
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        if 0 < abs(value) < 0.01:
            return f"{value:.2g}"
        return f"{value:.2f}"
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)


def emit(rows: Sequence[dict], fmt: OutputFormat, *, columns: Sequence[str] | None = None,
         headers: dict[str, str] | None = None, title: str | None = None, single: bool = False,
         table_columns: Sequence[str] | None = None) -> None:
    """Write rows to stdout. JSON: a list (or one object when ``single``); JSONL: one per line;
    CSV: header + rows (lists joined by '; '); table: a rich table of ``table_columns``."""
    rows = [{k: _clean(v) for k, v in r.items()} for r in rows]
    columns = list(columns or (rows[0].keys() if rows else []))
    if fmt is OutputFormat.json:
        data: Any = rows[0] if single and len(rows) == 1 else rows
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    elif fmt is OutputFormat.jsonl:
        for r in rows:
            sys.stdout.write(json.dumps(r) + "\n")
    elif fmt is OutputFormat.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        for r in rows:
            writer.writerow(["" if r.get(c) is None else ("; ".join(map(str, r[c])) if isinstance(r.get(c), list)
                                                           else r.get(c)) for c in columns])
    else:
        print_table(rows, table_columns or columns, headers or {}, title)


def print_table(rows: Iterable[dict], columns: Sequence[str], headers: dict[str, str], title: str | None) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_lines=False, header_style="bold")
    for c in columns:
        table.add_column(headers.get(c, c), overflow="fold")
    for r in rows:
        table.add_row(*(_cell(r.get(c)) for c in columns))
    _console().print(table)


def _console():
    """Rich console on stdout; when stdout is not a terminal (a pipe, a file) use a wide fixed width so
    tables are not folded to 80 columns."""
    from rich.console import Console

    console = Console(soft_wrap=False)
    if not console.is_terminal:
        console = Console(soft_wrap=False, width=160)
    return console


def print_kv(pairs: Sequence[tuple[str, Any]], title: str | None = None) -> None:
    """A two-column key/value table (for `show` and `info`)."""
    print_table([{"field": k, "value": _cell(v)} for k, v in pairs], ["field", "value"], {}, title)


def message(text: str) -> None:
    """A note or warning for the person: stderr, never mixed with data."""
    sys.stderr.write(text.rstrip("\n") + "\n")
