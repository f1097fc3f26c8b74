"""The command line: parse, call one library function, render. No arithmetic lives here."""

from __future__ import annotations

import functools
import os
import sys
from typing import Annotated, Optional

import typer

from llmplan import __version__
from llmplan.cli.render import OutputFormat, message

app = typer.Typer(
    name="llmplan", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="Which GPU to buy or rent (and how many) to run an LLM, how fast it will go, and what it costs.",
    epilog="Offline by default on an embedded catalog and GPU table. Prices are dated snapshots.")
gpus_app = typer.Typer(no_args_is_help=False, help="List, show and compare GPUs of the table.")
app.add_typer(gpus_app, name="gpus")

FormatOpt = Annotated[OutputFormat, typer.Option("--format", "-f", help="table | json | csv (| jsonl for estimate)",
                                                 case_sensitive=False)]
TokenOpt = Annotated[Optional[str], typer.Option("--token", help="Hugging Face token for gated repos "
                                                 "(default: HF_TOKEN)", show_default=False)]
GpuFileOpt = Annotated[Optional[str], typer.Option("--gpu-file", help="CSV of extra GPU rows (same columns as "
                                                   "gpu_specs.csv) that add to or replace the table")]


def guarded(func):
    """Turn library errors into one line on stderr and an exit code; never a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from llmplan.errors import LlmplanError

        try:
            return func(*args, **kwargs)
        except LlmplanError as exc:
            message(f"Error: {exc}")
            raise typer.Exit(exc.exit_code) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt, BrokenPipeError):
            raise
        except Exception as exc:  # a bug: one line, the traceback only on request
            if os.environ.get("LLMPLAN_DEBUG"):
                raise
            message(f"Error: internal error ({type(exc).__name__}: {exc}); rerun with LLMPLAN_DEBUG=1 "
                    "for the traceback and please report it")
            raise typer.Exit(3) from None

    return wrapper


def _warn(lines) -> None:
    for line in lines:
        message(f"warning: {line}")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"llmplan {__version__}")
        raise typer.Exit()


@app.callback()
def root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                               help="Print the version and exit.")] = False) -> None:
    """Which GPU to buy or rent (and how many) to run an LLM, how fast it will go, and what it costs."""


def _model(name: str, token: str | None):
    from llmplan.resolve import resolve_model

    spec, warnings = resolve_model(name, token=token)
    _warn(warnings)
    return spec


def _gpus(gpu_file: str | None):
    from llmplan.gpus import load_gpus

    return load_gpus(gpu_file)


# ------------------------------------------------------------------------------------------- fit

@app.command(epilog="Examples:\n\n"
             "  llmplan fit llama-2-7b --budget 2000\n\n"
             "  llmplan fit meta-llama/Llama-3.1-70B-Instruct --tps 20 --rent\n\n"
             "  llmplan fit Qwen/Qwen3-30B-A3B --users 50 --tps 15 --context 8192 --format json\n\n"
             "  llmplan fit llama-3.1-8b --tps 40 --gpus \"RTX 4090,RTX 5090\" --explain 1")
@guarded
def fit(
    model: Annotated[str, typer.Argument(help="Hub repo id or short name, e.g. llama-2-7b")],
    budget: Annotated[Optional[float], typer.Option("--budget", help="Upfront purchase budget, USD")] = None,
    hourly_budget: Annotated[Optional[float], typer.Option("--hourly-budget", help="Rental budget, USD/hour")] = None,
    monthly_budget: Annotated[Optional[float], typer.Option("--monthly-budget", help="Rental budget, USD/month "
                                                            "(at --duty)")] = None,
    tps: Annotated[Optional[float], typer.Option("--tps", help="Decode tokens/s each user must get")] = None,
    users: Annotated[int, typer.Option("--users", help="Concurrent users (the decode batch)")] = 1,
    context: Annotated[int, typer.Option("--context", help="Context tokens per user (KV cache)")] = 4096,
    ttft: Annotated[Optional[float], typer.Option("--ttft", help="Longest acceptable time to first token, s")] = None,
    prompt_tokens: Annotated[int, typer.Option("--prompt-tokens", help="Prompt length for TTFT")] = 512,
    quant: Annotated[str, typer.Option("--quant", help="A quantization, or auto to search a ladder")] = "auto",
    gpus: Annotated[Optional[str], typer.Option("--gpus", help="Comma-separated GPU names to consider")] = None,
    rent: Annotated[bool, typer.Option("--rent/--buy", help="Rank by rental $/hour instead of purchase")] = False,
    used: Annotated[bool, typer.Option("--used", help="Use used-market prices")] = False,
    engine: Annotated[str, typer.Option("--engine", help="Comma-separated engines to search")] = "llama.cpp,vllm",
    top: Annotated[int, typer.Option("--top", help="How many options (and rejections) to list")] = 10,
    electricity: Annotated[Optional[float], typer.Option("--electricity", help="USD per kWh for power cost")] = None,
    years: Annotated[float, typer.Option("--years", help="Years to amortise a purchase over")] = 3.0,
    duty: Annotated[float, typer.Option("--duty", help="Share of the time the hardware serves (0-1]")] = 1.0,
    prices: Annotated[Optional[str], typer.Option("--prices", help="CSV: name + any of launch_usd, street_usd, "
                                                  "used_usd, cloud_usd_per_hour (+ dates) to override")] = None,
    explain: Annotated[Optional[int], typer.Option("--explain", help="Print the arithmetic behind option N")] = None,
    fmt: FormatOpt = OutputFormat.table,
    gpu_file: GpuFileOpt = None,
    token: TokenOpt = None,
) -> None:
    """Rank the hardware that runs MODEL at the target speed, cheapest first, and say why others fail."""
    from llmplan.cli import views
    from llmplan.cost import DEFAULT_USD_PER_KWH
    from llmplan.gpus import resolve_gpu
    from llmplan.solver import FitRequest, solve

    spec = _model(model, token)
    table = _gpus(gpu_file)
    if prices:
        from llmplan.gpus import apply_price_file

        table = apply_price_file(table, prices)
    if gpus:
        picked = []
        for name in (n.strip() for n in gpus.split(",") if n.strip()):
            gpu, warnings = resolve_gpu(name, table)
            _warn(warnings)
            picked.append(gpu)
        table = tuple(dict.fromkeys(picked))
    req = FitRequest(tps_per_user=tps, users=users, context=context, prompt_tokens=prompt_tokens,
                     budget_usd=budget, hourly_budget_usd=hourly_budget, monthly_budget_usd=monthly_budget,
                     ttft_s=ttft, mode="rent" if rent else "buy", quant=quant,
                     engines=tuple(e.strip() for e in engine.split(",") if e.strip()), used=used,
                     usd_per_kwh=electricity if electricity is not None else DEFAULT_USD_PER_KWH, years=years,
                     duty=duty, top=top)
    result = solve(spec, table, req)
    if explain is not None:
        views.explain_fit(spec, req, result, explain, {g.name: g for g in table})
        return
    views.show_fit(spec, req, result, fmt)


# -------------------------------------------------------------------------------------- estimate

@app.command(epilog="Examples:\n\n"
             "  llmplan estimate llama-2-7b --gpu \"RTX 4090\" --quant Q4_K_M\n\n"
             "  llmplan estimate meta-llama/Llama-3.1-70B-Instruct --gpu \"H100 SXM\" --num-gpus 4 "
             "--engine vllm --quant fp8 --batch max --format json\n\n"
             "  llmplan estimate --scenarios scenarios.csv --format jsonl")
@guarded
def estimate(
    model: Annotated[Optional[str], typer.Argument(help="Hub repo id or short name")] = None,
    gpu: Annotated[Optional[str], typer.Option("--gpu", help="GPU name or alias, e.g. \"RTX 4090\"")] = None,
    num_gpus: Annotated[int, typer.Option("--num-gpus", help="Number of GPUs")] = 1,
    quant: Annotated[Optional[str], typer.Option("--quant", help="Q4_K_M, Q8_0, fp16, bf16, fp8, awq, ...")] = None,
    engine: Annotated[Optional[str], typer.Option("--engine", help="llama.cpp, vllm, transformers, ...")] = None,
    parallel: Annotated[Optional[str], typer.Option("--parallel", help="tp (tensor) or pp (pipeline/layer split)")] = None,
    batch: Annotated[str, typer.Option("--batch", help="Concurrent sequences, or max")] = "1",
    prompt_tokens: Annotated[int, typer.Option("--prompt-tokens", help="Prompt length")] = 512,
    gen_tokens: Annotated[int, typer.Option("--gen-tokens", help="Tokens generated")] = 128,
    context: Annotated[Optional[int], typer.Option("--context", help="KV tokens reserved per sequence "
                                                   "(default: prompt + gen)")] = None,
    vram_gib: Annotated[Optional[float], typer.Option("--vram-gib", help="Override device memory (GiB)")] = None,
    kv_dtype: Annotated[Optional[str], typer.Option("--kv-dtype", help="KV cache type: f16 (default), fp8 "
                                                    "(vllm), q8_0 / q4_0 (llama.cpp)")] = None,
    backend: Annotated[Optional[str], typer.Option("--backend", help="cuda, rocm, metal, vulkan, sycl "
                                                   "(default: the GPU vendor's own)")] = None,
    offload_layers: Annotated[Optional[int], typer.Option("--offload-layers", help="Layers llama.cpp keeps on "
                                                          "the CPU (partial offload)")] = None,
    ram_bw_gbs: Annotated[Optional[float], typer.Option("--ram-bw-gbs", help="System RAM bandwidth GB/s for "
                                                        "offloaded layers")] = None,
    scenarios: Annotated[Optional[str], typer.Option("--scenarios", help="CSV or JSONL file of scenarios")] = None,
    fmt: FormatOpt = OutputFormat.table,
    gpu_file: GpuFileOpt = None,
    token: TokenOpt = None,
) -> None:
    """Memory, speed and latency of MODEL on a given GPU setup (or of every row of a scenario file)."""
    from llmplan.cli import views
    from llmplan.errors import InvalidInputError
    from llmplan.records import Scenario

    table = _gpus(gpu_file)
    if scenarios:
        if model or gpu:
            raise InvalidInputError("give either MODEL --gpu ... or --scenarios FILE, not both")
        results = views.run_scenarios(scenarios, table, token)
        views.show_estimates(results, fmt, single=False)
        failed = sum(1 for r in results if r.error)
        if failed:
            message(f"Error: {failed} of {len(results)} scenarios could not be estimated (see their error field)")
            raise typer.Exit(1)
        return
    if not model or not gpu:
        raise InvalidInputError("estimate needs MODEL and --gpu (or --scenarios FILE)")
    from llmplan.estimate import estimate_many

    spec = _model(model, token)
    scenario = Scenario(model=model, gpu=gpu, num_gpus=num_gpus, quant=quant, engine=engine, parallel=parallel,
                        batch=batch, prompt_tokens=prompt_tokens, gen_tokens=gen_tokens, context=context,
                        vram_gib=vram_gib, kv_dtype=kv_dtype, backend=backend, offload_layers=offload_layers,
                        ram_bw_gbs=ram_bw_gbs)
    (result,) = estimate_many(spec, [scenario], table)
    if result.error:
        raise InvalidInputError(result.error)
    views.show_estimates([result], fmt, single=True)


# ------------------------------------------------------------------------------------------ gpus

@gpus_app.callback(invoke_without_command=True,
                   epilog="Examples:\n\n  llmplan gpus --segment datacenter --min-memory 80\n\n"
                          "  llmplan gpus --vendor apple --sort memory_bw_gbs --format csv")
@guarded
def gpus_list(
    ctx: typer.Context,
    segment: Annotated[Optional[str], typer.Option("--segment", help="consumer|workstation|datacenter|apple|tpu")] = None,
    vendor: Annotated[Optional[str], typer.Option("--vendor", help="NVIDIA, AMD, Apple, Intel, Google")] = None,
    min_memory: Annotated[Optional[float], typer.Option("--min-memory", help="Minimum memory, GB")] = None,
    max_price: Annotated[Optional[float], typer.Option("--max-price", help="Maximum purchase price, USD")] = None,
    sort: Annotated[str, typer.Option("--sort", help="Column to sort by (descending for specs, "
                                      "ascending for name and prices)")] = "memory_bw_gbs",
    fmt: FormatOpt = OutputFormat.table,
    gpu_file: GpuFileOpt = None,
) -> None:
    """List the GPU table, filtered and sorted."""
    if ctx.invoked_subcommand:
        return
    from llmplan.cli import views

    views.show_gpu_list(_gpus(gpu_file), segment, vendor, min_memory, max_price, sort, fmt)


@gpus_app.command("show", epilog="Example:\n\n  llmplan gpus show \"RTX 4090\"")
@guarded
def gpus_show(name: Annotated[str, typer.Argument(help="GPU name or alias")],
              fmt: FormatOpt = OutputFormat.table, gpu_file: GpuFileOpt = None) -> None:
    """Every column of one GPU, with its sources."""
    from llmplan.cli import views
    from llmplan.gpus import resolve_gpu

    gpu, warnings = resolve_gpu(name, _gpus(gpu_file))
    _warn(warnings)
    views.show_gpu(gpu, fmt)


@gpus_app.command("compare", epilog="Example:\n\n  llmplan gpus compare \"RTX 4090\" \"RTX 5090\" "
                  "\"A100 80GB SXM\" \"H100 SXM\"")
@guarded
def gpus_compare(names: Annotated[list[str], typer.Argument(help="Two or more GPU names")],
                 fmt: FormatOpt = OutputFormat.table, gpu_file: GpuFileOpt = None) -> None:
    """Side by side: memory, bandwidth, tensor TFLOPS, price, $ per GB and per GB/s, watts."""
    from llmplan.cli import views
    from llmplan.gpus import resolve_gpu

    table = _gpus(gpu_file)
    picked = []
    for n in names:
        gpu, warnings = resolve_gpu(n, table)
        _warn(warnings)
        picked.append(gpu)
    views.show_gpu_compare(picked, fmt)


# ------------------------------------------------------------------------------------------ info

@app.command(epilog="Examples:\n\n  llmplan info llama-2-7b\n\n  llmplan info Qwen/Qwen3-30B-A3B --context 32768 "
             "--format json")
@guarded
def info(model: Annotated[str, typer.Argument(help="Hub repo id or short name")],
         context: Annotated[int, typer.Option("--context", help="Context for the KV column")] = 4096,
         fmt: FormatOpt = OutputFormat.table, token: TokenOpt = None) -> None:
    """Facts of a model and its memory at each quantization."""
    from llmplan.cli import views
    from llmplan.errors import InvalidInputError

    from llmplan.errors import NoConfigError

    if context < 1:
        raise InvalidInputError("--context must be at least 1")
    try:
        spec = _model(model, token)
    except NoConfigError:  # a GGUF-only repository: list its files instead
        from llmplan import hub

        views.show_gguf_files(model, hub.gguf_files(model, token=token), fmt)
        return
    views.show_info(spec, context, fmt)


# ---------------------------------------------------------------------------------------- models

@app.command(epilog="Examples:\n\n  llmplan models --license permissive --max-params 14B\n\n"
             "  llmplan models --gpu \"RTX 4090\" --tps 30 --context 8192\n\n"
             "  llmplan models --search qwen3 --format json\n\n"
             "  llmplan models --sort quality --benchmarks v1 --max-params 14B")
@guarded
def models(
    task: Annotated[Optional[str], typer.Option("--task", help="Hub pipeline tag, e.g. text-generation")] = None,
    license: Annotated[Optional[str], typer.Option("--license", help="Ids or groups: permissive, copyleft, "
                                                   "restricted, non-commercial, apache-2.0, llama3.1, ...")] = None,
    min_params: Annotated[Optional[str], typer.Option("--min-params", help="e.g. 7B")] = None,
    max_params: Annotated[Optional[str], typer.Option("--max-params", help="e.g. 14B")] = None,
    search: Annotated[Optional[str], typer.Option("--search", help="Text in the repo id or short name")] = None,
    gpu: Annotated[Optional[str], typer.Option("--gpu", help="Only models that fit this GPU")] = None,
    tps: Annotated[Optional[float], typer.Option("--tps", help="With --gpu: minimum decode tokens/s")] = None,
    context: Annotated[int, typer.Option("--context", help="With --gpu: context tokens to hold")] = 4096,
    quant: Annotated[str, typer.Option("--quant", help="With --gpu: quantization (llama.cpp)")] = "Q4_K_M",
    sort: Annotated[str, typer.Option("--sort", help="params | quality | speed | context | name (catalog); "
                                      "downloads | likes | trending | recent (Hub)")] = "params",
    benchmarks: Annotated[Optional[str], typer.Option("--benchmarks", help="For quality: benchmarks to average, "
                                                      "e.g. mmlu,arc or mmlu=2,gsm8k=1, or v1 / v2 (default: "
                                                      "Open LLM Leaderboard v2)")] = None,
    hub: Annotated[bool, typer.Option("--hub/--catalog", help="Search the Hugging Face Hub instead of the "
                                      "embedded catalog (the Hub sorts need it)")] = False,
    limit: Annotated[int, typer.Option("--limit", help="At most this many rows")] = 50,
    fmt: FormatOpt = OutputFormat.table,
    gpu_file: GpuFileOpt = None,
) -> None:
    """Models of the catalog by task, licence and size; with --gpu only those that fit it at the target speed."""
    from llmplan.cli import views
    from llmplan.errors import InvalidInputError

    if context < 2 or limit < 1 or (tps is not None and tps <= 0):
        raise InvalidInputError("--context must be at least 2, --limit at least 1 and --tps positive")
    sort = sort.strip().lower()
    use_hub = hub or sort in views.HUB_SORTS
    rows, warnings, source = views.list_models(task, license, min_params, max_params, search, gpu, tps, context, quant,
                                               sort, limit, _gpus(gpu_file), use_hub=use_hub,
                                               benchmarks=benchmarks)
    _warn(warnings)
    views.show_models(rows, fmt, gpu, source)


# ----------------------------------------------------------------------------------------- train

@app.command(epilog="Examples:\n\n  llmplan train llama-3.1-8b --method qlora --gpu \"RTX 4090\"\n\n"
             "  llmplan train llama-3.1-70b --method full --gpu \"H100 SXM\" --num-gpus 16 --zero 3 --seq-len 4096")
@guarded
def train(
    model: Annotated[str, typer.Argument(help="Hub repo id or short name")],
    gpu: Annotated[Optional[str], typer.Option("--gpu", help="GPU to check the fit against")] = None,
    num_gpus: Annotated[int, typer.Option("--num-gpus", help="Data-parallel GPUs (ZeRO shards over them)")] = 1,
    method: Annotated[str, typer.Option("--method", help="full | lora | qlora")] = "lora",
    zero: Annotated[int, typer.Option("--zero", help="ZeRO stage 0-3 (3 = FSDP full shard)")] = 0,
    optimizer: Annotated[str, typer.Option("--optimizer", help="adamw | adamw-8bit | sgd")] = "adamw",
    batch: Annotated[int, typer.Option("--batch", help="Micro-batch per GPU")] = 1,
    seq_len: Annotated[int, typer.Option("--seq-len", help="Tokens per sequence")] = 2048,
    checkpointing: Annotated[bool, typer.Option("--checkpointing/--no-checkpointing",
                                                help="Activation (gradient) checkpointing")] = True,
    lora_rank: Annotated[int, typer.Option("--lora-rank", help="LoRA rank")] = 16,
    lora_targets: Annotated[str, typer.Option("--lora-targets", help="Comma list of q,k,v,o,gate,up,down")
                            ] = "q,k,v,o,gate,up,down",
    fmt: FormatOpt = OutputFormat.table,
    gpu_file: GpuFileOpt = None,
    token: TokenOpt = None,
) -> None:
    """Memory per GPU to fine-tune or train MODEL: weights, gradients, optimizer state, activations."""
    from llmplan.cli import views
    from llmplan.training import training_memory

    spec = _model(model, token)
    mem = training_memory(spec, method=method.strip().lower(), num_gpus=num_gpus, zero_stage=zero,
                          optimizer=optimizer.strip().lower(), batch=batch, seq_len=seq_len,
                          checkpointing=checkpointing, lora_rank=lora_rank,
                          lora_targets=tuple(t.strip() for t in lora_targets.split(",") if t.strip()))
    card = None
    if gpu:
        from llmplan.gpus import resolve_gpu

        card, warnings = resolve_gpu(gpu, _gpus(gpu_file))
        _warn(warnings)
    views.show_training(spec, mem, card, fmt, method=method, num_gpus=num_gpus, zero=zero)


# -------------------------------------------------------------------------------------- validate

@app.command(epilog="Examples:\n\n  llmplan validate\n\n  llmplan validate --rows validate-only --by engine\n\n"
             "  llmplan validate --format json")
@guarded
def validate(
    by: Annotated[str, typer.Option("--by", help="Comma-separated breakdowns: source, engine, gpu_class, gpu")
                  ] = "source,engine,gpu_class",
    rows: Annotated[str, typer.Option("--rows", help="all | calibrate | validate-only (held-out sources)")] = "all",
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Predict every measurement of the shipped calibration set and print the accuracy (predicted/measured),
    per source, engine and GPU class, with every source weighted equally in the headline."""
    from llmplan.cli import views

    views.show_validation([b.strip() for b in by.split(",") if b.strip()], rows.strip().lower(), fmt)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point. Usage errors (an unknown flag, a value of the wrong type) become one
    ``Error:`` line on stderr with exit code 2, like every other error."""
    # typer 0.29 (pinned in pyproject.toml) vendors click as typer._click; its exceptions live there
    from typer._click import exceptions as click

    try:
        code = typer.main.get_command(app).main(args=argv, prog_name="llmplan", standalone_mode=False)
    except click.NoArgsIsHelpError as exc:  # bare `llmplan` / `llmplan gpus`: the help text
        exc.show()
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "llmplan"
        message(f"Error: {exc.format_message().rstrip('.')}. See '{command} --help'.")
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        message(f"Error: {exc.format_message()}")
        sys.exit(exc.exit_code)
    except BrokenPipeError:  # `llmplan ... | head`: the reader left; stop quietly, as other CLI tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
    except (typer.Abort, KeyboardInterrupt):  # pragma: no cover - interactive only
        message("interrupted")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
