"""The calibration set and the validation library: every usable row resolves, and the accuracy arithmetic
weights sources equally."""

from dataclasses import replace

import pytest

from llmplan import engines
from llmplan.catalog import find_in_catalog
from llmplan.engines import resolve_engine
from llmplan.gpus import resolve_gpu
from llmplan.quant import parse_quant
from llmplan.validate import (GROUP_DECODE_B1, GROUP_PREFILL, METRICS, QUALITIES, USES, CalibrationRow, accuracy,
                              band, default_calibration_path, headline, load_calibration, predict)

ROWS = load_calibration()
USED = [r for r in ROWS if r.use != "exclude"]


def test_batched_bench_rows_of_moe_models_are_kept_out():
    """llama-batched-bench decodes token 0 in every sequence, so a batch of B identical sequences routes to the same
    experts: its MoE rows at B > 1 would teach llmplan a routing no server sees."""
    moe_batched = [r for r in ROWS if "batched-bench" in r.setup_notes and (r.batch or 1) > 1
                   and find_in_catalog(r.model_key).num_experts]
    assert len(moe_batched) >= 12  # gpt-oss and Qwen3-30B-A3B on DGX Spark, M2 Ultra, RTX 5090
    assert all(r.use == "exclude" and "same experts" in r.setup_notes for r in moe_batched)
    # the dense batched-bench rows stay
    assert any("batched-bench" in r.setup_notes and (r.batch or 1) > 1 and r.use == "calibrate" for r in ROWS)


def test_load_calibration():
    assert len(ROWS) > 300
    assert len({r.id for r in ROWS}) == len(ROWS)
    for r in ROWS:
        assert r.metric in METRICS and r.use in USES and r.quality in QUALITIES
        assert r.measured > 0 and r.source and r.source_date and r.setup_notes
        if r.use == "exclude":
            assert "EXCLUDED:" in r.setup_notes, r.id
    # whole sources are held out: no source is split between fitting and validation
    by_use = {}
    for r in USED:
        by_use.setdefault(r.source, set()).add(r.use)
    assert all(len(uses) == 1 for uses in by_use.values())
    assert any(r.use == "validate-only" for r in ROWS) and any(r.use == "calibrate" for r in ROWS)
    assert all(r.quality != "low" for r in USED)


def test_header_names_the_reserved_tables():
    head = "".join(line for line in default_calibration_path().read_text(encoding="utf-8").splitlines(True)
                   if line.startswith("#"))
    for name in ("XiongjieDai/GPU-Benchmarks-on-LLM-Inference", "premAI-io/benchmarks", "mlc-ai/llm-perf-bench",
                 "AutoAWQ", "TinyChat", "exllama", "gpt-fast", "quack-ai/companion", "geerlingguy",
                 "dmatora/LLM-inference-speed-benchmarks", "TensorRT-LLM", "MLPerf"):
        assert name in head, name
    sources = {r.source for r in ROWS}
    assert not any("XiongjieDai" in s or "premAI" in s or "llm-perf-bench" in s for s in sources)


@pytest.mark.parametrize("row", USED, ids=lambda r: r.id)
def test_every_used_row_resolves(row):
    assert resolve_gpu(row.gpu_key)[0].memory_bw_gbs
    assert find_in_catalog(row.model_key) is not None, row.model_key
    parse_quant(row.quant_key)
    resolve_engine(row.engine_key)


def test_predict_gives_a_value_or_a_reason():
    results = predict(USED)
    assert len(results) == len(USED)
    for row, pred, err in results:
        assert (pred is None) != (err is None), row.id
        if pred is not None:
            assert pred > 0
    assert sum(p is not None for _, p, _ in results) > 0.7 * len(USED)


def test_prefill_at_depth_is_slower_than_from_empty():
    base = next(r for r in ROWS if r.id == "lcpp26284-llama8b-q4_k_m-pp2048-7900xtx")
    deep = next(r for r in ROWS if r.id == "lcpp26284-llama8b-q4_k_m-pp2048-d4096-7900xtx")
    (_, p0, e0), (_, p1, e1) = predict([base, deep])
    assert e0 is None and e1 is None and p1 < p0


def test_a_vulkan_row_is_predicted_on_the_vulkan_backend():
    row = next(r for r in USED if r.backend == "Vulkan" and r.metric == "decode_tps" and r.gpu_key == "RTX 3090")
    prof = engines.PROFILES["llama.cpp"]
    cuda_row = replace(row, backend="CUDA")
    (_, p_vk, _), (_, p_cuda, _) = predict([row, cuda_row])
    assert p_vk != p_cuda
    assert (p_vk < p_cuda) == (prof.bw_efficiency["vulkan"] < prof.bw_efficiency["cuda"])


# ---------------------------------------------------------------- accuracy arithmetic on synthetic rows

def _row(i, source, metric="decode_tps", batch=1, measured=100.0):
    return CalibrationRow(
        id=f"r{i}", source=source, source_date="2025-01", gpu="RTX 4090", num_gpus=1, engine="llama.cpp",
        engine_version="", backend="CUDA", model="m", quant="Q4_0", batch=batch, prompt_tokens=0, gen_tokens=128,
        context_depth=0, metric=metric, measured=measured, unit="tokens/s", setup_notes="synthetic",
        gpu_key="RTX 4090", model_key="meta-llama/Llama-2-7b-hf", quant_key="Q4_0", engine_key="llama.cpp",
        use="calibrate", quality="primary")


def _synthetic():
    # source A: three batch-1 decode rows at ratios 1.0, 1.0, 2.0; source B: one at 1.2;
    # plus one prefill row of A at 0.5 and one row without a prediction (ignored).
    a = [_row(0, "A"), _row(1, "A"), _row(2, "A")]
    b = [_row(3, "B")]
    return [(a[0], 100.0, None), (a[1], 100.0, None), (a[2], 200.0, None), (b[0], 120.0, None),
            (_row(4, "A", metric="prefill_tps"), 50.0, None), (_row(5, "B"), None, "does not fit")]


def test_accuracy_weights_sources_equally():
    acc = accuracy(_synthetic())
    head = {d["metric"]: d for d in acc if d["by"] == "headline"}
    d = head[GROUP_DECODE_B1]
    # weights: A rows 1/3 each, B row 1 (total 2)
    assert d["n"] == 4 and d["sources"] == 2
    assert d["within_10"] == pytest.approx((1 / 3 + 1 / 3) / 2)          # the two exact A rows
    assert d["within_25"] == pytest.approx((1 / 3 + 1 / 3 + 1) / 2)      # + B at 1.2
    assert d["within_50"] == pytest.approx((1 / 3 + 1 / 3 + 1) / 2)      # A at 2.0 is 100% off
    # weighted median: sorted 1.0 (1/3), 1.0 (1/3), 1.2 (1), 2.0 (1/3); half the weight (1) is reached at 1.2
    assert d["median_ratio"] == pytest.approx(1.2)
    p = head[GROUP_PREFILL]
    assert p["n"] == 1 and p["median_ratio"] == pytest.approx(0.5) and p["within_50"] == pytest.approx(1.0)
    assert headline(_synthetic())[GROUP_DECODE_B1] == d


def test_accuracy_groups_count_rows_once():
    acc = accuracy(_synthetic(), by=("source",))
    a = next(d for d in acc if d["by"] == "source" and d["key"] == "A" and d["metric"] == GROUP_DECODE_B1)
    assert a["n"] == 3 and a["median_ratio"] == pytest.approx(1.0)
    assert a["within_25"] == pytest.approx(2 / 3) and a["within_10"] == pytest.approx(2 / 3)
    b = next(d for d in acc if d["by"] == "source" and d["key"] == "B")
    assert b["n"] == 1 and b["within_25"] == 1.0
    g = next(d for d in accuracy(_synthetic(), by=("gpu_class",)) if d["by"] == "gpu_class")
    assert g["key"] == "consumer"


def test_band_is_ordered():
    lo, hi = band(_synthetic())
    assert lo <= hi
    # unweighted over the four batch-1 ratios 1.0, 1.0, 1.2, 2.0
    assert band(_synthetic(), weighted=False) == (pytest.approx(1.0), pytest.approx(2.0))
    lo, hi = band(predict(USED))
    assert 0 < lo <= 1.0 <= hi
    with pytest.raises(ValueError):
        band([])


def test_offload_rows_carry_their_cpu_layers_and_ram_bandwidth():
    from llmplan.validate import offload_setup

    row = next(r for r in USED if r.id == "ihq-offload-qwen25c14b-q4km-ngl16")
    # ngl=16/48: 32 layers on the CPU; dual-channel DDR4-2400: 2 x 8 B x 2400 MT/s = 38.4 GB/s
    assert offload_setup(row) == (32, 38.4)
    (_, predicted, error), = predict([row])
    assert error is None and 0.75 < predicted / row.measured < 1.33


def test_the_shipped_error_band_is_the_one_the_calibration_set_gives():
    from llmplan.evaluate import DECODE_RATIO_BAND, DECODE_RATIO_P10, DECODE_RATIO_P90
    from llmplan.validate import band_by_engine

    results = predict(USED)
    low, high = band(results)
    assert low == pytest.approx(DECODE_RATIO_P10, abs=0.02)
    assert high == pytest.approx(DECODE_RATIO_P90, abs=0.02)
    # per engine profile: the band of its own rows
    bands = band_by_engine(results)
    for name, (p10, p90) in DECODE_RATIO_BAND.items():
        assert bands[name] == (pytest.approx(p10, abs=0.02), pytest.approx(p90, abs=0.02)), name
    assert DECODE_RATIO_BAND["llama.cpp"][1] < DECODE_RATIO_P90  # the well-measured engine is tighter
    # batches > 1 carry the band of the batched rows, which is wider
    from llmplan.evaluate import DECODE_BATCHED_RATIO_P10, DECODE_BATCHED_RATIO_P90
    from llmplan.validate import GROUP_DECODE_BATCHED

    assert band(results, group=GROUP_DECODE_BATCHED) == (pytest.approx(DECODE_BATCHED_RATIO_P10, abs=0.02),
                                                         pytest.approx(DECODE_BATCHED_RATIO_P90, abs=0.02))
    assert DECODE_BATCHED_RATIO_P90 > DECODE_RATIO_P90
    # the largest measured batch per engine profile, which estimates beyond it name
    from llmplan.engines import resolve_engine
    from llmplan.evaluate import MEASURED_BATCH_MAX

    largest: dict[str, int] = {}
    for row, predicted, _ in results:
        if predicted is not None and row.metric in ("decode_tps", "decode_tps_per_seq", "e2e_output_tps"):
            name = resolve_engine(row.engine_key)[0].name
            largest[name] = max(largest.get(name, 1), row.batch or 1)
    assert {k: v for k, v in MEASURED_BATCH_MAX.items() if k in largest} == largest
