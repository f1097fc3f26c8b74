"""The GPU table: loading gpu_specs.csv into GpuSpec records and resolving user-typed names."""

from __future__ import annotations

import difflib
import re
from functools import lru_cache
from pathlib import Path

from llmplan._csv import opt_bool, opt_float, read_rows, split_list
from llmplan.errors import DataFileError, UnknownGpuError
from llmplan.records import GpuSpec

REQUIRED_COLUMNS = ("name", "vendor", "segment", "memory_gib", "memory_bw_gbs")
SEGMENTS = ("consumer", "workstation", "datacenter", "apple", "tpu")
_FLOAT_COLUMNS = ("memory_gib", "memory_bw_gbs", "fp16_tflops", "fp16_fp16acc_tflops", "bf16_tflops",
                  "fp8_tflops", "int8_tops", "fp4_tflops", "fp32_tflops", "tdp_w", "nvlink_gbs", "pcie_gen",
                  "pcie_lanes", "launch_usd", "street_usd", "used_usd", "cloud_usd_per_hour", "cloud_max_gpus")
_TEXT_COLUMNS = ("architecture", "form_factor", "memory_type", "launch_date", "price_as_of", "price_source",
                 "cloud_provider", "cloud_as_of", "spec_sources", "notes")
# Vendor words users add or leave out: "NVIDIA GeForce RTX 4090" == "RTX 4090".
_NOISE = re.compile(r"\b(nvidia|geforce|apple|amd|tesla)\b")


def default_table_path() -> Path:
    """The packaged table (wheel), else the repository's gpu_specs.csv (source checkout)."""
    from importlib.resources import files

    packaged = Path(str(files("llmplan") / "data" / "gpu_specs.csv"))
    if packaged.is_file():
        return packaged
    return Path(__file__).resolve().parent.parent / "gpu_specs.csv"


def parse_gpu_table(source, label: str | None = None) -> list[GpuSpec]:
    """Parse a GPU table (path or text stream) into records; errors name the line and column."""
    gpus: list[GpuSpec] = []
    for lineno, row in read_rows(source, REQUIRED_COLUMNS, label):
        where = f"{label or source}:{lineno}"
        if not row["name"]:
            raise DataFileError(f"{where}: empty name")
        segment = row["segment"].lower()
        if segment not in SEGMENTS:
            raise DataFileError(f"{where}: segment {row['segment']!r} is not one of {', '.join(SEGMENTS)}")
        nums = {c: opt_float(row, c, where) for c in _FLOAT_COLUMNS}
        if nums["memory_gib"] is None or nums["memory_gib"] <= 0:
            raise DataFileError(f"{where}: memory_gib must be a positive number")
        for col, value in nums.items():
            if value is not None and value < 0:
                raise DataFileError(f"{where}: column {col}: negative value {value}")
        options = tuple(float(v) for v in split_list(row.get("memory_options_gib", "")) if _is_num(v))
        gpus.append(GpuSpec(
            name=row["name"], vendor=row["vendor"], segment=segment, aliases=split_list(row.get("aliases", "")),
            memory_options_gib=options, ecc=opt_bool(row, "ecc", where),
            **nums, **{c: row.get(c, "") for c in _TEXT_COLUMNS}))
    return gpus


def _is_num(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def user_gpu_files() -> list[str]:
    """The user's own GPU rows, applied on top of the table: $LLMPLAN_GPU_FILE, else
    $XDG_CONFIG_HOME/llmplan/gpus.csv (~/.config/llmplan/gpus.csv) when it exists."""
    import os

    env = os.environ.get("LLMPLAN_GPU_FILE")
    if env:
        return [env]
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "llmplan" / "gpus.csv"
    return [str(config)] if config.is_file() else []


def load_gpus(extra_file: str | None = None) -> tuple[GpuSpec, ...]:
    """The built-in table, with the user's config rows and then ``extra_file`` (``--gpu-file``) added or
    replacing rows of the same name."""
    return _load_gpus(tuple(user_gpu_files()) + ((extra_file,) if extra_file else ()))


@lru_cache(maxsize=4)
def _load_gpus(extra_files: tuple[str, ...]) -> tuple[GpuSpec, ...]:
    gpus = {g.name.lower(): g for g in parse_gpu_table(default_table_path(), "gpu_specs.csv")}
    for path in extra_files:
        for g in parse_gpu_table(Path(path), path):
            gpus[g.name.lower()] = g
    return tuple(gpus.values())


def normalize(name: str) -> str:
    text = _NOISE.sub(" ", name.lower().replace("_", " "))
    return re.sub(r"\s+", " ", text).strip()


def _default_for(gpu: GpuSpec) -> list[str]:
    """Family names this row is the documented default for (notes: 'default-for: A100; H100')."""
    match = re.search(r"default-for:\s*([^|]+)", gpu.notes)
    if not match:
        return []
    return [normalize(v) for v in re.split(r"[;,]", match.group(1)) if v.strip()]


@lru_cache(maxsize=8)
def _name_index(gpus: tuple[GpuSpec, ...]) -> dict[str, GpuSpec]:
    """Normalized name and alias -> record (built once per table)."""
    index: dict[str, GpuSpec] = {}
    for gpu in gpus:
        for key in (gpu.name, *gpu.aliases):
            index.setdefault(normalize(key), gpu)
    return index


def resolve_gpu(name: str, gpus: tuple[GpuSpec, ...] | None = None) -> tuple[GpuSpec, list[str]]:
    """Find the GPU a user means: exact name or alias first, then a documented family default (with a
    warning listing the alternatives). Never a fuzzy match: a near miss is an error with suggestions."""
    gpus = tuple(gpus) if gpus is not None else load_gpus()
    key = normalize(name)
    if not key:
        raise UnknownGpuError("empty GPU name")
    exact = _name_index(gpus).get(key)
    if exact is not None:
        return exact, []
    for gpu in gpus:
        if key in _default_for(gpu):
            alternatives = [g.name for g in gpus if g is not gpu and normalize(g.name).startswith(key)]
            alt = f"; alternatives: {', '.join(alternatives)}" if alternatives else ""
            return gpu, [f"'{name}' is ambiguous; using {gpu.name}{alt}"]
    candidates = {normalize(g.name): g.name for g in gpus}
    close = difflib.get_close_matches(key, list(candidates), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(candidates[c]) for c in close)}?" if close else ""
    raise UnknownGpuError(f"unknown GPU {name!r}{hint} (see `llmplan gpus`)")


PRICE_COLUMNS = ("launch_usd", "street_usd", "used_usd", "cloud_usd_per_hour")
PRICE_TEXT_COLUMNS = ("price_as_of", "price_source", "cloud_provider", "cloud_as_of")


def apply_price_file(gpus: tuple[GpuSpec, ...], path: str) -> tuple[GpuSpec, ...]:
    """Override prices from a CSV with a ``name`` column and any of the price columns (blank = keep).
    Names resolve like the CLI's; an unknown name is an error that names the line."""
    from dataclasses import replace

    updated = {g.name: g for g in gpus}
    for lineno, row in read_rows(Path(path), ("name",), path):
        where = f"{path}:{lineno}"
        try:
            gpu, _ = resolve_gpu(row["name"], tuple(updated.values()))
        except UnknownGpuError as exc:
            raise DataFileError(f"{where}: {exc}") from None
        changes = {c: v for c in PRICE_COLUMNS if (v := opt_float(row, c, where)) is not None}
        if any(v < 0 for v in changes.values()):
            raise DataFileError(f"{where}: prices must not be negative")
        if "cloud_usd_per_hour" in changes:  # a new rental price brings its own instance limit (blank: none)
            changes["cloud_max_gpus"] = opt_float(row, "cloud_max_gpus", where)
        changes.update({c: row[c] for c in PRICE_TEXT_COLUMNS if row.get(c)})
        if changes and not any(c in changes for c in ("price_as_of", "cloud_as_of")):
            changes.setdefault("price_source", f"user price file {path}")
        updated[gpu.name] = replace(gpu, **changes)
    return tuple(updated.values())
