#!/usr/bin/env python3
"""Time `llmplan fit` end to end and its solver alone (timings live here, never in tests).

    python scripts/bench_fit.py            # prints median wall times over a few runs
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

CASES = [
    ["fit", "llama-2-7b", "--budget", "2000"],
    ["fit", "meta-llama/Llama-3.1-70B-Instruct", "--tps", "20", "--rent"],
    ["fit", "Qwen/Qwen3-30B-A3B", "--users", "50", "--tps", "15", "--context", "8192"],
]


def cli_seconds(args: list[str], repeats: int = 3) -> float:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "llmplan", *args, "--format", "json"], env=env, check=True,
                       capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def solver_seconds(model: str, repeats: int = 5, **request) -> tuple[float, int]:
    from llmplan.gpus import load_gpus
    from llmplan.resolve import resolve_model
    from llmplan.solver import FitRequest, solve

    spec, _ = resolve_model(model, use_hub=False)
    gpus = load_gpus()
    solve(spec, gpus, FitRequest(**request))  # warm imports
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = solve(spec, gpus, FitRequest(**request))
        times.append(time.perf_counter() - start)
    return statistics.median(times), result.searched


def main() -> None:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "llmplan", "--help"], check=True, capture_output=True)
    print(f"llmplan --help: {time.perf_counter() - start:.2f} s")
    for args in CASES:
        print(f"llmplan {' '.join(args)}: {cli_seconds(args):.2f} s (median of 3, whole process)")
    seconds, searched = solver_seconds("llama-2-7b", budget_usd=2000)
    print(f"solver alone, llama-2-7b: {seconds * 1e3:.0f} ms for {searched} options")
    seconds, searched = solver_seconds("Qwen/Qwen3-30B-A3B", users=50, tps_per_user=15, context=8192)
    print(f"solver alone, Qwen3-30B-A3B x 50 users: {seconds * 1e3:.0f} ms for {searched} options")


if __name__ == "__main__":
    main()
