#!/usr/bin/env python3
"""Fit the few engine constants of llmplan/engines.py to the calibration set, and report accuracy.

    PYTHONPATH=. python scripts/calibrate.py [--calibration PATH] [--sweeps 3] [--quiet]

Only rows with use=calibrate enter the fit; rows with use=validate-only (whole sources held out) are
scored before and after but never seen by the search. The fit minimises the source-weighted sum of
squared log(predicted / measured): a row weighs 1 / (rows of its source in its metric group), so one
long scoreboard counts as much as a single-row report. The search is a scipy-free coordinate descent
(log-spaced grid, then golden-section refinement) over bounded parameters; every evaluation goes through
``llmplan.validate.predict`` -> ``estimate_many`` with the EngineProfile values replaced in memory
(``dataclasses.replace`` on ``llmplan.engines.PROFILES``). Nothing on disk is changed: the script prints
the recommended constants, the rows and sources each comes from, and the before/after accuracy.

Besides the constants the current model has (one prefill efficiency and one step overhead per engine),
it fits the same three per backend as a diagnostic of what a per-backend constant would buy, and it
scores the llama.cpp MXFP4 rows (gpt-oss) under an in-memory "what if llama.cpp ran fp4 weights" patch.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from llmplan import engines  # noqa: E402
from llmplan.engines import resolve_engine  # noqa: E402
from llmplan.validate import (GROUP_DECODE_B1, GROUP_DECODE_BATCHED, GROUP_PREFILL, GROUP_TTFT,  # noqa: E402
                              CalibrationRow, accuracy, band, load_calibration, predict, source_weights)

GROUPS = (GROUP_DECODE_B1, GROUP_DECODE_BATCHED, GROUP_PREFILL, GROUP_TTFT)
# bitsandbytes kernels (NF4 / LLM.int8()) are not bandwidth-bound: batch-1 NF4 runs below bf16 on H100 and
# LLM.int8() 2-3x below it (bitsandbytes benchmarking README, v0.45). The model has no per-kernel
# efficiency, so these rows are scored but kept out of the fit of the transformers constants.
FIT_SKIP_QUANTS = frozenset({"nf4", "llm.int8"})


@dataclass(frozen=True)
class Param:
    """One constant: ``attr`` of PROFILES[engine], for one backend key when attr is bw_efficiency."""

    engine: str
    attr: str  # bw_efficiency | prefill_efficiency | step_overhead_s
    backend: str | None
    lo: float
    hi: float

    @property
    def label(self) -> str:
        return f"{self.engine}.{self.attr}" + (f"[{self.backend}]" if self.backend else "")

    def current(self) -> float:
        prof = engines.PROFILES[self.engine]
        value = getattr(prof, self.attr)
        return value[self.backend] if self.backend else value


@contextmanager
def patched(values: dict[Param, float]) -> Iterator[None]:
    """Replace EngineProfile values in memory for the duration of the block."""
    saved = dict(engines.PROFILES)
    try:
        for p, v in values.items():
            prof = engines.PROFILES[p.engine]
            if p.backend:
                prof = replace(prof, bw_efficiency={**prof.bw_efficiency, p.backend: float(v)})
            else:
                prof = replace(prof, **{p.attr: float(v)})
            engines.PROFILES[p.engine] = prof
        yield
    finally:
        engines.PROFILES.clear()
        engines.PROFILES.update(saved)


@contextmanager
def llama_cpp_runs_fp4() -> Iterator[None]:
    """What-if: llama.cpp accepts MXFP4 weights (it does since 2025-08, for gpt-oss)."""
    saved = engines.PROFILES["llama.cpp"]
    engines.PROFILES["llama.cpp"] = replace(saved, quant_kinds=saved.quant_kinds | {"fp4"})
    try:
        yield
    finally:
        engines.PROFILES["llama.cpp"] = saved


@contextmanager
def patched_latency(nvlink_s: float) -> Iterator[None]:
    """Replace the NVLink-class all-reduce latency in place (evaluate holds the same dict)."""
    saved = engines.ALLREDUCE_LATENCY_S["nvlink"]
    engines.ALLREDUCE_LATENCY_S["nvlink"] = nvlink_s
    try:
        yield
    finally:
        engines.ALLREDUCE_LATENCY_S["nvlink"] = saved


@contextmanager
def _null() -> Iterator[None]:
    yield


@contextmanager
def gguf_prefill_at_fp16() -> Iterator[None]:
    """What-if: quantized GGUF prefill runs at the FP16 tensor peak (dequantize + FP16 GEMM), not INT8 MMQ."""
    from llmplan import evaluate

    original = evaluate.parse_quant

    def parse(name: str):
        fmt = original(name)
        return replace(fmt, compute="fp16") if fmt.is_gguf else fmt

    evaluate.parse_quant = parse
    try:
        yield
    finally:
        evaluate.parse_quant = original


def profile_of(row: CalibrationRow) -> str:
    return resolve_engine(row.engine_key)[0].name


def backend_of(row: CalibrationRow) -> str:
    return row.backend.strip().lower()


# ---------------------------------------------------------------- objective and search

class Objective:
    """Source-weighted squared log error of a fixed row set, re-predicting only the rows a parameter touches."""

    def __init__(self, rows: Sequence[CalibrationRow], params: Sequence[Param]):
        base = predict(rows)
        self.rows = [r for r, p, e in base if e is None and p]
        self.failed = [(r, e) for r, p, e in base if e is not None or not p]
        self.weights = source_weights([(r, 1.0) for r in self.rows])
        self.params = list(params)
        self.values = {p: p.current() for p in params}
        self.touch = {p: [i for i, r in enumerate(self.rows) if self._touches(p, r)] for p in params}
        self.loss = np.zeros(len(self.rows))
        self._refresh(range(len(self.rows)))

    @staticmethod
    def _touches(p: Param, row: CalibrationRow) -> bool:
        return profile_of(row) == p.engine and (p.backend is None or backend_of(row) == p.backend)

    def _losses(self, idx: Sequence[int], values: dict[Param, float]) -> np.ndarray:
        with patched(values):
            res = predict([self.rows[i] for i in idx])
        out = np.empty(len(idx))
        for k, (row, pred, err) in enumerate(res):
            out[k] = math.log(pred / row.measured) ** 2 if pred and err is None else 25.0
        return out * self.weights[list(idx)]

    def _refresh(self, idx) -> None:
        idx = list(idx)
        if idx:
            self.loss[idx] = self._losses(idx, self.values)

    def total(self) -> float:
        return float(self.loss.sum())

    def try_value(self, p: Param, v: float) -> float:
        idx = self.touch[p]
        trial = self._losses(idx, {**self.values, p: v})
        return self.total() - float(self.loss[idx].sum()) + float(trial.sum())

    def set(self, p: Param, v: float) -> None:
        self.values[p] = v
        self._refresh(self.touch[p])


def _golden(f: Callable[[float], float], a: float, b: float, iters: int = 12) -> float:
    g = (math.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(iters):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = f(d)
    return (a + b) / 2


def fit(obj: Objective, sweeps: int, log: Callable[[str], None]) -> dict[Param, float]:
    """Coordinate descent on log(value): a 9-point grid over the bounds, then golden-section refinement."""
    active = [p for p in obj.params if obj.touch[p]]
    for sweep in range(sweeps):
        before = obj.total()
        for p in active:
            lo, hi = math.log(p.lo), math.log(p.hi)
            grid = np.linspace(lo, hi, 9)
            scores = [obj.try_value(p, math.exp(x)) for x in grid]
            k = int(np.argmin(scores))
            a, b = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
            x = _golden(lambda t: obj.try_value(p, math.exp(t)), a, b)
            best = min([(obj.try_value(p, math.exp(x)), math.exp(x)), (scores[k], math.exp(grid[k])),
                        (obj.try_value(p, obj.values[p]), obj.values[p])])
            obj.set(p, best[1])
        log(f"  sweep {sweep + 1}: loss {before:.4f} -> {obj.total():.4f}")
        if before - obj.total() < 1e-4:
            break
    return {p: obj.values[p] for p in active}


# ---------------------------------------------------------------- reporting

def _fmt(v: float) -> str:
    return f"{v * 1e3:.2f} ms" if v < 0.1 else f"{v:.3f}"


def headline_lines(results, title: str) -> list[str]:
    acc = {d["metric"]: d for d in accuracy(results, by=()) if d["by"] == "headline"}
    lines = [title]
    for g in GROUPS:
        d = acc.get(g)
        if d:
            lines.append(f"    {g:15s} n={d['n']:3d} sources={d['sources']:2d}  "
                         f"median ratio {d['median_ratio']:.2f}  "
                         f"within ±10% {d['within_10']:.0%}  ±25% {d['within_25']:.0%}  ±50% {d['within_50']:.0%}")
    return lines


def breakdown_lines(results, dim: str) -> list[str]:
    lines = []
    for d in accuracy(results, by=(dim,)):
        if d["by"] != dim:
            continue
        lines.append(f"    {d['key'][:70]:70s} {d['metric']:14s} n={d['n']:3d} median {d['median_ratio']:5.2f}  "
                     f"±25% {d['within_25']:.0%}")
    return lines


def provenance(obj: Objective, p: Param) -> str:
    rows = [obj.rows[i] for i in obj.touch[p]]
    by_source: dict[str, int] = defaultdict(int)
    for r in rows:
        by_source[r.source] += 1
    srcs = "; ".join(f"{s} ({n})" for s, n in sorted(by_source.items(), key=lambda kv: -kv[1]))
    return f"{len(rows)} rows from {len(by_source)} sources: {srcs}"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calibration", help="calibration CSV (default: the packaged llmplan/data/calibration.csv)")
    ap.add_argument("--sweeps", type=int, default=3)
    ap.add_argument("--quiet", action="store_true", help="no per-source breakdown")
    ap.add_argument("--no-diagnostics", action="store_true", help="skip the per-backend and what-if fits")
    ap.add_argument("--rows", action="store_true", help="print every row's before/after ratio")
    args = ap.parse_args(argv)
    out = print
    rows = load_calibration(args.calibration)
    used = [r for r in rows if r.use != "exclude"]
    cal = [r for r in used if r.use == "calibrate"]
    val = [r for r in used if r.use == "validate-only"]
    out(f"calibration set: {len(rows)} rows; calibrate {len(cal)}, validate-only {len(val)}, "
        f"excluded {len(rows) - len(used)}")

    fit_rows = [r for r in cal if not (profile_of(r) == "transformers" and r.quant_key in FIT_SKIP_QUANTS)]
    params = [
        Param("llama.cpp", "bw_efficiency", "cuda", 0.3, 1.0),
        Param("llama.cpp", "bw_efficiency", "metal", 0.3, 1.0),
        Param("llama.cpp", "bw_efficiency", "rocm", 0.3, 1.0),
        Param("llama.cpp", "bw_efficiency", "vulkan", 0.3, 1.0),
        Param("llama.cpp", "prefill_efficiency", None, 0.1, 1.0),
        Param("llama.cpp", "step_overhead_s", None, 1e-5, 5e-3),
        Param("vllm", "bw_efficiency", "cuda", 0.3, 1.0),
        Param("vllm", "bw_efficiency", "rocm", 0.2, 1.0),
        Param("vllm", "prefill_efficiency", None, 0.1, 1.0),
        Param("vllm", "step_overhead_s", None, 1e-5, 10e-3),
        Param("transformers", "bw_efficiency", "cuda", 0.3, 1.0),
        Param("transformers", "step_overhead_s", None, 1e-4, 40e-3),
        Param("mlx", "bw_efficiency", "metal", 0.3, 1.0),
        Param("mlx", "prefill_efficiency", None, 0.1, 1.0),
        Param("mlx", "step_overhead_s", None, 1e-5, 10e-3),
    ]
    before_cal, before_val = predict(cal), predict(val)
    obj = Objective(fit_rows, params)
    out(f"fit rows: {len(obj.rows)} predicted, {len(obj.failed)} without a prediction (not in the fit):")
    reasons: dict[str, int] = defaultdict(int)
    for _, e in obj.failed:
        reasons[e.split(":")[0][:90]] += 1
    for e, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
        out(f"    {n:3d} x {e}")
    out("fitting (source-weighted squared log ratio):")
    fitted = fit(obj, args.sweeps, out)

    out("\nRECOMMENDED CONSTANTS (llmplan/engines.py), current -> fitted:")
    for p, v in fitted.items():
        out(f"  {p.label:40s} {_fmt(p.current()):>9s} -> {_fmt(v):>9s}   [{provenance(obj, p)}]")
    untouched = [p for p in params if not obj.touch[p]]
    if untouched:
        out("  no calibrate rows for: " + ", ".join(p.label for p in untouched))

    with patched(fitted):
        after_cal, after_val = predict(cal), predict(val)
        after_all = predict(used)
    for title, res in (("BEFORE, calibrate rows", before_cal), ("AFTER, calibrate rows", after_cal),
                       ("BEFORE, held-out validate-only rows", before_val),
                       ("AFTER, held-out validate-only rows", after_val)):
        out("")
        for line in headline_lines(res, title + " (sources weighted equally):"):
            out(line)
    for title, res in (("held-out rows", after_val), ("all rows (calibrate + validate-only)", after_all)):
        try:
            lo, hi = band(res)
            out(f"\nbatch-1 decode band on {title} (p10, p90 of predicted/measured): {lo:.2f}, {hi:.2f}  "
                f"-> DECODE_BAND = ({1 - 1 / hi:.2f}, {1 / lo - 1:.2f}) (fraction below, above the estimate)")
        except ValueError:
            pass
    if args.rows:
        out("\nPER ROW (predicted/measured before -> after):")
        before_all = {r.id: (p, e) for r, p, e in predict(used)}
        for row, pred, err in after_all:
            b = before_all[row.id][0]
            r0 = b / row.measured if b else float("nan")
            r1 = pred / row.measured if pred else float("nan")
            out(f"    {row.use[:5]} {row.id[:52]:52s} {row.metric_group:14s} {r0:5.2f} -> {r1:5.2f} {err or ''}")
    if not args.quiet:
        for dim in ("engine", "gpu_class", "backend", "source"):
            out(f"\nAFTER, all rows by {dim} (unweighted):")
            for line in breakdown_lines(after_all, dim):
                out(line)

    if args.no_diagnostics:
        return 0
    lcpp_fit = [r for r in fit_rows if profile_of(r) == "llama.cpp"]
    lcpp_val = [r for r in val if profile_of(r) == "llama.cpp"]
    other_val = [r for r, p, e in after_val if profile_of(r) != "llama.cpp"]
    with patched(fitted):
        other_res = [x for x in after_val if x[0] in other_val]
    for title, quant_patch in (("current peaks (GGUF k/legacy quants prefill at the INT8 tensor peak)", None),
                               ("GGUF prefill at the FP16 (fp16-accumulate) tensor peak", gguf_prefill_at_fp16)):
        out(f"\nDIAGNOSTIC: llama.cpp with bandwidth, prefill efficiency and step overhead PER BACKEND, {title}:")
        held: list = []
        for backend in ("cuda", "metal", "rocm", "vulkan"):
            sub = [r for r in lcpp_fit if backend_of(r) == backend]
            if not sub:
                continue
            ps = [Param("llama.cpp", "bw_efficiency", backend, 0.3, 1.0),
                  Param("llama.cpp", "prefill_efficiency", None, 0.05, 1.0),
                  Param("llama.cpp", "step_overhead_s", None, 1e-5, 8e-3)]
            with patched(fitted), (quant_patch() if quant_patch else _null()):
                o = Objective(sub, ps)
                vals = fit(o, args.sweeps, lambda s: None)
                with patched(vals):
                    res = predict(sub)
                    held += predict([r for r in lcpp_val if backend_of(r) == backend])
            h = {d["metric"]: d for d in accuracy(res, by=()) if d["by"] == "headline"}
            out(f"  {backend:7s} " + "  ".join(f"{p.attr}={_fmt(v)}" for p, v in vals.items())
                + "  | fit rows: " + "  ".join(f"{g} ±25% {h[g]['within_25']:.0%}" for g in GROUPS if g in h)
                + f"  ({len(o.rows)} rows)")
        for line in headline_lines(held + other_res, "  held-out rows with these per-backend llama.cpp constants:"):
            out(line)
    out("\nDIAGNOSTIC: serving engines (vllm profile) refitted with other NVLink/xGMI all-reduce latencies "
        "(engines.ALLREDUCE_LATENCY_S['nvlink'] is 8 us):")
    serving = [r for r in fit_rows if profile_of(r) == "vllm"]
    vparams = [p for p in params if p.engine == "vllm"]
    for latency in (8e-6, 20e-6, 40e-6):
        with patched_latency(latency):
            o = Objective(serving, vparams)
            vals = fit(o, args.sweeps, lambda s: None)
        out(f"  {latency * 1e6:4.0f} us: loss {o.total():.3f}  "
            + "  ".join(f"{p.label.split('.', 1)[1]}={_fmt(v)}" for p, v in vals.items()))
    out("\nDIAGNOSTIC: llama.cpp MXFP4 rows (gpt-oss) if llama.cpp accepted fp4 weights, fitted constants:")
    mx = [r for r in used if profile_of(r) == "llama.cpp" and r.quant_key == "mxfp4"]
    with patched(fitted), llama_cpp_runs_fp4():
        res = predict(mx)
    for row, pred, err in res:
        ratio = f"{pred / row.measured:5.2f}" if pred else "  -  "
        out(f"    {row.id[:55]:55s} {row.metric_group:14s} ratio {ratio} {err or ''}")
    for line in headline_lines(res, "  headline of these rows:"):
        out(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
