"""`fit`: ranking, constraints and rejection reasons over the real table."""

import re

import pandas as pd
import pytest

from llmplan.catalog import find_in_catalog
from llmplan.errors import InvalidInputError
from llmplan.gpus import load_gpus
from llmplan.solver import FitRequest, solve


def test_budget_is_respected_and_ranked_cheapest_first():
    result = solve(find_in_catalog("llama-2-7b"), load_gpus(), FitRequest(budget_usd=2000))
    opts = result.options
    assert len(opts) > 0
    assert (opts["upfront_usd"] <= 2000).all()
    assert opts["fits"].all()
    assert list(opts["upfront_usd"]) == sorted(opts["upfront_usd"])
    assert opts["pareto"].any()


def test_speed_target_is_met_per_user():
    req = FitRequest(tps_per_user=30, users=4, context=8192)
    result = solve(find_in_catalog("llama-3.1-8b"), load_gpus(), req)
    assert (result.options["decode_tps_per_seq"] >= 30).all()
    assert (result.options["batch"] == 4).all()


def test_rejections_carry_the_binding_reason():
    result = solve(find_in_catalog("llama-2-70b"), load_gpus(), FitRequest(tps_per_user=30, budget_usd=3000))
    reasons = list(result.rejected["reason"])
    assert reasons and all(reasons)
    forms = (r"^needs [\d.]+ GiB per GPU, .+ has [\d.]+ GiB", r"fits but reaches \d+ tok/s per user .*target 30",
             r"^costs \$[\d,]+; budget \$3,000")
    assert all(any(re.search(f, r) for f in forms) for r in reasons)
    # nearest first: nothing that failed on memory is listed before one that fitted
    stages = list(result.rejected["stage"])
    assert stages == sorted(stages, reverse=True)


def test_rent_mode_prices_by_the_hour():
    result = solve(find_in_catalog("llama-3.1-70b-instruct"), load_gpus(), FitRequest(tps_per_user=20, mode="rent"))
    opts = result.options
    assert len(opts) > 0 and opts["rent_usd_per_hour"].notna().all()
    assert list(opts["rent_usd_per_hour"]) == sorted(opts["rent_usd_per_hour"])
    assert (opts["decode_tps_per_seq"] >= 20).all()


def test_rentals_respect_the_providers_gpus_per_instance():
    # Salad rents one consumer GPU per node (cloud_max_gpus 1): 8x RTX 3060 Ti at 8 x $0.06/h is no answer
    gpus = load_gpus()
    salad = [g for g in gpus if g.cloud_provider.startswith("Salad")]
    assert salad and all(g.cloud_max_gpus == 1 for g in salad)
    result = solve(find_in_catalog("llama-3.1-70b-instruct"), gpus, FitRequest(tps_per_user=20, mode="rent"))
    opts = result.options
    names = {g.name for g in salad}
    assert not ((opts["name"].isin(names)) & (opts["num_gpus"] > 1)).any()
    assert any("RTX 3060 Ti" in n and "cloud_max_gpus" in n for n in result.notes)
    # the limit is per instance: 16 GPUs rent as two nodes of 8
    from llmplan.cost import rent_usd_per_hour
    rent = rent_usd_per_hour([2.0, 2.0, 2.0, 2.0], [1, 2, 16, 16], [1, 2, 8, 8], [1, 1, 8, float("nan")])
    assert rent[0] == 2.0 and rent[1] != rent[1] and rent[2] == 32.0 and rent[3] == 32.0


def test_eight_bit_formats_are_one_quality_tier():
    # Q8_0 (8.5 bpw) does not outrank FP8 (8.0): on 2x H100 the faster FP8 tensor-parallel option wins over
    # the Q8_0 layer split, which runs one GPU at a time
    h100 = tuple(g for g in load_gpus() if g.name == "H100 SXM")
    result = solve(find_in_catalog("llama-3.1-70b-instruct"), h100, FitRequest(tps_per_user=20, mode="rent"))
    two = result.options[result.options["num_gpus"] == 2].iloc[0]
    assert (two["quant"], two["engine"], two["parallel"]) == ("fp8", "vllm", "tp")


def test_impossible_goal_returns_no_option_but_reasons():
    result = solve(find_in_catalog("deepseek-v3"), load_gpus(), FitRequest(budget_usd=500))
    assert len(result.options) == 0
    assert len(result.rejected) > 0


def test_bad_request():
    with pytest.raises(InvalidInputError):
        solve(find_in_catalog("llama-2-7b"), load_gpus(), FitRequest(users=0))


def test_ttft_and_monthly_budget_constraints():
    m = find_in_catalog("llama-3.1-8b")
    result = solve(m, load_gpus(), FitRequest(ttft_s=0.2, prompt_tokens=2048, context=4096))
    assert len(result.options) and (result.options["ttft_s"] <= 0.2).all()
    rent = solve(m, load_gpus(), FitRequest(mode="rent", monthly_budget_usd=400))
    assert len(rent.options) and (rent.options["usd_per_month"] <= 400).all()


def test_owning_cost_is_power_plus_amortisation():
    r = solve(find_in_catalog("llama-2-7b"), load_gpus(), FitRequest(budget_usd=2000, years=2)).options.iloc[0]
    # amortisation: upfront / (2 years x 8,760 h)
    assert r["usd_per_hour"] == pytest.approx(r["power_usd_per_hour"] + r["upfront_usd"] / (2 * 8760))
    assert r["usd_per_million_tokens"] == pytest.approx(r["usd_per_hour"] / (r["decode_tps"] * 3600) * 1e6)


def test_fit_speed_is_the_mean_over_a_conversation_that_fills_the_context():
    """fit plans for users whose conversations grow from the prompt to the full context: its per-user speed is
    estimate's for gen_tokens = context - prompt (mean position (512 + 8192) / 2 = 4352), and a longer context
    never makes an option faster."""
    from llmplan.estimate import estimate_many
    from llmplan.records import Scenario

    model, gpus = find_in_catalog("qwen3-30b-a3b"), load_gpus()
    req = FitRequest(users=8, context=8192, quant="Q4_K_M", engines=("llama.cpp",), top=1000)
    row = solve(model, gpus, req).options.query("name == 'RTX 4090' and num_gpus == 2").iloc[0]
    est = estimate_many(model, [Scenario(model="qwen3-30b-a3b", gpu="RTX 4090", num_gpus=2, quant="Q4_K_M",
                                         engine="llama.cpp", batch=8, prompt_tokens=512, gen_tokens=8192 - 512,
                                         context=8192)], gpus)[0]
    assert row["decode_tps_per_seq"] == pytest.approx(est.decode_tps_per_seq, rel=1e-3)
    short = solve(model, gpus, FitRequest(users=8, context=2048, quant="Q4_K_M", engines=("llama.cpp",), top=1000))
    short_row = short.options.query("name == 'RTX 4090' and num_gpus == 2").iloc[0]
    assert short_row["decode_tps_per_seq"] > row["decode_tps_per_seq"]


def test_vllm_formats_follow_the_vendor_kernel_table():
    """vLLM has no AWQ/GPTQ/INT8/bitsandbytes kernels on AMD GPUs (its 'Supported Hardware' table): fit never
    offers them there, and estimate refuses them with the reason."""
    from llmplan.engines import format_support
    from llmplan.estimate import estimate_many
    from llmplan.records import Scenario

    gpus = load_gpus()
    amd = {g.name for g in gpus if g.vendor == "AMD"}
    result = solve(find_in_catalog("Qwen/Qwen3-30B-A3B"), gpus, FitRequest(users=50, tps_per_user=15, context=8192,
                                                                            top=500))
    both = pd.concat([result.options, result.rejected])
    on_amd = both[both["name"].isin(amd) & (both["engine"] == "vllm")]
    assert len(on_amd) and not on_amd["quant"].str.match(r"awq|gptq|int4|int8|bnb").any()
    assert format_support("awq", "RDNA3", False)[0] is False
    assert format_support("fp8", "CDNA3", True) == (True, "")
    assert format_support("awq", "Ampere", False) == (True, "")
    model = find_in_catalog("llama-3.1-8b")
    (e,) = estimate_many(model, [Scenario(model=model.repo_id, gpu="RX 7900 XTX", quant="awq", engine="vllm")])
    assert e.error and "no AWQ kernels for AMD GPUs" in e.error
