"""Turn library results into rows for the one rendering path (llmplan.cli.render)."""

from __future__ import annotations

from dataclasses import asdict, fields

from llmplan.cli.render import OutputFormat, emit, message, print_kv, print_table
from llmplan.records import Estimate, GpuSpec, ModelSpec

BAND_NOTE = ("speed band: the 10th-90th percentile of predicted/measured for that engine over the calibration set "
             "(batched decode rows for batches > 1; `llmplan validate`)")


# ----------------------------------------------------------------------------------- estimate

def run_scenarios(path: str, gpus, token: str | None) -> list[Estimate]:
    """Every row of a scenario file, in order; each distinct model is resolved once."""
    from llmplan.errors import LlmplanError
    from llmplan.estimate import error_estimate, estimate_many, read_scenarios
    from llmplan.records import Scenario
    from llmplan.resolve import resolve_model

    rows = read_scenarios(path)
    results: list[Estimate | None] = [None] * len(rows)
    by_model: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        if isinstance(row, LlmplanError):
            results[i] = error_estimate(Scenario(model="", gpu=""), str(row))
        else:
            by_model.setdefault(row.model.strip().lower(), []).append(i)
    for indices in by_model.values():
        scenarios = [rows[i] for i in indices]
        try:
            spec, _ = resolve_model(scenarios[0].model, token=token)
        except LlmplanError as exc:
            for i, s in zip(indices, scenarios):
                results[i] = error_estimate(s, str(exc))
            continue
        for i, est in zip(indices, estimate_many(spec, scenarios, gpus)):
            results[i] = est
    return [r for r in results if r is not None]


ESTIMATE_TABLE = ["id", "gpu", "num_gpus", "quant", "engine", "batch", "context", "vram_gib_per_gpu",
                  "gpu_memory_gib", "fits", "decode_tps", "decode_tps_per_seq", "prefill_tps", "ttft_s", "error"]


def show_estimates(results: list[Estimate], fmt: OutputFormat, single: bool) -> None:
    rows = [asdict(r) for r in results]
    columns = [f.name for f in fields(Estimate)]
    if fmt is OutputFormat.table and single:
        _estimate_card(results[0])
    elif fmt is OutputFormat.table:
        emit(rows, fmt, columns=columns, table_columns=ESTIMATE_TABLE, title="Estimates")
    else:
        emit(rows, fmt, columns=columns, single=single)
    for r in results:
        for w in r.warnings:
            message(f"warning: {r.id + ': ' if r.id else ''}{w}")
    if fmt is OutputFormat.table:
        message(BAND_NOTE)


def _estimate_card(e: Estimate) -> None:
    setup = f"{e.num_gpus}x {e.gpu}, {e.quant} on {e.engine}" + (f" ({e.parallel})" if e.num_gpus > 1 else "")
    headroom = (e.gpu_memory_gib - e.vram_gib_per_gpu) if e.gpu_memory_gib is not None else None
    memory = [
        ("weights", f"{e.weights_gib:.2f} GiB on the GPU{'s' if e.num_gpus > 1 else ''}"
                    + (f" (of {e.model_weights_gib:.2f} GiB)" if e.model_weights_gib - e.weights_gib > 0.005 else "")),
        ("KV cache", f"{e.kv_cache_gib:.2f} GiB ({e.batch} x {e.context} tokens)"),
        ("activations", f"{e.activations_gib:.2f} GiB"),
        ("runtime overhead", f"{e.runtime_overhead_gib:.2f} GiB"),
        ("total", f"{e.vram_gib:.2f} GiB ({e.vram_gib_per_gpu:.2f} GiB per GPU)"),
        ("GPU memory", f"{e.gpu_memory_gib:.2f} GiB per GPU usable"),
        *([("system RAM", f"{e.system_ram_gib:.2f} GiB ("
                          + (f"{e.offload_layers} layers on the CPU" if e.offload_layers else
                             "llama.cpp keeps the token embedding in system RAM") + ")")]
          if e.system_ram_gib else []),
        ("fits", f"{'yes' if e.fits else 'NO'} (headroom {headroom:+.2f} GiB per GPU)"),
    ]
    print_kv(memory, title=f"{e.model} on {setup}: memory")
    if e.fits and e.decode_tps is not None:
        speed = [
            ("decode", f"{e.decode_tps:.1f} tok/s total, {e.decode_tps_per_seq:.1f} per sequence "
                       f"(band {e.decode_tps_low:.1f}-{e.decode_tps_high:.1f}; {e.bound}-bound)"),
            ("prefill", "-" if e.prefill_tps is None else f"{e.prefill_tps:,.0f} tok/s"),
            ("time to first token", "-" if e.ttft_s is None else f"{e.ttft_s:.3f} s ({e.prompt_tokens}-token prompt)"),
            ("time per output token", f"{e.tpot_ms:.1f} ms"),
            ("end to end", "-" if e.e2e_s is None else f"{e.e2e_s:.2f} s for {e.gen_tokens} tokens"),
            ("max batch at this context", str(e.max_batch)),
        ]
        print_kv(speed, title="speed")


# ---------------------------------------------------------------------------------------- fit

FIT_COLUMNS = ["rank", "gpu", "num_gpus", "segment", "vendor", "quant", "engine", "parallel", "fits", "vram_gib_per_gpu",
               "decode_tps", "decode_tps_per_user", "decode_tps_low", "decode_tps_high", "prefill_tps", "ttft_s",
               "upfront_usd", "usd_per_hour", "usd_per_month", "usd_per_million_tokens", "breakeven_months",
               "pareto", "accepted", "reason", "notes", "price_as_of"]
# A price snapshot older than this many days gets a note in `fit` (a definition: one year).
STALE_PRICE_DAYS = 365
# From this many add-in cards in one box, `fit` notes the platform they need (a threshold of ours, not a
# measured fact).
MANY_CARDS = 4


def _fit_rows(frame, accepted: bool, start: int) -> list[dict]:
    from llmplan.engines import resolve_engine
    from llmplan.evaluate import beyond_measured_batch
    from llmplan.quant import quality_note

    rows = []
    for i, r in enumerate(frame.to_dict("records"), start=start):
        notes = [quality_note(r["quant"])]
        if r.get("segment") == "consumer" and r.get("vendor") == "NVIDIA":
            notes.append("GeForce: NVIDIA's driver licence bars datacenter deployment; no ECC; consumer warranty; "
                         "no NVLink on RTX 40/50")
        elif r.get("segment") == "consumer":
            notes.append(f"{r.get('vendor')} consumer card: no ECC, consumer warranty; fewer engines support "
                         f"{'ROCm' if r.get('vendor') == 'AMD' else 'its backend'} than CUDA")
        elif r.get("segment") == "workstation":
            notes.append("workstation: ECC, pro drivers and warranty, blower cooling for multi-GPU")
        elif r.get("segment") == "apple":
            notes.append("Apple: one machine, no multi-GPU; unified memory shared with macOS")
        elif r.get("segment") == "datacenter":
            notes.append("datacenter: ECC, rated for 24/7, enterprise support; passive cooling needs a server chassis "
                         "with its airflow and power; resale market mostly B2B")
        if r.get("form_factor") == "pcie" and r["num_gpus"] >= MANY_CARDS:
            notes.append(f"{MANY_CARDS} or more cards in one machine need a board with a PCIe slot for each (a server "
                         "or workstation platform, often with risers) and a power supply for their combined TDP; "
                         "the upfront price is the cards alone")
        rows.append({
            "rank": i if accepted else None, "gpu": r["name"], "num_gpus": int(r["num_gpus"]),
            "segment": r["segment"], "vendor": r["vendor"], "quant": r["quant"], "engine": r["engine"], "parallel": r["parallel"],
            "fits": bool(r["fits"]), "vram_gib_per_gpu": round(r["vram_gib_per_gpu"], 2),
            "decode_tps": r["decode_tps"], "decode_tps_per_user": r["decode_tps_per_user"],
            "decode_tps_low": r["decode_tps_low"], "decode_tps_high": r["decode_tps_high"],
            "prefill_tps": r["prefill_tps"], "ttft_s": r["ttft_s"], "upfront_usd": r["upfront_usd"],
            "usd_per_hour": r["usd_per_hour"], "usd_per_month": r["usd_per_month"],
            "usd_per_million_tokens": r["usd_per_million_tokens"], "breakeven_months": r["breakeven_months"],
            "pareto": bool(r.get("pareto", False)), "accepted": accepted, "reason": r["reason"], "notes": notes,
            "price_as_of": r.get("price_as_of", "")})
        extrapolated = beyond_measured_batch(resolve_engine(r["engine"])[0].name, int(r["batch"]))
        if extrapolated:
            notes.append(extrapolated)
        stale = _stale_price_note(r.get("price_as_of", ""))
        if stale:
            notes.append(stale)
    return rows


def _stale_price_note(as_of: str) -> str:
    """A note when the price snapshot an option is costed at is over STALE_PRICE_DAYS old (today's date)."""
    import datetime as dt

    try:
        if len(as_of) >= 10:
            taken = dt.date.fromisoformat(as_of[:10])
        else:  # a month or a year: its last day at the latest (the 28th is in every month)
            taken = dt.date(int(as_of[:4]), int(as_of[5:7]), 28) if len(as_of) >= 7 else dt.date(int(as_of[:4]), 12, 31)
    except ValueError:
        return ""
    if (dt.date.today() - taken).days <= STALE_PRICE_DAYS:
        return ""
    return ("price snapshot over a year old (`llmplan gpus show NAME` has its date): check current rates or pass "
            "them with --prices")


def show_fit(model: ModelSpec, req, result, fmt: OutputFormat) -> None:
    options = _fit_rows(result.options, True, 1)
    rejected = _fit_rows(result.rejected, False, 1)
    if fmt is not OutputFormat.table:
        emit(options + rejected, fmt, columns=FIT_COLUMNS)
    else:
        goal = [f"{req.users} user{'s' if req.users > 1 else ''}", f"{req.context} context"]
        if req.tps_per_user:
            goal.append(f">= {req.tps_per_user:g} tok/s each")
        if req.budget_usd and req.mode == "buy":
            goal.append(f"budget ${req.budget_usd:,.0f}")
        if req.hourly_budget_usd and req.mode == "rent":
            goal.append(f"budget ${req.hourly_budget_usd:.2f}/h")
        cost_col = "upfront_usd" if req.mode == "buy" else "usd_per_hour"
        title = f"{model.repo_id}: {'buy' if req.mode == 'buy' else 'rent'} options ({', '.join(goal)})"
        for r in options:
            r["hardware"] = f"{r['num_gpus']}x {r['gpu']}"
            r["tok/s"] = _speed(r)
            r["engine"] = r["engine"] + (f" {r['parallel']}" if r["num_gpus"] > 1 else "")
            r["pareto"] = "*" if r["pareto"] else ""
        headers = {"upfront_usd": "upfront $", "usd_per_hour": "$/h (rent)" if req.mode == "rent" else "own $/h",
                   "usd_per_million_tokens": "$/1M tok", "vram_gib_per_gpu": "GiB/GPU", "ttft_s": "TTFT s",
                   "breakeven_months": "break-even mo", "pareto": "P"}
        cols = ["rank", "hardware", "quant", "engine", "vram_gib_per_gpu", "tok/s", "ttft_s", cost_col,
                "usd_per_million_tokens", "pareto"]
        if req.mode == "buy":
            cols[-2:-2] = ["usd_per_hour"]
            cols.insert(-1, "breakeven_months")
        if options:
            print_table(options, cols, headers, title)
            by_note: dict[str, list[str]] = {}
            for r in options:
                for note in r["notes"]:
                    by_note.setdefault(note, []).append(str(r["rank"]))
            print_table([{"ranks": ", ".join(v), "note": k} for k, v in by_note.items()], ["ranks", "note"], {},
                        "Trade-offs")
        else:
            message(f"No option meets the goal ({', '.join(goal)}).")
        if rejected:
            for r in rejected:
                r["hardware"] = f"{r['num_gpus']}x {r['gpu']}"
            print_table(rejected, ["hardware", "quant", "reason"], {}, "Nearest misses (binding constraint)")
    message(f"searched {result.searched} options (GPU x count x quant x engine); tok/s is per user, "
            f"total in brackets, the mean over conversations growing from a {req.prompt_tokens}-token prompt to "
            f"the {req.context}-token context; P marks the cost/speed Pareto front; `--explain N` shows the arithmetic")
    if req.mode == "buy":
        message(f"own $/h = power ({req.usd_per_kwh:g} $/kWh) + purchase amortised over {req.years:g} years at "
                f"{req.duty:.0%} duty; $/1M tok at that cost and the aggregate speed")
    message("prices are dated snapshots from gpu_specs.csv (see `llmplan gpus show NAME`); override them with "
            "--prices FILE")
    message(BAND_NOTE)
    for note in result.notes:
        message(f"note: {note}")


def _speed(r: dict) -> str:
    per_user, total = r["decode_tps_per_user"], r["decode_tps"]
    if per_user is None:
        return "-"
    return f"{per_user:.0f}" if r["num_gpus"] and abs(total - per_user) < 0.5 else f"{per_user:.0f} ({total:.0f})"


# --------------------------------------------------------------------------------------- gpus

GPU_LIST_COLUMNS = ["name", "vendor", "segment", "memory_gib", "memory_bw_gbs", "fp16_tflops", "fp8_tflops",
                    "tdp_w", "street_usd", "cloud_usd_per_hour"]
_ASCENDING = {"name", "vendor", "segment", "street_usd", "launch_usd", "used_usd", "cloud_usd_per_hour", "tdp_w"}


def show_gpu_list(gpus, segment, vendor, min_memory, max_price, sort: str, fmt: OutputFormat) -> None:
    from llmplan.errors import InvalidInputError

    rows = [asdict(g) for g in gpus]
    if segment:
        rows = [r for r in rows if r["segment"] == segment.strip().lower()]
    if vendor:
        rows = [r for r in rows if r["vendor"].lower() == vendor.strip().lower()]
    if min_memory is not None:
        rows = [r for r in rows if r["memory_gib"] >= min_memory]
    if max_price is not None:
        rows = [r for r in rows if (r["street_usd"] or r["launch_usd"] or float("inf")) <= max_price]
    if sort not in (rows[0] if rows else {f.name: None for f in fields(GpuSpec)}):
        raise InvalidInputError(f"cannot sort by {sort!r}; use a column such as memory_bw_gbs, memory_gib, "
                                "fp16_tflops, street_usd, name")
    asc = sort in _ASCENDING
    present = [r for r in rows if r[sort] not in (None, "")]
    missing = [r for r in rows if r[sort] in (None, "")]
    rows = sorted(present, key=lambda r: r[sort], reverse=not asc) + missing
    headers = {"memory_gib": "GB", "memory_bw_gbs": "GB/s", "fp16_tflops": "FP16 TFLOPS", "fp8_tflops": "FP8",
               "tdp_w": "W", "street_usd": "street $", "cloud_usd_per_hour": "cloud $/h"}
    emit(rows, fmt, columns=[f.name for f in fields(GpuSpec)], table_columns=GPU_LIST_COLUMNS, headers=headers,
         title=f"{len(rows)} GPUs")


def show_gpu(gpu: GpuSpec, fmt: OutputFormat) -> None:
    row = asdict(gpu)
    if fmt is OutputFormat.table:
        print_kv([(k, v) for k, v in row.items() if v not in (None, "", ())], title=gpu.name)
    else:
        emit([row], fmt, single=True)


COMPARE_FIELDS = [("memory_gib", "memory GB"), ("memory_type", "memory type"), ("memory_bw_gbs", "bandwidth GB/s"),
                  ("fp16_tflops", "FP16 tensor TFLOPS (dense, FP32 acc)"), ("bf16_tflops", "BF16 TFLOPS"),
                  ("fp8_tflops", "FP8 TFLOPS"), ("fp4_tflops", "FP4 TFLOPS"), ("tdp_w", "TDP W"),
                  ("nvlink_gbs", "NVLink GB/s"), ("ecc", "ECC"), ("launch_usd", "launch $"),
                  ("street_usd", "street $"), ("used_usd", "used $"), ("price_as_of", "price as of"),
                  ("usd_per_gb", "$ per GB"), ("usd_per_gbs", "$ per GB/s"), ("cloud_usd_per_hour", "cloud $/h"),
                  ("cloud_provider", "cloud provider"), ("cloud_as_of", "cloud as of")]


def _compare_row(g: GpuSpec) -> dict:
    row = asdict(g)
    price = g.street_usd or g.launch_usd
    row["usd_per_gb"] = round(price / g.memory_gib, 1) if price else None
    row["usd_per_gbs"] = round(price / g.memory_bw_gbs, 2) if price and g.memory_bw_gbs else None
    return row


def show_gpu_compare(gpus: list[GpuSpec], fmt: OutputFormat) -> None:
    rows = [_compare_row(g) for g in gpus]
    if fmt is not OutputFormat.table:
        emit(rows, fmt)
        return
    pivot = [{"spec": label, **{g.name: r.get(key) for g, r in zip(gpus, rows)}} for key, label in COMPARE_FIELDS]
    print_table(pivot, ["spec", *[g.name for g in gpus]], {}, "GPU comparison")
    message("dense tensor throughput (no 2:4 sparsity); prices are dated snapshots, see `llmplan gpus show NAME`")


# --------------------------------------------------------------------------------------- info

INFO_QUANTS = ("BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K", "fp8", "awq")


def info_data(m: ModelSpec, context: int) -> dict:
    from llmplan import architecture as arch
    from llmplan.engines import GIB
    from llmplan.memory import model_weight_bytes
    from llmplan.quant import for_model, parse_quant

    kv = float(arch.kv_cache_bytes(m, context, 1, 2.0)) / GIB
    memory = []
    for q in INFO_QUANTS:
        w = model_weight_bytes(m, for_model(m, parse_quant(q))) / GIB
        memory.append({"quant": q, "weights_gib": round(w, 2), "kv_cache_gib": round(kv, 2),
                       "total_gib": round(w + kv, 2)})
    facts = {k: v for k, v in asdict(m).items() if v not in (None, "", ()) and k != "evals"}
    facts["params_total"] = arch.params_total(m)
    facts["params_active"] = arch.params_active(m)
    facts["params_computed"] = arch.param_breakdown(m).total
    facts["kv_bytes_per_token_f16"] = int(sum(arch.kv_elements_per_token(m)) * 2)
    from llmplan.licenses import caveat, group_of

    facts["license_group"] = group_of(m.license)
    facts["license_caveat"] = caveat(m.license)
    from llmplan.evals import scores_for

    facts["evals"] = [asdict(e) for e in (m.evals or scores_for(m.repo_id))]
    return {**facts, "context": context, "memory": memory}


def show_info(m: ModelSpec, context: int, fmt: OutputFormat) -> None:
    data = info_data(m, context)
    if fmt is OutputFormat.json:
        emit([data], fmt, single=True)
        return
    if fmt is not OutputFormat.table:
        emit(data["memory"], fmt)
        return
    moe = f", MoE {m.num_experts} experts, {m.experts_per_token} per token" if m.is_moe else ""
    attn = "MLA" if m.is_mla else ("MHA" if m.num_kv_heads == m.num_attention_heads else
                                   ("MQA" if m.num_kv_heads == 1 else f"GQA ({m.num_kv_heads} KV heads)"))
    swa = ""
    if m.sliding_window_tokens:
        swa = f", sliding window {m.sliding_window_tokens}" + (
            f" on {m.sliding_window_pattern - 1} of every {m.sliding_window_pattern} layers"
            if m.sliding_window_pattern else " on all layers")
    pairs = [
        ("repo", m.repo_id), ("family", m.family),
        ("parameters", f"{data['params_total'] / 1e9:.2f} B total" + (
            f", {data['params_active'] / 1e9:.2f} B active" if m.is_moe else "")),
        ("architecture", f"{m.num_layers} layers, hidden {m.hidden_size}, {m.num_attention_heads} heads, "
                         f"{attn}{moe}{swa}"),
        ("context", f"{m.max_context_tokens:,} tokens"),
        ("KV cache", f"{data['kv_bytes_per_token_f16'] / 1024:.1f} KiB per token (f16)"),
        ("license", f"{m.license} ({data['license_group']})" + (" - gated: accept the licence on the Hub and set "
                                                               "HF_TOKEN to download" if m.gated else "")),
        ("task", m.pipeline_tag),
        ("popularity", f"{m.downloads:,} downloads, {m.likes:,} likes" if m.downloads is not None
         else "not in the offline catalog (the Hub has it)"),
        ("source", m.source), ("as of", m.as_of),
    ]
    print_kv(pairs, title=m.repo_id)
    print_table(data["memory"], ["quant", "weights_gib", "kv_cache_gib", "total_gib"],
                {"weights_gib": "weights GiB", "kv_cache_gib": f"KV GiB @ {context}", "total_gib": "total GiB"},
                f"memory at {context} tokens of context (batch 1, f16 KV)")
    if data["evals"]:
        print_table(data["evals"], ["benchmark", "value", "metric", "setting"], {},
                    "published evaluation results (sources: --format json)")
    if data["license_caveat"]:
        message(f"licence: {data['license_caveat']}")


# ----------------------------------------------------------------------------------- validate

VALIDATION_COLUMNS = ["by", "key", "metric", "n", "sources", "median_ratio", "within_10", "within_25", "within_50"]


def show_validation(by: list[str], rows: str, fmt: OutputFormat) -> None:
    from llmplan.errors import InvalidInputError
    from llmplan.validate import GROUP_DECODE_BATCHED, accuracy, band, load_calibration, predict

    if rows not in ("all", "calibrate", "validate-only"):
        raise InvalidInputError("--rows must be all, calibrate or validate-only")
    data = [r for r in load_calibration() if r.use != "exclude" and (rows == "all" or r.use == rows)]
    if not data:
        raise InvalidInputError(f"no calibration rows with use={rows}")
    results = predict(data)
    table = accuracy(results, by=tuple(by))
    failed = sum(1 for _, _, err in results if err)
    if fmt is not OutputFormat.table:
        emit(table, fmt, columns=VALIDATION_COLUMNS)
    else:
        pct = {"within_10": "±10%", "within_25": "±25%", "within_50": "±50%", "median_ratio": "median pred/meas"}
        shown = [{**r, **{k: f"{r[k]:.0%}" for k in ("within_10", "within_25", "within_50")},
                  "median_ratio": f"{r['median_ratio']:.2f}"} for r in table]
        head = [r for r in shown if r["by"] == "headline"]
        rest = [r for r in shown if r["by"] != "headline"]
        print_table(head, ["metric", "n", "sources", "median_ratio", "within_10", "within_25", "within_50"], pct,
                    f"Headline ({rows} rows; every source weighted equally)")
        for dim in by:
            part = [r for r in rest if r["by"] == dim]
            if part:
                print_table(part, ["key", "metric", "n", "median_ratio", "within_10", "within_25", "within_50"],
                            {**pct, "key": dim}, f"By {dim}")
    try:
        low, high = band(results)
        message(f"batch-1 decode band (10th-90th percentile of predicted/measured): {low:.2f}-{high:.2f}")
        from llmplan.evaluate import DECODE_RATIO_BAND
        from llmplan.validate import band_by_engine

        bands = band_by_engine(results)
        per_engine = ["{} {:.2f}-{:.2f}".format(name, *bands[name]) for name in DECODE_RATIO_BAND if name in bands]
        if per_engine:
            message("  per engine (the band each prediction carries): " + ", ".join(per_engine))
        low, high = band(results, group=GROUP_DECODE_BATCHED)
        message(f"batched decode band (carried by every prediction at batch > 1): {low:.2f}-{high:.2f}")
    except ValueError:
        pass
    if failed:
        message(f"note: {failed} row(s) could not be predicted (a spec or model is missing)")


def _explain_memory(model: ModelSpec, r: dict, n: int) -> list[str]:
    """The per-GPU memory sum of a fit option, as lines (uneven under llama.cpp's layer split)."""
    from llmplan.memory import llama_cpp_layer_counts

    act, run = r["activations_gib"] / n, r["runtime_overhead_gib"] / n
    if r["engine"] == "llama.cpp" and r["parallel"] == "pp":
        counts = llama_cpp_layer_counts(model.num_layers, n)
        lines = [f"  weights {r['weights_gib']:.2f} GiB + KV cache {r['kv_cache_gib']:.2f} GiB split by layer "
                 f"({' + '.join(map(str, counts))} of {model.num_layers} layers"
                 + (", the output layer on the last GPU)" if n > 1 else ", and the output layer)"),
                 f"  fullest GPU: its layers + activations {act:.2f} GiB + runtime {run:.2f} GiB = "
                 f"{r['vram_gib_per_gpu']:.2f} GiB <= {r['gpu_memory_gib']:.2f} GiB usable"]
    else:
        lines = [f"  weights {r['weights_gib']:.2f} GiB / {n} GPU(s) + KV cache {r['kv_cache_gib'] / n:.2f} GiB + "
                 f"activations {act:.2f} GiB + runtime {run:.2f} GiB = {r['vram_gib_per_gpu']:.2f} GiB "
                 f"<= {r['gpu_memory_gib']:.2f} GiB usable"]
    if r.get("system_ram_gib"):
        lines.append(f"  system RAM: {r['system_ram_gib']:.2f} GiB (llama.cpp keeps the token embedding there)")
    return lines


def _explain_rent(g: GpuSpec, r: dict, n: int) -> str:
    if not g.cloud_usd_per_hour:
        return "  rent: no cloud price in the table"
    head = f"  rent: {n} x ${g.cloud_usd_per_hour:.2f}/GPU-h ({g.cloud_provider}, {g.cloud_as_of})"
    if r["rent_usd_per_hour"] != r["rent_usd_per_hour"]:  # NaN: more GPUs than the provider puts in one instance
        return f"{head}: not rentable as one machine, the provider rents at most {g.cloud_max_gpus:g} per instance"
    return f"{head} = ${r['rent_usd_per_hour']:.2f}/h"


def explain_fit(model: ModelSpec, req, result, rank: int, gpus: dict) -> None:
    """The arithmetic behind option ``rank`` (1-based) of a fit, line by line, with the sources."""
    from llmplan.cost import HOURS_PER_MONTH, HOURS_PER_YEAR, POWER_UTILIZATION
    from llmplan.errors import InvalidInputError

    options = result.options.to_dict("records")
    if not 1 <= rank <= len(options):
        raise InvalidInputError(f"--explain takes an option number from 1 to {len(options)}")
    r = options[rank - 1]
    g = gpus[r["name"]]
    n = int(r["num_gpus"])
    lines = [
        f"Option {rank}: {n}x {g.name}, {r['quant']} on {r['engine']}" + (f" ({r['parallel']})" if n > 1 else ""),
        f"model: {model.repo_id}; {int(r['batch'])} user(s), {req.context} tokens of context, "
        f"{req.prompt_tokens}-token prompts",
        "",
        "memory per GPU:",
        *_explain_memory(model, r, n),
        "",
        f"decode step (mean over a conversation growing from the {req.prompt_tokens}-token prompt to the "
        f"{req.context}-token context, i.e. at position {(req.prompt_tokens + req.context) / 2:,.0f}):",
        f"  memory: ({r['weight_read_gib']:.2f} GiB weights + {r['kv_read_gib']:.2f} GiB KV) read "
        + ("per GPU" if r["parallel"] == "tp" or n == 1 else f"by the {n} GPUs in turn (layer split)") + " / "
        f"({g.memory_bw_gbs:g} GB/s x efficiency {r['bw_efficiency']:.3f}) = {r['t_memory_ms']:.2f} ms",
        f"  compute: {r['t_compute_ms']:.2f} ms at {r['peak_tflops']:.0f} dense TFLOPS x {r['prefill_efficiency']:.2f}",
        f"  matmuls {r['t_matmul_ms']:.2f} ms (the longer of reading the weights and computing) + attention "
        f"{r['t_attention_ms']:.2f} ms (the longer of reading the KV cache and computing)",
        f"  step = matmuls + attention + overhead {r['t_overhead_ms']:.2f} ms"
        + (f" (of which {r['t_seq_overhead_ms']:.2f} ms for the {int(r['batch']) - 1} users after the first)"
           if r["t_seq_overhead_ms"] > 0 else "") + " + communication "
        f"{r['t_comm_ms']:.2f} ms = {r['tpot_ms']:.2f} ms",
        f"  -> {r['decode_tps_per_seq']:.1f} tok/s per user, {r['decode_tps']:.1f} tok/s in all "
        f"(band {r['decode_tps_low']:.1f}-{r['decode_tps_high']:.1f})",
        f"  prefill {r['prefill_tps']:,.0f} tok/s; time to first token {r['ttft_s']:.3f} s" if r["ttft_s"] == r["ttft_s"]
        else "  prefill: no tensor TFLOPS for this GPU in the table",
        "",
        "cost:",
    ]
    price_kind = "used" if req.used else ("street" if g.street_usd else "launch")
    unit = r["upfront_usd"] / n if r["upfront_usd"] == r["upfront_usd"] else float("nan")
    lines += [
        f"  upfront: {n} x ${unit:,.0f} ({price_kind} price, {g.price_as_of or 'launch'}; {g.price_source or 'MSRP'})"
        if unit == unit else "  upfront: no purchase price in the table",
        f"  power: {n} x {g.tdp_w or 0:g} W x {POWER_UTILIZATION:.0%} utilisation x ${req.usd_per_kwh:g}/kWh = "
        f"${r['power_usd_per_hour']:.3f}/h",
        f"  amortisation: ${r['upfront_usd']:,.0f} / ({req.years:g} y x {HOURS_PER_YEAR:,.0f} h x {req.duty:.0%}) = "
        f"${r['amortised_usd_per_hour']:.3f}/h" if unit == unit else "  amortisation: -",
        _explain_rent(g, r, n),
        f"  $ per 1M output tokens: ${r['usd_per_hour']:.3f}/h / ({r['decode_tps']:.1f} tok/s x 3,600 s) x 1e6 = "
        f"${r['usd_per_million_tokens']:.3f}",
    ]
    if r["breakeven_months"] == r["breakeven_months"]:
        lines.append(f"  buy vs rent: ${r['upfront_usd']:,.0f} / ((${r['rent_usd_per_hour']:.2f} - "
                     f"${r['power_usd_per_hour']:.3f}) x {HOURS_PER_MONTH:,.0f} h x {req.duty:.0%}) = "
                     f"{r['breakeven_months']:.1f} months")
    lines += ["", "constants: llmplan/engines.py (fitted to llmplan/data/calibration.csv), llmplan/cost.py; "
              "specs and prices: `llmplan gpus show \"" + g.name + "\"`"]
    sys_out = "\n".join(lines)
    print(sys_out)


# ------------------------------------------------------------------------------------- models

MODEL_COLUMNS = ["repo_id", "family", "params_b", "active_b", "max_context", "license", "license_group", "gated",
                 "pipeline_tag", "quality", "benchmarks", "fits", "quant", "decode_tps", "vram_gib"]


def parse_params(text: str | None) -> float | None:
    """'14B', '500M', '7e9', '13' (billions) -> parameters."""
    from llmplan.errors import InvalidInputError

    if text is None:
        return None
    raw = text.strip().upper()
    scale = {"B": 1e9, "M": 1e6, "T": 1e12}.get(raw[-1:], None)
    try:
        value = float(raw[:-1]) * scale if scale else float(raw) * (1e9 if float(raw) < 1e5 else 1.0)
    except ValueError:
        raise InvalidInputError(f"parameter count {text!r} is not like 14B, 500M or 7e9") from None
    if value <= 0:
        raise InvalidInputError("parameter counts must be positive")
    return value


HUB_SORTS = ("downloads", "likes", "trending", "recent")


def _catalog_rows(task, license_query, low, high, search) -> list[dict]:
    from llmplan import architecture as arch
    from llmplan.catalog import load_catalog
    from llmplan.licenses import group_of, matches

    rows = []
    for m in load_catalog():
        total = arch.params_total(m)
        if task and m.pipeline_tag != task:
            continue
        if license_query and not matches(m.license, license_query):
            continue
        if (low and total < low) or (high and total > high):
            continue
        if search and search.lower() not in (m.repo_id + " " + " ".join(m.aliases)).lower():
            continue
        rows.append({"repo_id": m.repo_id, "family": m.family, "params_b": round(total / 1e9, 2),
                     "active_b": round(arch.params_active(m) / 1e9, 2) if m.is_moe else None,
                     "max_context": m.max_context_tokens, "license": m.license, "license_group": group_of(m.license),
                     "gated": m.gated, "pipeline_tag": m.pipeline_tag, "downloads": None, "likes": None,
                     "_spec": m})
    return rows


def _hub_rows(task, license_query, low, high, search, sort, limit) -> list[dict]:
    from llmplan import hub
    from llmplan.catalog import find_in_catalog
    from llmplan.licenses import GROUPS, group_of, matches

    # a licence group is filtered here; single ids go to the Hub
    ids = None if not license_query or any(q.strip() in GROUPS for q in license_query.split(",")) else license_query
    # the Hub sorts by popularity or date; a catalog sort (params, speed, ...) is applied to its top results
    found = hub.search_models(search=search, pipeline_tag=task, license=ids,
                              sort=sort if sort in HUB_SORTS else "downloads", limit=limit,
                              min_params=int(low) if low else None, max_params=int(high) if high else None)
    rows = []
    for r in found:
        if license_query and not matches(r["license"], license_query):
            continue
        spec = find_in_catalog(r["repo_id"])
        rows.append({"repo_id": r["repo_id"], "family": spec.family if spec else "",
                     "params_b": round(r["params_total"] / 1e9, 2) if r["params_total"] else None, "active_b": None,
                     "max_context": spec.max_context_tokens if spec else None, "license": r["license"],
                     "license_group": group_of(r["license"]), "gated": r["gated"], "pipeline_tag": r["pipeline_tag"],
                     "downloads": r["downloads"], "likes": r["likes"], "_spec": spec})
    return rows


def list_models(task, license_query, min_params, max_params, search, gpu, tps, context, quant, sort, limit, gpus,
                *, use_hub: bool = False, benchmarks: str | None = None):
    """Models by task, licence, size and name, from the Hub (``use_hub``; falls back to the catalog with a
    warning when the Hub cannot answer) or the embedded catalog; with ``gpu`` only the models that fit it at
    the target speed (llama.cpp at ``quant``, batch 1), each with its predicted speed.
    Returns (rows, warnings, source)."""
    from llmplan.errors import HubError, InvalidInputError, LlmplanError
    from llmplan.estimate import estimate_many
    from llmplan.gpus import resolve_gpu
    from llmplan.records import Scenario
    from llmplan.resolve import hub_disabled, resolve_model

    low, high = parse_params(min_params), parse_params(max_params)
    warnings: list[str] = []
    source = "catalog"
    rows = None
    if use_hub:
        if hub_disabled():
            warnings.append("the Hub is offline (HF_HUB_OFFLINE=1): listing the embedded catalog")
        else:
            try:
                rows, source = _hub_rows(task, license_query, low, high, search, sort, limit), "hub"
            except HubError as exc:
                warnings.append(f"{exc}: listing the embedded catalog")
    if rows is None:
        rows = _catalog_rows(task, license_query, low, high, search)
        if sort in HUB_SORTS:
            sort = "params"
    if gpu:
        card, w = resolve_gpu(gpu, gpus)
        warnings += w
        kept = []
        for r in rows:
            spec = r["_spec"]
            if spec is None:
                try:
                    spec, _ = resolve_model(r["repo_id"])
                except LlmplanError as exc:
                    warnings.append(f"{r['repo_id']}: {exc}")
                    continue
            prompt = min(512, context - 1)
            (e,) = estimate_many(spec, [Scenario(model=r["repo_id"], gpu=card.name, quant=quant, prompt_tokens=prompt,
                                                 gen_tokens=max(context - prompt, 1), context=context)], gpus)
            if e.error or not e.fits or (tps and not (e.decode_tps or 0) >= tps):
                continue
            kept.append({**r, "fits": True, "quant": e.quant, "decode_tps": e.decode_tps, "vram_gib": e.vram_gib})
        rows = kept
    from llmplan.evals import parse_weights, quality, scores_for

    weights = parse_weights(benchmarks)
    for r in rows:
        score, present = quality(scores_for(r["repo_id"]), weights)
        r["quality"] = round(score, 2) if score is not None else None
        missing = [b for b in weights if b not in present]
        r["benchmarks"] = (f"{len(present)}/{len(weights)}" + (f" (no {','.join(missing)})" if missing else "")
                           if present else None)
        r["benchmarks_present"] = present
    if sort == "quality":
        unscored = sum(1 for r in rows if r["quality"] is None)
        if unscored:
            warnings.append(f"{unscored} of {len(rows)} models have none of the chosen benchmarks "
                            "in llmplan/data/evals.csv: listed last")
    keys = {"quality": lambda r: (-(r["quality"] if r["quality"] is not None else -1.0), r["repo_id"].lower()),
            "params": lambda r: -(r["params_b"] or 0), "name": lambda r: r["repo_id"].lower(),
            "speed": lambda r: -(r.get("decode_tps") or 0), "context": lambda r: -(r["max_context"] or 0)}
    if source == "catalog" and sort not in keys:
        raise InvalidInputError(f"sort by {', '.join(keys)} (catalog) or {', '.join(HUB_SORTS)} (Hub)")
    if sort in keys:
        rows.sort(key=keys[sort])
    for r in rows:
        r.pop("_spec")
    return rows[:limit], warnings, source


def show_models(rows: list[dict], fmt: OutputFormat, gpu: str | None, source: str = "catalog") -> None:
    columns = [c for c in MODEL_COLUMNS if gpu or c not in ("fits", "quant", "decode_tps", "vram_gib")]
    if source == "hub":
        columns[3:3] = ["downloads", "likes"]
    if all(r.get("quality") is None for r in rows):
        columns = [c for c in columns if c not in ("quality", "benchmarks")]
    headers = {"params_b": "params B", "active_b": "active B", "max_context": "context", "decode_tps": "tok/s",
               "vram_gib": "GiB", "license_group": "group", "pipeline_tag": "task"}
    emit(rows, fmt, columns=columns, headers=headers, title=f"{len(rows)} models" + (f" that fit {gpu}" if gpu else ""))
    if fmt is OutputFormat.table:
        message("source: the Hugging Face Hub" if source == "hub" else
                "source: the embedded catalog (popularity sorts need the Hub: --hub)")


def show_gguf_files(repo_id: str, files: list[dict], fmt: OutputFormat) -> None:
    """The GGUF files of a GGUF-only repository: quant type and size of each (split files summed)."""
    from llmplan.engines import GIB
    from llmplan.errors import UnknownModelError

    if not files:
        raise UnknownModelError(f"{repo_id} has no config.json and no GGUF files")
    rows = [{"filename": f["filename"], "quant": f["quant"], "size_gib": (f["size_bytes"] or 0) / GIB or None,
             "parts": len(f.get("files") or [f["filename"]]), "mmproj": f.get("mmproj", False)} for f in files]
    emit(rows, fmt, columns=["filename", "quant", "size_gib", "parts", "mmproj"],
         headers={"size_gib": "GiB"}, title=f"{repo_id}: GGUF files")
    if fmt is OutputFormat.table:
        message("a GGUF-only repository has no config.json: estimate with the base model's repo id and the quant")


# -------------------------------------------------------------------------------------- train

def show_training(model: ModelSpec, mem, gpu, fmt: OutputFormat, *, method: str, num_gpus: int, zero: int) -> None:
    from llmplan.engines import CUDA_CONTEXT_GIB, GIB

    runtime = CUDA_CONTEXT_GIB * GIB
    total = mem.total_bytes + runtime
    row = {"model": model.repo_id, "method": method, "num_gpus": num_gpus, "zero_stage": zero,
           "trainable_params": int(mem.trainable_params), "weights_gib": mem.weights_bytes / GIB,
           "gradients_gib": mem.gradients_bytes / GIB, "optimizer_gib": mem.optimizer_bytes / GIB,
           "activations_gib": mem.activations_bytes / GIB, "runtime_overhead_gib": runtime / GIB,
           "total_gib_per_gpu": total / GIB, "gpu": gpu.name if gpu else None,
           "gpu_memory_gib": gpu.memory_gib if gpu else None,
           "fits": (total <= gpu.memory_gib * GIB) if gpu else None}
    if fmt is not OutputFormat.table:
        emit([row], fmt, single=True)
        return
    pairs = [("trainable parameters", f"{mem.trainable_params / 1e6:,.1f} M"),
             ("weights", f"{row['weights_gib']:.2f} GiB"), ("gradients", f"{row['gradients_gib']:.2f} GiB"),
             ("optimizer state", f"{row['optimizer_gib']:.2f} GiB"),
             ("activations", f"{row['activations_gib']:.2f} GiB"),
             ("runtime overhead", f"{row['runtime_overhead_gib']:.2f} GiB"),
             ("total per GPU", f"{row['total_gib_per_gpu']:.2f} GiB")]
    if gpu:
        pairs.append(("fits", f"{'yes' if row['fits'] else 'NO'} on {gpu.name} ({gpu.memory_gib:g} GiB)"))
    print_kv(pairs, title=f"{model.repo_id}: {method} training, {num_gpus} GPU(s), ZeRO {zero}")
    message("model states per the ZeRO paper (16 bytes/param for mixed-precision AdamW); activations per "
            "Korthikanti et al. 2022 with FlashAttention; see llmplan/training.py")
