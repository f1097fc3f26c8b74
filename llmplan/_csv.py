"""Typed reading of the project's CSV files, with errors that name the file, line and column."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import IO, Iterator

from llmplan.errors import DataFileError


def read_rows(source: str | Path | IO[str], required: tuple[str, ...], label: str | None = None
              ) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row) from a CSV path or text stream; '#' lines are comments."""
    if isinstance(source, (str, Path)):
        label = label or str(source)
        try:
            text = Path(source).read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise DataFileError(f"cannot read {label}: {exc.strerror or exc}") from None
        stream: IO[str] = io.StringIO(text)
    else:
        label = label or getattr(source, "name", "<stream>")
        stream = source
    lines = (line for line in stream)
    numbered = _skip_comments(lines)
    header_line, header = next(numbered, (0, None))
    if header is None:
        raise DataFileError(f"{label}: empty file")
    try:
        columns = next(csv.reader([header]))
    except csv.Error as exc:
        raise DataFileError(f"{label}:{header_line}: bad header: {exc}") from None
    columns = [c.strip() for c in columns]
    missing = [c for c in required if c not in columns]
    if missing:
        raise DataFileError(f"{label}:{header_line}: missing column(s): {', '.join(missing)}")
    for lineno, line in numbered:
        try:
            values = next(csv.reader([line]))
        except (csv.Error, StopIteration) as exc:
            raise DataFileError(f"{label}:{lineno}: malformed CSV line: {exc}") from None
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(columns):
            raise DataFileError(
                f"{label}:{lineno}: expected {len(columns)} fields, found {len(values)}")
        yield lineno, {c: v.strip() for c, v in zip(columns, values)}


def _skip_comments(lines) -> Iterator[tuple[int, str]]:
    """Join physical lines into logical CSV records (quoted newlines) and drop comment lines."""
    buffer, start = "", 0
    for lineno, line in enumerate(lines, start=1):
        if not buffer and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if not buffer:
            start = lineno
        buffer += line
        if buffer.count('"') % 2 == 0:
            yield start, buffer.rstrip("\r\n")
            buffer = ""
    if buffer:
        yield start, buffer.rstrip("\r\n")


def opt_float(row: dict[str, str], col: str, where: str) -> float | None:
    value = row.get(col, "")
    if value == "":
        return None
    try:
        return float(value)
    except ValueError:
        raise DataFileError(f"{where}: column {col}: {value!r} is not a number") from None


def opt_int(row: dict[str, str], col: str, where: str) -> int | None:
    value = opt_float(row, col, where)
    if value is None:
        return None
    if value != int(value):
        raise DataFileError(f"{where}: column {col}: {row[col]!r} is not a whole number")
    return int(value)


def opt_bool(row: dict[str, str], col: str, where: str) -> bool | None:
    value = row.get(col, "").lower()
    if value == "":
        return None
    if value in ("true", "yes", "1", "y"):
        return True
    if value in ("false", "no", "0", "n"):
        return False
    raise DataFileError(f"{where}: column {col}: {row[col]!r} is not true/false")


def split_list(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(";") if v.strip())
