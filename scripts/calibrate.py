#!/usr/bin/env python3
"""Fit the per-backend engine constants of llmplan/engines.py to the calibration set, and report accuracy.

    PYTHONPATH=. python scripts/calibrate.py [--calibration PATH] [--iters 150] [--worst 5] [--quiet] [--rows]

Each constant is one entry of a per-backend dict of an EngineProfile (``bw_efficiency``,
``prefill_efficiency``, ``step_overhead_s``, read through ``engines.constants_for``). Only rows with
use=calibrate enter the fit; rows with use=validate-only (whole sources held out) are scored before and
after but never seen by the search. The fit minimises the source-weighted sum of squared
log(predicted / measured): a row weighs 1 / (rows of its source in its metric group), so one long
scoreboard counts as much as a single-row report. The rows of one (engine, backend) read only that
block's 2-3 constants, so each block is fitted on its own, jointly in log space (a grid pass, then a
bounded Nelder-Mead simplex: bandwidth efficiency and step overhead trade off against each other, which
coordinate descent crawls along); every evaluation goes through
``llmplan.validate.predict`` -> ``estimate_many`` with the dict entry replaced in memory
(``dataclasses.replace`` on ``llmplan.engines.PROFILES``). Nothing on disk is changed: the script prints
the recommended constants, the rows and sources each rests on, and the before/after accuracy.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from llmplan import engines  # noqa: E402
from llmplan.engines import backend_for, resolve_engine  # noqa: E402
from llmplan.gpus import resolve_gpu  # noqa: E402
from llmplan.validate import (GROUP_DECODE_B1, GROUP_DECODE_BATCHED, GROUP_PREFILL, GROUP_TTFT,  # noqa: E402
                              CalibrationRow, accuracy, band, headline, load_calibration, predict,
                              source_weights)

GROUPS = (GROUP_DECODE_B1, GROUP_DECODE_BATCHED, GROUP_PREFILL, GROUP_TTFT)
ATTRS = ("bw_efficiency", "prefill_efficiency", "step_overhead_s")
# bitsandbytes kernels (NF4 / LLM.int8()) are not bandwidth-bound: batch-1 NF4 runs below bf16 on H100 and
# LLM.int8() 2-3x below it (bitsandbytes benchmarking README, v0.45). The model has no per-kernel
# efficiency, so these rows are scored but kept out of the fit of the transformers constants.
FIT_SKIP_QUANTS = frozenset({"nf4", "llm.int8"})
# (engine, backends, bounds of bw_efficiency / prefill_efficiency / step_overhead_s; None = not fitted)
SPACE = (
    ("llama.cpp", ("cuda", "metal", "rocm", "vulkan"), (0.3, 1.0), (0.05, 1.0), (1e-5, 8e-3)),
    ("vllm", ("cuda",), (0.3, 1.0), (0.1, 1.0), (1e-5, 10e-3)),
    ("vllm", ("rocm",), (0.2, 1.0), (0.1, 1.0), (1e-5, 10e-3)),
    ("transformers", ("cuda",), (0.3, 1.0), None, (1e-4, 40e-3)),
    ("autoawq", ("cuda",), (0.3, 1.0), (0.1, 1.0), (1e-4, 20e-3)),
    ("mlx", ("metal",), (0.3, 1.0), (0.1, 1.0), (1e-5, 10e-3)),
)


@dataclass(frozen=True)
class Param:
    """One constant: PROFILES[engine].<attr>[backend]."""

    engine: str
    attr: str  # bw_efficiency | prefill_efficiency | step_overhead_s
    backend: str
    lo: float
    hi: float

    @property
    def label(self) -> str:
        return f"{self.engine}.{self.attr}[{self.backend}]"

    def current(self) -> float:
        return getattr(engines.PROFILES[self.engine], self.attr)[self.backend]


def parameters() -> list[Param]:
    return [Param(engine, attr, backend, *bounds)
            for engine, backends, *all_bounds in SPACE for backend in backends
            for attr, bounds in zip(ATTRS, all_bounds) if bounds]


@contextmanager
def patched(values: dict[Param, float]) -> Iterator[None]:
    """Replace per-backend dict entries of the EngineProfiles in memory for the duration of the block."""
    saved = dict(engines.PROFILES)
    try:
        for p, v in values.items():
            prof = engines.PROFILES[p.engine]
            engines.PROFILES[p.engine] = replace(prof, **{p.attr: {**getattr(prof, p.attr), p.backend: float(v)}})
        yield
    finally:
        engines.PROFILES.clear()
        engines.PROFILES.update(saved)


# ---------------------------------------------------------------- which constant a row reads

@lru_cache(maxsize=None)
def _vendor_backend(gpu_key: str) -> str:
    gpu = resolve_gpu(gpu_key)[0]
    return backend_for(gpu.vendor, gpu.architecture)


def profile_of(row: CalibrationRow) -> str:
    return resolve_engine(row.engine_key)[0].name


def constants_key(row: CalibrationRow) -> str:
    """The backend key of the dicts the row's prediction reads: the measured backend (validate.predict
    overrides the vendor default with it), or its engine's CUDA fallback where the engine lacks it."""
    backend = row.backend.strip().lower() or _vendor_backend(row.gpu_key)
    prof = engines.PROFILES[profile_of(row)]
    if backend in prof.bw_efficiency:
        return backend
    return "cuda" if "cuda" in prof.bw_efficiency else next(iter(prof.bw_efficiency))


# ---------------------------------------------------------------- objective and search

class Objective:
    """Source-weighted squared log error of a fixed row set, re-predicting only the rows a parameter touches."""

    def __init__(self, rows: Sequence[CalibrationRow], params: Sequence[Param]):
        base = predict(rows)
        self.rows = [r for r, p, e in base if e is None and p]
        self.failed = [(r, e or "no prediction") for r, p, e in base if e is not None or not p]
        self.weights = source_weights([(r, 1.0) for r in self.rows])
        self.params = list(params)
        self.values = {p: p.current() for p in params}
        self.touch = {p: [i for i, r in enumerate(self.rows)
                          if profile_of(r) == p.engine and constants_key(r) == p.backend] for p in params}
        self.loss = self._losses(range(len(self.rows)), self.values)

    def _losses(self, idx: Sequence[int], values: dict[Param, float]) -> np.ndarray:
        idx = list(idx)
        with patched(values):
            res = predict([self.rows[i] for i in idx])
        out = np.array([math.log(pred / row.measured) ** 2 if pred and err is None else 25.0
                        for row, pred, err in res])
        return out * self.weights[idx]

    def total(self) -> float:
        return float(self.loss.sum())

    def block_loss(self, ps: Sequence[Param], x: np.ndarray) -> float:
        """Total loss with the block's parameters at exp(x); a block's rows are touched by no other block."""
        idx = self.touch[ps[0]]
        trial = self._losses(idx, {**self.values, **{p: math.exp(v) for p, v in zip(ps, x)}})
        return self.total() - float(self.loss[idx].sum()) + float(trial.sum())

    def set(self, ps: Sequence[Param], x: np.ndarray) -> None:
        self.values.update({p: math.exp(v) for p, v in zip(ps, x)})
        self.loss[self.touch[ps[0]]] = self._losses(self.touch[ps[0]], self.values)


def _nelder_mead(f: Callable[[np.ndarray], float], x0: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                 iters: int, tol: float = 1e-7) -> np.ndarray:
    """Minimise f over the box [lo, hi] (points are clipped into it) by the Nelder-Mead simplex."""
    def g(x):
        return f(np.clip(x, lo, hi))

    simplex = [x0.copy()]
    for i in range(len(x0)):
        x = x0.copy()
        x[i] += 0.15 * (hi[i] - lo[i]) * (1 if x0[i] + 0.15 * (hi[i] - lo[i]) <= hi[i] else -1)
        simplex.append(x)
    values = [g(x) for x in simplex]
    for _ in range(iters):
        order = np.argsort(values)
        simplex, values = [simplex[i] for i in order], [values[i] for i in order]
        if values[-1] - values[0] < tol:
            break
        centroid = np.mean(simplex[:-1], axis=0)
        xr = centroid + (centroid - simplex[-1])
        fr = g(xr)
        if fr < values[0]:
            xe = centroid + 2 * (centroid - simplex[-1])
            fe = g(xe)
            simplex[-1], values[-1] = (xe, fe) if fe < fr else (xr, fr)
        elif fr < values[-2]:
            simplex[-1], values[-1] = xr, fr
        else:
            xc = centroid + 0.5 * (simplex[-1] - centroid)
            fc = g(xc)
            if fc < values[-1]:
                simplex[-1], values[-1] = xc, fc
            else:  # shrink towards the best point
                simplex = [simplex[0]] + [simplex[0] + 0.5 * (x - simplex[0]) for x in simplex[1:]]
                values = [values[0]] + [g(x) for x in simplex[1:]]
    return np.clip(simplex[int(np.argmin(values))], lo, hi)


def fit(obj: Objective, iters: int, log: Callable[[str], None]) -> dict[Param, float]:
    """Fit each (engine, backend) block of 2-3 correlated constants jointly, in log space: the best point
    of a 5-per-axis grid over the bounds (or the current values) starts a bounded Nelder-Mead simplex,
    restarted once from where it stopped."""
    blocks: dict[tuple[str, str], list[Param]] = defaultdict(list)
    for p in obj.params:
        if obj.touch[p]:
            blocks[(p.engine, p.backend)].append(p)
    for (engine, backend), ps in blocks.items():
        lo, hi = np.log([p.lo for p in ps]), np.log([p.hi for p in ps])
        grid = np.stack(np.meshgrid(*[np.linspace(a, b, 5) for a, b in zip(lo, hi)]), -1).reshape(-1, len(ps))
        starts = [np.clip(np.log([obj.values[p] for p in ps]), lo, hi), *grid]
        x = min(starts, key=lambda t: obj.block_loss(ps, t))
        before = obj.total()
        for _ in range(2):
            x = _nelder_mead(lambda t: obj.block_loss(ps, t), x, lo, hi, iters)
        obj.set(ps, x)
        log(f"  {engine}/{backend}: loss {before:.4f} -> {obj.total():.4f}")
    return {p: obj.values[p] for ps in blocks.values() for p in ps}


# ---------------------------------------------------------------- reporting

def _fmt(v: float) -> str:
    return f"{v * 1e3:.3g} ms" if v < 0.1 else f"{v:.3g}"


def headline_lines(results, title: str) -> list[str]:
    return [title] + [f"    {g:15s} n={d['n']:3d} sources={d['sources']:2d}  median ratio {d['median_ratio']:.2f}  "
                      f"within ±10% {d['within_10']:.0%}  ±25% {d['within_25']:.0%}  ±50% {d['within_50']:.0%}"
                      for g, d in headline(results).items()]


def breakdown_lines(results, dim: str) -> list[str]:
    return [f"    {d['key'][:70]:70s} {d['metric']:14s} n={d['n']:3d} median {d['median_ratio']:5.2f}  "
            f"±25% {d['within_25']:.0%}" for d in accuracy(results, by=(dim,)) if d["by"] == dim]


def provenance(obj: Objective, p: Param) -> str:
    by_source: dict[str, int] = defaultdict(int)
    groups: dict[str, int] = defaultdict(int)
    for i in obj.touch[p]:
        by_source[obj.rows[i].source] += 1
        groups[obj.rows[i].metric_group] += 1
    srcs = "; ".join(f"{s} ({n})" for s, n in sorted(by_source.items(), key=lambda kv: -kv[1]))
    kinds = ", ".join(f"{g} {n}" for g, n in sorted(groups.items()))
    return f"{len(obj.touch[p])} rows ({kinds}) from {len(by_source)} sources: {srcs}"


def band_line(results, title: str) -> str:
    try:
        lo, hi = band(results)
    except ValueError:
        return f"batch-1 decode band on {title}: no rows"
    return (f"batch-1 decode band on {title} (p10, p90 of predicted/measured): {lo:.2f}, {hi:.2f}  "
            f"-> DECODE_BAND = ({1 - 1 / hi:.2f}, {1 / lo - 1:.2f}) (fraction below, above the estimate)")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calibration", help="calibration CSV (default: the packaged llmplan/data/calibration.csv)")
    ap.add_argument("--iters", type=int, default=150, help="Nelder-Mead iterations per block")
    ap.add_argument("--worst", type=int, default=5, help="list the N worst-predicted held-out rows")
    ap.add_argument("--quiet", action="store_true", help="no per-engine/GPU class/backend/source breakdown")
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
    params = parameters()
    before_cal, before_val, before_all = predict(cal), predict(val), predict(used)
    obj = Objective(fit_rows, params)
    out(f"fit rows: {len(obj.rows)} predicted, {len(obj.failed)} without a prediction (not in the fit):")
    reasons: dict[str, int] = defaultdict(int)
    for _, e in obj.failed:
        reasons[e.split(":")[0][:90]] += 1
    for e, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
        out(f"    {n:3d} x {e}")
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for r in obj.rows:
        counts[(profile_of(r), constants_key(r))] += 1
    out("fit rows per (engine, backend): " + ", ".join(f"{e}/{b} {n}" for (e, b), n in sorted(counts.items())))
    out("fitting (source-weighted squared log ratio):")
    fitted = fit(obj, args.iters, out)

    out("\nRECOMMENDED CONSTANTS (llmplan/engines.py), current -> fitted:")
    for p, v in fitted.items():
        edge = " (AT BOUND)" if min(abs(math.log(v / p.lo)), abs(math.log(v / p.hi))) < 0.01 else ""
        out(f"  {p.label:38s} {_fmt(p.current()):>9s} -> {_fmt(v):>9s}{edge}   [{provenance(obj, p)}]")
    untouched = [p for p in params if not obj.touch[p]]
    if untouched:
        out("  no calibrate rows for: " + ", ".join(p.label for p in untouched))

    with patched(fitted):
        after_cal, after_val, after_all = predict(cal), predict(val), predict(used)
    for title, res in (("CURRENT constants, calibrate rows", before_cal),
                       ("FITTED constants, calibrate rows", after_cal), ("CURRENT constants, held-out validate-only rows", before_val),
                       ("FITTED constants, held-out validate-only rows", after_val)):
        out("")
        for line in headline_lines(res, title + " (sources weighted equally):"):
            out(line)
    out("")
    for title, res in (("held-out rows, current constants", before_val), ("held-out rows, fitted constants", after_val),
                       ("all usable rows, current constants", before_all),
                       ("all usable rows, fitted constants", after_all)):
        out(band_line(res, title))

    scored = sorted(((abs(math.log(p / r.measured)), r, p) for r, p, e in after_val if e is None and p),
                    key=lambda t: -t[0])
    out(f"\nWORST {args.worst} held-out rows, fitted constants (predicted / measured):")
    for _, r, p in scored[:args.worst]:
        out(f"    {r.id[:60]:60s} {r.metric:18s} {p:10.4g} / {r.measured:<10.4g} ratio {p / r.measured:.2f}")
    out("\nHELD-OUT rows with ONE block fitted, the rest current (source-weighted share within ±25%):")
    for engine, backend in dict.fromkeys((p.engine, p.backend) for p in fitted):
        with patched({p: v for p, v in fitted.items() if (p.engine, p.backend) == (engine, backend)}):
            h = headline(predict(val))
        out(f"    {engine + '/' + backend:18s} " + "  ".join(f"{g} {h[g]['within_25']:.0%}" for g in GROUPS if g in h))
    if args.rows:
        out("\nPER ROW (predicted/measured, current -> fitted):")
        before = {r.id: p for r, p, _ in before_all}
        for row, pred, err in after_all:
            r0 = before[row.id] / row.measured if before[row.id] else float("nan")
            r1 = pred / row.measured if pred else float("nan")
            out(f"    {row.use[:5]} {row.id[:52]:52s} {row.metric_group:14s} {r0:5.2f} -> {r1:5.2f} {err or ''}")
    if not args.quiet:
        for dim in ("engine", "gpu_class", "backend", "source"):
            out(f"\nFITTED, all usable rows by {dim} (unweighted):")
            for line in breakdown_lines(after_all, dim):
                out(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
