"""`fit`: from a goal (model, tokens/s per user, users, context, budget) back to hardware.

The search space is every GPU x count x quantization x engine, evaluated in one vectorised pass
(``llmplan.evaluate``). For each GPU and count the best option is the highest-precision quantization
that fits and meets the target; options are ranked cheapest first, and the nearest misses are kept
with their binding constraint.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from llmplan import cost
from llmplan.engines import (GPUS_PER_NODE, backend_for, engines_running, format_support, resolve_engine,
                             tensor_parallel_degree)
from llmplan.errors import InvalidInputError
from llmplan.evaluate import evaluate, gpu_frame
from llmplan.quant import FIT_LADDER_GGUF, FIT_LADDER_SERVING, parse_quant
from llmplan.records import GpuSpec, ModelSpec

GPU_COUNTS = (1, 2, 4, 8)
# two nodes of 8, for the largest models: datacenter SXM/OAM parts with a tensor-parallel engine only
MULTI_NODE_COUNTS = (16,)
# 8-bit formats are one quality tier: Q8_0 (8.5 bpw) is +0.0004 perplexity vs F16 on LLaMA-7B
# (quant.PPL_DELTA_LLAMA1_7B) and FP8/INT8 (8.0 bpw) are near-lossless too (vLLM FP8 W8A8 docs, 2025), so
# among them (and 16 bit) the faster option wins, e.g. FP8 tensor-parallel over Q8_0 layer split
QUALITY_SATURATION_BPW = 8.0


@dataclass(frozen=True)
class FitRequest:
    tps_per_user: float | None = None
    users: int = 1
    context: int = 4096
    prompt_tokens: int = 512
    budget_usd: float | None = None
    hourly_budget_usd: float | None = None
    mode: str = "buy"  # buy | rent
    quant: str = "auto"
    engines: tuple[str, ...] = ("llama.cpp", "vllm")
    monthly_budget_usd: float | None = None
    ttft_s: float | None = None
    used: bool = False
    usd_per_kwh: float = cost.DEFAULT_USD_PER_KWH
    years: float = cost.DEFAULT_YEARS
    duty: float = 1.0  # share of the month the hardware serves (for $/month and amortisation)
    top: int = 10


@dataclass
class FitResult:
    options: pd.DataFrame
    rejected: pd.DataFrame
    searched: int
    notes: list[str] = field(default_factory=list)


def _check(req: FitRequest) -> None:
    if req.users < 1:
        raise InvalidInputError("--users must be at least 1")
    if req.context < req.prompt_tokens + 1:
        raise InvalidInputError(f"--context must exceed the prompt ({req.prompt_tokens} tokens)")
    if not 0 < req.duty <= 1:
        raise InvalidInputError("--duty must be in (0, 1]")
    for name, value in (("--tps", req.tps_per_user), ("--budget", req.budget_usd),
                        ("--hourly-budget", req.hourly_budget_usd), ("--monthly-budget", req.monthly_budget_usd),
                        ("--ttft", req.ttft_s), ("--years", req.years), ("--electricity", req.usd_per_kwh)):
        if value is not None and not value > 0:
            raise InvalidInputError(f"{name} must be positive")
    if req.mode not in ("buy", "rent"):
        raise InvalidInputError("mode must be buy or rent")
    if req.top < 1:
        raise InvalidInputError("--top must be at least 1")


def candidate_grid(model: ModelSpec, gpus: tuple[GpuSpec, ...], req: FitRequest) -> pd.DataFrame:
    """Every GPU x count x quant x engine combination the engines can run (before memory and speed)."""
    frame = gpu_frame(gpus)
    frame["street_usd"] = [g.street_usd for g in gpus]
    frame["launch_usd"] = [g.launch_usd for g in gpus]
    frame["used_usd"] = [g.used_usd for g in gpus]
    frame["cloud_usd_per_hour"] = [g.cloud_usd_per_hour for g in gpus]
    frame["cloud_max_gpus"] = [g.cloud_max_gpus for g in gpus]
    frame["backend"] = [backend_for(g.vendor, g.architecture) for g in gpus]
    frame["has_fp8"] = frame["fp8_tflops"].notna()
    combos = []
    for engine_name in req.engines:
        engine, _ = resolve_engine(engine_name)
        if req.quant != "auto":
            quants = [parse_quant(req.quant).name]
        else:
            quants = list(FIT_LADDER_GGUF if engine.name == "llama.cpp" else FIT_LADDER_SERVING)
        for q in quants:
            fmt = parse_quant(q)
            if fmt.kind not in engine.quant_kinds:
                continue
            combos.append((engine, fmt, engine.parallel_modes[0]))
    vendor_ok = (frame["vendor"].str.lower() != "apple").to_numpy() & (frame["form_factor"] != "laptop").to_numpy()
    server_ok = frame["form_factor"].isin(["sxm", "oam"]).to_numpy()
    backend = frame["backend"].to_numpy()
    architectures, has_fp8 = frame["architecture"].tolist(), frame["has_fp8"].tolist()
    picks: list[np.ndarray] = []
    labels: list[tuple[int, str, str, str, int]] = []
    for engine, fmt, parallel in combos:
        runs = np.array([not engine.vendor_rules or format_support(fmt.kind, a, f)[0]
                         for a, f in zip(architectures, has_fp8)], dtype=bool)
        ok = np.isin(backend, list(engine.backends)) & runs
        for n in GPU_COUNTS + (MULTI_NODE_COUNTS if parallel == "tp" else ()):
            mask = ok & (vendor_ok if n > 1 else True) & (server_ok if n > GPUS_PER_NODE else True)
            # one Apple SoC or laptop GPU per machine; TP needs the heads to divide by the GPUs of a node
            if parallel == "tp" and n > 1 and model.num_attention_heads % tensor_parallel_degree(n):
                continue
            index = np.flatnonzero(mask)
            picks.append(index)
            labels.append((len(index), n, fmt.name, engine.name, parallel))
    if not picks or not sum(len(p) for p in picks):
        able = engines_running(parse_quant(req.quant).kind)
        raise InvalidInputError(f"no engine in the search runs {req.quant}"
                                + (f" (add --engine {' or '.join(able)})" if able else ""))
    grid = frame.iloc[np.concatenate(picks)].reset_index(drop=True)
    sizes = [size for size, *_ in labels]
    for position, column in enumerate(("num_gpus", "quant", "engine", "parallel"), start=1):
        grid[column] = np.repeat([label[position] for label in labels], sizes)
    grid["num_gpus"] = grid["num_gpus"].astype(int)
    grid["batch"] = float(req.users)
    grid["prompt_tokens"] = req.prompt_tokens
    # each user's conversation grows from the prompt to the full context: decode speed is the mean over it
    # (users part-way through their conversations; the KV read at the mean position context/2 + prompt/2)
    grid["gen_tokens"] = req.context - req.prompt_tokens
    grid["context"] = req.context
    grid["kv_bytes_per_element"] = 2.0
    return grid


def solve(model: ModelSpec, gpus: tuple[GpuSpec, ...], req: FitRequest) -> FitResult:
    _check(req)
    grid = candidate_grid(model, gpus, req)
    ev = evaluate(model, grid)
    n = ev["num_gpus"].to_numpy(dtype=float)
    ev["upfront_usd"] = cost.purchase_usd(ev["street_usd"], ev["launch_usd"], ev["used_usd"], n, used=req.used)
    power = cost.power_usd_per_hour(ev["tdp_w"], n, req.usd_per_kwh)
    ev["power_usd_per_hour"] = power
    # a multi-node option rents whole nodes of GPUS_PER_NODE
    rent = cost.rent_usd_per_hour(ev["cloud_usd_per_hour"], n, np.minimum(n, GPUS_PER_NODE), ev["cloud_max_gpus"])
    ev["rent_usd_per_hour"] = rent
    # owning: power plus the purchase spread over the years of service (straight-line amortisation)
    ev["amortised_usd_per_hour"] = cost.amortised_usd_per_hour(ev["upfront_usd"], req.years, req.duty)
    own = power + ev["amortised_usd_per_hour"]
    ev["usd_per_hour"] = rent if req.mode == "rent" else own
    ev["usd_per_month"] = ev["usd_per_hour"] * cost.HOURS_PER_MONTH * req.duty
    ev["usd_per_million_tokens"] = cost.usd_per_million_tokens(ev["usd_per_hour"], ev["decode_tps"])
    ev["breakeven_months"] = cost.breakeven_months(ev["upfront_usd"], rent, power, req.duty)
    ev["decode_tps_per_user"] = ev["decode_tps_per_seq"]
    price = ev["upfront_usd"] if req.mode == "buy" else ev["rent_usd_per_hour"]
    ev["cost_key"] = price
    # quality saturates at 8 bits while 16 bit halves the speed: prefer the most precise option up to the
    # 8-bit tier (QUALITY_SATURATION_BPW), then the fastest
    bpw = {q: min(parse_quant(q).body_bpw, QUALITY_SATURATION_BPW) for q in ev["quant"].unique()}
    ev["bpw"] = ev["quant"].map(bpw)
    ev["stage"] = _stages(ev, req)
    ev["ok"] = ev["stage"] == 4
    notes = []
    if ev["cost_key"].isna().all():
        notes.append(f"no {'rental' if req.mode == 'rent' else 'purchase'} prices in the GPU table")
    elif req.mode == "rent":
        capped = ev.loc[ev["cloud_usd_per_hour"].notna() & ev["rent_usd_per_hour"].isna(), "name"].unique()
        if len(capped):
            notes.append(f"multi-GPU rentals of {', '.join(sorted(capped))} left out: the listed provider rents "
                         "fewer GPUs per instance (cloud_max_gpus; override with --prices)")
    # rank on a narrow frame of keys, then take the few chosen rows of the wide table once
    keys = ev[["name", "num_gpus", "bpw", "decode_tps", "cost_key", "stage", "ok"]]
    ranked = (keys[keys["ok"]].sort_values(["bpw", "decode_tps"], ascending=[False, False])
              .drop_duplicates(["name", "num_gpus"]).sort_values(["cost_key", "decode_tps"], ascending=[True, False]))
    # per GPU x count: the highest-precision quant that works, then the faster engine
    best = ev.loc[ranked.index].copy()
    best["pareto"] = _pareto(best["cost_key"].to_numpy(), best["decode_tps"].to_numpy())
    best["reason"] = [_accept_reason(r, req) for r in
                      best[["quant", "vram_gib_per_gpu", "gpu_memory_gib", "decode_tps_per_seq"]].itertuples()]
    chosen = pd.MultiIndex.from_frame(best[["name", "num_gpus"]])
    failed = keys[~pd.MultiIndex.from_frame(keys[["name", "num_gpus"]]).isin(chosen)]
    near = (failed.sort_values(["stage", "bpw"], ascending=[False, True]).drop_duplicates(["name", "num_gpus"]))
    near = near[near["stage"] > 0]  # unpriced hardware is no answer to "what should I buy"
    # the nearest misses first (fits but too slow / over budget), each stage cheapest first
    near = near.sort_values(["stage", "cost_key"], ascending=[False, True])
    # the K cheapest, plus every Pareto option beyond them (the fastest answer within the budget)
    shown = best.head(req.top)
    shown = pd.concat([shown, best[best["pareto"] & ~best.index.isin(shown.index)]])
    nearest = ev.loc[near.index[:req.top]].copy()
    nearest["reason"] = [_binding_reason(r, req) for r in nearest[[
        "stage", "name", "num_gpus", "quant", "batch", "vram_gib_per_gpu", "gpu_memory_gib", "decode_tps_per_seq",
        "ttft_s", "upfront_usd", "rent_usd_per_hour", "usd_per_month"]].itertuples()]
    by_name = {g.name: g for g in gpus}
    for frame in (shown, nearest):  # the date of the price each option was costed at
        frame["price_as_of"] = [_price_date(by_name.get(name), req) for name in frame["name"]]
    return FitResult(shown, nearest, searched=len(ev), notes=notes)


def _price_date(g: GpuSpec | None, req: FitRequest) -> str:
    """When the price an option is costed at was taken: the rental snapshot, the street/used snapshot, or
    the launch date for a launch price ('' when unknown)."""
    if g is None:
        return ""
    if req.mode == "rent":
        return g.cloud_as_of or ""
    if (req.used and g.used_usd) or g.street_usd:
        return g.price_as_of or ""
    return g.launch_date or ""


def _stages(ev: pd.DataFrame, req: FitRequest) -> np.ndarray:
    """How far each option got, vectorised: 0 not priced, 1 does not fit, 2 too slow, 3 over budget,
    4 accepted (higher = nearer to accepted)."""
    no_price = ev["cost_key"].isna().to_numpy()
    no_fit = ~ev["fits"].to_numpy(dtype=bool)
    slow = np.zeros(len(ev), dtype=bool)
    if req.tps_per_user:
        slow |= ~(ev["decode_tps_per_seq"].to_numpy(dtype=float) >= req.tps_per_user)
    if req.ttft_s:
        slow |= ~(ev["ttft_s"].to_numpy(dtype=float) <= req.ttft_s)
    over = np.zeros(len(ev), dtype=bool)
    if req.mode == "buy" and req.budget_usd:
        over |= (ev["upfront_usd"] > req.budget_usd).to_numpy()
    if req.mode == "rent" and req.hourly_budget_usd:
        over |= (ev["rent_usd_per_hour"] > req.hourly_budget_usd).to_numpy()
    if req.mode == "rent" and req.monthly_budget_usd:
        over |= (ev["usd_per_month"] > req.monthly_budget_usd).to_numpy()
    return np.select([no_price, no_fit, slow, over], [0, 1, 2, 3], default=4)


def _binding_reason(r, req: FitRequest) -> str:
    """The first constraint an option (a row of the evaluated table) fails, as one line."""
    if r.stage == 0:
        return "no price in the GPU table" if req.mode == "buy" else "no rental price in the GPU table"
    if r.stage == 1:
        return f"needs {r.vram_gib_per_gpu:.1f} GiB per GPU, {r.name} has {r.gpu_memory_gib:.1f} GiB ({r.quant})"
    if r.stage == 2:
        users = int(r.batch)
        hw = f"{int(r.num_gpus)}x {r.name} fits but "
        if req.tps_per_user and not r.decode_tps_per_seq >= req.tps_per_user:
            return (f"{hw}reaches {r.decode_tps_per_seq:.0f} tok/s per user ({r.quant}, {users} "
                    f"user{'s' if users > 1 else ''}); target {req.tps_per_user:g}")
        return f"{hw}first token takes {r.ttft_s:.2f} s ({r.quant}); target {req.ttft_s:g} s"
    if req.mode == "buy":
        return f"costs ${r.upfront_usd:,.0f}; budget ${req.budget_usd:,.0f}"
    if req.hourly_budget_usd and r.rent_usd_per_hour > req.hourly_budget_usd:
        return f"costs ${r.rent_usd_per_hour:.2f}/h; budget ${req.hourly_budget_usd:.2f}/h"
    return f"costs ${r.usd_per_month:,.0f}/month; budget ${req.monthly_budget_usd:,.0f}/month"


def _accept_reason(r, req: FitRequest) -> str:
    target = f" (target {req.tps_per_user:g})" if req.tps_per_user else ""
    return (f"{r.quant} fits in {r.vram_gib_per_gpu:.1f} of {r.gpu_memory_gib:.1f} GiB per GPU; "
            f"{r.decode_tps_per_seq:.0f} tok/s per user{target}")


def _pareto(costs: np.ndarray, speed: np.ndarray) -> np.ndarray:
    """True where no other option is at least as cheap and at least as fast (and better in one)."""
    flags = np.ones(len(costs), dtype=bool)
    for i in range(len(costs)):
        dominated = (costs <= costs[i]) & (speed >= speed[i]) & ((costs < costs[i]) | (speed > speed[i]))
        flags[i] = not dominated.any()
    return flags
