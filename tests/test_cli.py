"""The command line, in-process (CliRunner) and once through a real subprocess."""

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from llmplan import __version__
from llmplan.cli.app import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def run(*args):
    return runner.invoke(app, list(args))


def test_version():
    r = run("--version")
    assert r.exit_code == 0 and r.stdout.strip() == f"llmplan {__version__}"


@pytest.mark.parametrize("cmd", [["fit"], ["estimate"], ["gpus"], ["gpus", "show"], ["gpus", "compare"], ["info"], ["train"],
                                 ["models"], ["validate"]])
def test_every_command_has_help_with_examples(cmd):
    r = run(*cmd, "--help")
    assert r.exit_code == 0 and "Example" in r.stdout


def test_fit_table():
    r = run("fit", "llama-2-7b", "--budget", "2000")
    assert r.exit_code == 0, r.stderr
    assert "buy options" in r.stdout and "Nearest misses" in r.stdout
    assert "prices are dated snapshots" in r.stderr


def test_fit_json_fields():
    r = run("fit", "llama-2-7b", "--budget", "2000", "--format", "json")
    rows = json.loads(r.stdout)
    required = {"gpu", "num_gpus", "segment", "quant", "engine", "parallel", "fits", "vram_gib_per_gpu", "decode_tps",
                "decode_tps_per_user", "prefill_tps", "ttft_s", "upfront_usd", "usd_per_hour", "usd_per_month",
                "usd_per_million_tokens", "breakeven_months", "pareto", "reason", "notes"}
    assert rows and required <= set(rows[0])
    accepted = [x for x in rows if x["accepted"]]
    assert accepted and all(x["upfront_usd"] <= 2000 for x in accepted)


def test_fit_csv():
    r = run("fit", "llama-2-7b", "--budget", "2000", "--format", "csv")
    header = r.stdout.splitlines()[0].split(",")
    assert "usd_per_million_tokens" in header and len(r.stdout.splitlines()) > 2


CONTRACT_KEYS = {"weights_gib", "kv_cache_gib", "activations_gib", "runtime_overhead_gib", "vram_gib",
                 "vram_gib_per_gpu", "gpu_memory_gib", "fits", "decode_tps", "decode_tps_per_seq", "prefill_tps",
                 "ttft_s", "tpot_ms", "decode_tps_low", "decode_tps_high", "warnings", "error", "id"}


def test_estimate_json_contract():
    r = run("estimate", "llama-2-7b", "--gpu", "RTX 4090", "--quant", "Q4_K_M", "--format", "json")
    assert r.exit_code == 0, r.stderr
    obj = json.loads(r.stdout)
    assert CONTRACT_KEYS <= set(obj)
    assert obj["fits"] is True and obj["error"] is None and obj["decode_tps"] > 0


def test_estimate_all_flags():
    r = run("estimate", "meta-llama/Llama-3.1-70B-Instruct", "--gpu", "H100 SXM", "--num-gpus", "4", "--quant", "fp8",
            "--engine", "vllm", "--parallel", "tp", "--batch", "max", "--prompt-tokens", "1000", "--gen-tokens", "200",
            "--context", "8192", "--vram-gib", "80", "--format", "json")
    assert r.exit_code == 0, r.stderr
    obj = json.loads(r.stdout)
    assert obj["batch"] > 1 and obj["num_gpus"] == 4 and obj["parallel"] == "tp"


def test_estimate_table_shows_breakdown():
    r = run("estimate", "llama-2-7b", "--gpu", "RTX 4090")
    assert r.exit_code == 0
    for term in ("weights", "KV cache", "activations", "runtime overhead", "headroom", "decode"):
        assert term in r.stdout


def test_scenarios_jsonl_in_order_with_row_errors(tmp_path):
    f = tmp_path / "s.csv"
    f.write_text("id,model,gpu,num_gpus,quant,engine,parallel,batch,prompt_tokens,gen_tokens,context,vram_gib\n"
                 "a,llama-2-7b,RTX 4090,,Q4_K_M,,,,,,,\n"
                 "b,llama-2-7b,RTX 9999,,,,,,,,,\n"
                 "c,mixtral-8x7b,H100 SXM,2,fp16,vllm,tp,8,,,,\n"
                 "d,llama-2-7b,RTX 4090,,,,,-3,,,,\n")
    r = run("estimate", "--scenarios", str(f), "--format", "jsonl")
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["id"] for x in lines] == ["a", "b", "c", "d"]
    assert lines[0]["error"] is None and lines[2]["error"] is None
    assert "unknown GPU" in lines[1]["error"] and "batch" in lines[3]["error"]
    assert r.exit_code == 1 and "2 of 4 scenarios" in r.stderr


def test_scenarios_jsonl_input(tmp_path):
    f = tmp_path / "s.jsonl"
    f.write_text('{"id": "x", "model": "qwen3-8b", "gpu": "M4 Max 40-core", "quant": "Q4_K_M"}\n{not json}\n')
    r = run("estimate", "--scenarios", str(f), "--format", "jsonl")
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert lines[0]["fits"] is True and "invalid JSON" in lines[1]["error"]


@pytest.mark.parametrize("args,needle", [
    (["estimate", "llama-2-7b", "--gpu", "RTX 9999"], "unknown GPU"),
    (["estimate", "no-such-model", "--gpu", "RTX 4090"], "unknown model"),
    (["estimate", "llama-2-7b", "--gpu", "RTX 4090", "--gen-tokens", "-5"], "gen_tokens"),
    (["estimate", "llama-2-7b", "--gpu", "RTX 4090", "--quant", "Q9"], "unknown quantization"),
    (["estimate", "llama-2-7b", "--gpu", "RTX 4090", "--engine", "vllm", "--quant", "Q4_K_M"], "does not run"),
    (["estimate", "--scenarios", "/nonexistent.csv"], "cannot read"),
    (["fit", "llama-2-7b", "--users", "0"], "--users"),
    (["fit", "llama-2-7b", "--budget", "-1"], "--budget"),
    (["gpus", "show", "Voodoo 5"], "unknown GPU"),
])
def test_bad_input_is_one_line_and_nonzero(args, needle):
    r = run(*args)
    assert r.exit_code != 0
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:") and needle in lines[0], r.stderr
    assert "Traceback" not in r.stdout + r.stderr


@pytest.mark.parametrize("args,needle", [
    (["estimate", "llama-2-7b", "--gpu", "RTX 4090", "--vram-gib", "abc"], "--vram-gib"),
    (["fit", "llama-2-7b", "--bogus"], "No such option: --bogus"),
    (["info", "llama-2-7b", "--format", "xml"], "--format"),
    (["gpus", "show"], "Missing argument"),
])
def test_usage_errors_through_main_are_one_line_exit_2(args, needle, capsys):
    """What the console script does with a flag it cannot parse: one `Error:` line naming the help, exit 2
    (click's multi-line usage box otherwise)."""
    from llmplan.cli.app import main

    with pytest.raises(SystemExit) as exc:
        main(args)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert exc.value.code == 2
    assert len(lines) == 1 and lines[0].startswith("Error:") and needle in lines[0] and "--help" in lines[0], err


def test_main_returns_the_command_exit_code(capsys):
    from llmplan.cli.app import main

    with pytest.raises(SystemExit) as ok:
        main(["gpus", "show", "RTX 4090", "--format", "json"])
    assert ok.value.code == 0 and json.loads(capsys.readouterr().out)["name"] == "RTX 4090"
    with pytest.raises(SystemExit) as bad:
        main(["gpus", "show", "Voodoo 5"])
    assert bad.value.code != 0 and capsys.readouterr().err.startswith("Error: unknown GPU")


def test_gpus_list_filters():
    r = run("gpus", "--segment", "datacenter", "--min-memory", "80", "--format", "json")
    rows = json.loads(r.stdout)
    assert rows and all(x["segment"] == "datacenter" and x["memory_gib"] >= 80 for x in rows)
    bws = [x["memory_bw_gbs"] for x in rows if x["memory_bw_gbs"]]
    assert bws == sorted(bws, reverse=True)


def test_gpus_show_and_compare():
    r = run("gpus", "show", "RTX 4090", "--format", "json")
    assert json.loads(r.stdout)["name"] == "RTX 4090"
    r = run("gpus", "compare", "RTX 4090", "RTX 5090", "A100 80GB SXM", "H100 SXM")
    assert r.exit_code == 0 and "$ per GB/s" in r.stdout and "H100 SXM" in r.stdout


def test_info():
    r = run("info", "llama-2-7b", "--format", "json")
    data = json.loads(r.stdout)
    assert data["params_total"] == data["params_computed"] == 6_738_415_616 or data["params_total"] > 6.7e9
    assert {m["quant"] for m in data["memory"]} >= {"Q4_K_M", "BF16"}
    r = run("info", "llama-2-7b")
    assert "700M monthly" in r.stderr


def test_real_subprocess_offline(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HOME": str(tmp_path / "hf")}
    out = subprocess.run([sys.executable, "-m", "llmplan", "fit", "llama-2-7b", "--budget", "2000", "--format",
                          "json"], capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)
    bad = subprocess.run([sys.executable, "-m", "llmplan", "estimate", "llama-2-7b", "--gpu", "nope"],
                         capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert bad.returncode != 0 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    usage = subprocess.run([sys.executable, "-m", "llmplan", "fit", "llama-2-7b", "--users", "many"],
                           capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert usage.returncode == 2 and usage.stderr.startswith("Error:") and usage.stderr.count("\n") == 1


def test_fit_explain_shows_the_arithmetic():
    r = run("fit", "llama-3.1-8b", "--tps", "40", "--gpus", "RTX 4090,RTX 5090", "--explain", "1")
    assert r.exit_code == 0, r.stderr
    for needle in ("memory per GPU", "decode step", "GB/s x efficiency", "amortisation", "$ per 1M output tokens"):
        assert needle in r.stdout


def test_fit_explain_says_when_the_provider_rents_fewer_gpus():
    # Salad rents one RTX 3060 Ti per node: the 2-GPU option has no rental price, and says why
    r = run("fit", "llama-3.1-8b", "--gpus", "RTX 3060 Ti", "--quant", "Q8_0", "--explain", "1")
    assert r.exit_code == 0, r.stderr
    assert "2x RTX 3060 Ti" in r.stdout and "not rentable as one machine" in r.stdout and "nan" not in r.stdout


def test_price_file_overrides(tmp_path):
    f = tmp_path / "prices.csv"
    f.write_text("name,street_usd,price_as_of\nRTX 4090,999,2026-11\n")
    r = run("fit", "llama-2-7b", "--gpus", "RTX 4090", "--prices", str(f), "--format", "json")
    rows = [x for x in json.loads(r.stdout) if x["accepted"]]
    assert rows[0]["upfront_usd"] == 999
    # a new rental price brings its own per-instance limit: Salad's one-GPU cap goes with its price
    rent = tmp_path / "rent.csv"
    rent.write_text("name,cloud_usd_per_hour,cloud_provider,cloud_as_of\nRTX 3060 Ti,0.10,my host,2026-11\n")
    r = run("fit", "llama-3.1-8b", "--rent", "--gpus", "RTX 3060 Ti", "--quant", "Q8_0", "--prices", str(rent),
            "--format", "json")
    assert r.exit_code == 0, r.stderr
    two = [x for x in json.loads(r.stdout) if x["accepted"] and x["num_gpus"] == 2]
    assert two and two[0]["usd_per_hour"] == pytest.approx(0.20)
    bad = tmp_path / "bad.csv"
    bad.write_text("name,street_usd\nRTX 9999,1\n")
    r = run("fit", "llama-2-7b", "--prices", str(bad))
    assert r.exit_code != 0 and "bad.csv:2" in r.stderr


def test_validate_prints_headline_per_source():
    r = run("validate", "--by", "source", "--format", "json")
    assert r.exit_code == 0, r.stderr
    rows = json.loads(r.stdout)
    head = {x["metric"]: x for x in rows if x["by"] == "headline"}
    assert {"decode_b1", "prefill"} <= set(head)
    assert all(0 <= x["within_25"] <= 1 for x in rows)
    assert any(x["by"] == "source" for x in rows)


def test_train_command():
    r = run("train", "llama-3.1-8b", "--method", "qlora", "--gpu", "RTX 4090", "--format", "json")
    assert r.exit_code == 0, r.stderr
    obj = json.loads(r.stdout)
    assert obj["fits"] is True and obj["trainable_params"] > 0
    r = run("train", "llama-3.1-70b", "--method", "full", "--gpu", "H100 SXM", "--format", "json")
    assert json.loads(r.stdout)["fits"] is False
    r = run("train", "llama-3.1-8b", "--method", "dpo")
    assert r.exit_code != 0 and "method must be" in r.stderr


def test_fit_rows_carry_their_price_date_and_flag_old_snapshots(tmp_path):
    import datetime as dt

    today = dt.date.today().isoformat()
    f = tmp_path / "prices.csv"
    f.write_text(f"name,street_usd,price_as_of\nRTX 4090,999,{today}\nRTX 3090,700,2000-01-01\n")
    r = run("fit", "llama-2-7b", "--gpus", "RTX 4090,RTX 3090", "--prices", str(f), "--format", "json")
    assert r.exit_code == 0, r.stderr
    rows = {x["gpu"]: x for x in json.loads(r.stdout) if x["accepted"] and x["num_gpus"] == 1}
    old = "price snapshot over a year old"
    assert rows["RTX 4090"]["price_as_of"] == today and not any(old in n for n in rows["RTX 4090"]["notes"])
    assert rows["RTX 3090"]["price_as_of"] == "2000-01-01" and any(old in n for n in rows["RTX 3090"]["notes"])
    # renting: the rental snapshot's date
    r = run("fit", "llama-2-7b", "--rent", "--gpus", "RTX 4090", "--format", "json")
    gpu = run("gpus", "show", "RTX 4090", "--format", "json")
    assert json.loads(r.stdout)[0]["price_as_of"] == json.loads(gpu.stdout)["cloud_as_of"]


def test_fit_notes_the_platform_four_or_more_cards_need():
    r = run("fit", "llama-3.1-70b", "--gpus", "RTX 4090", "--top", "20", "--format", "json")
    assert r.exit_code == 0, r.stderr
    rows = [x for x in json.loads(r.stdout) if x["accepted"]]
    platform = "4 or more cards in one machine need a board with a PCIe slot for each"
    counts = {x["num_gpus"]: any(platform in n for n in x["notes"]) for x in rows}
    assert counts and all(has == (n >= 4) for n, has in counts.items())
    assert any(n >= 4 for n in counts) and any(n < 4 for n in counts)
    # SXM modules sit in a vendor baseboard: no such note
    r = run("fit", "llama-3.1-70b", "--gpus", "H100 SXM", "--format", "json")
    assert not any(platform in n for x in json.loads(r.stdout) for n in x["notes"])


def test_fit_with_a_format_no_default_engine_runs_names_the_engines_that_do():
    r = run("fit", "llama-2-7b", "--quant", "awq-gemv")
    assert r.exit_code != 0 and "add --engine transformers or autoawq" in r.stderr
    ok = run("fit", "llama-2-7b", "--quant", "awq-gemv", "--engine", "autoawq", "--budget", "2000")
    assert ok.exit_code == 0 and "awq-gemv" in ok.stdout
