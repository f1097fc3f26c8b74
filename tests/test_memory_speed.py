"""Memory and speed through the public estimate path: golden numbers and properties."""

import math

import pytest

from llmplan.catalog import find_in_catalog
from llmplan.engines import CUDA_CONTEXT_GIB, PROFILES, backend_for
from llmplan.estimate import estimate_many
from llmplan.gpus import load_gpus, resolve_gpu
from llmplan.records import Scenario

GIB = 1024**3
LLAMA2 = find_in_catalog("llama-2-7b")


def one(model=LLAMA2, **kw):
    s = Scenario(model=model.repo_id, gpu=kw.pop("gpu", "RTX 4090"), **kw)
    (e,) = estimate_many(model, [s])
    assert e.error is None, e.error
    return e


def test_memory_terms_golden_llama2_q4km():
    e = one(quant="Q4_K_M", prompt_tokens=512, gen_tokens=128)
    # weights: 4.08 GB file = 3.80 GiB, less the token embedding llama.cpp keeps in system RAM
    # (32,000 x 4,096 weights in Q4_K, 144 bytes per 256 = 73.7 MB); KV: 524,288 B/token x 640 tokens = 0.3125 GiB
    embedding = 32_000 * 4_096 * 144 / 256
    assert e.model_weights_gib == pytest.approx(4.08e9 / GIB, rel=0.01)
    assert e.weights_gib == pytest.approx((4.08e9 - embedding) / GIB, rel=0.01)
    assert e.system_ram_gib == pytest.approx(embedding / GIB, rel=0.01)
    assert e.kv_cache_gib == pytest.approx(524_288 * 640 / GIB, abs=1e-3)
    # llama.cpp compute buffer: 512 tokens x 4 B x max(logits + hidden 32000 + 4096, MLP 4096 + 3 x 11008)
    assert e.activations_gib == pytest.approx(512 * 4 * max(32000 + 4096, 4096 + 3 * 11008) / GIB, abs=1e-3)
    assert e.runtime_overhead_gib == pytest.approx(CUDA_CONTEXT_GIB)
    assert e.vram_gib == pytest.approx(e.weights_gib + e.kv_cache_gib + e.activations_gib + e.runtime_overhead_gib,
                                       abs=2e-3)
    assert e.fits and e.engine == "llama.cpp" and e.parallel == "pp"


def test_decode_golden_memory_bound():
    e = one(quant="Q4_K_M", prompt_tokens=512, gen_tokens=128)
    gpu, _ = resolve_gpu("RTX 4090")
    prof = PROFILES["llama.cpp"]
    # bytes per step: weights less the embedding table (Q4_K in a Q4_K_M file: 4.5 bpw) + KV at position 576
    weights = 4.08e9 - 131_072_000 * 4.5 / 8
    kv = 524_288 * (512 + 64)
    step_s = (weights + kv) / (gpu.memory_bw_gbs * 1e9 * prof.bw_efficiency["cuda"]) + prof.step_overhead_s["cuda"]
    assert e.decode_tps == pytest.approx(1 / step_s, rel=0.01)
    assert e.tpot_ms == pytest.approx(step_s * 1e3, rel=0.01)
    assert e.decode_tps_low < e.decode_tps < e.decode_tps_high
    assert e.bound == "memory"


def test_tensor_parallel_halves_weights_per_gpu():
    e1 = one(gpu="H100 SXM", quant="fp16", engine="vllm", num_gpus=1)
    e2 = one(gpu="H100 SXM", quant="fp16", engine="vllm", num_gpus=2, parallel="tp")
    per_gpu_weights_1 = e1.weights_gib
    per_gpu_weights_2 = e2.weights_gib / 2
    assert per_gpu_weights_2 == pytest.approx(per_gpu_weights_1 / 2)
    assert e2.decode_tps > e1.decode_tps  # TP adds bandwidth


def test_pipeline_split_does_not_speed_up_one_stream():
    e1 = one(gpu="RTX 3090", quant="Q4_K_M")
    e2 = one(gpu="RTX 3090", quant="Q4_K_M", num_gpus=2, parallel="pp")
    assert e2.decode_tps <= e1.decode_tps


def test_more_context_never_less_kv_and_never_faster():
    previous = None
    for ctx in (1024, 4096, 16384, 65536):
        e = one(model=find_in_catalog("llama-3.1-8b"), gpu="H100 SXM", quant="bf16", engine="vllm",
                prompt_tokens=ctx - 128, gen_tokens=128)
        if previous:
            assert e.kv_cache_gib > previous.kv_cache_gib
            assert e.decode_tps <= previous.decode_tps
        previous = e


def test_batch_raises_aggregate_and_lowers_per_sequence_speed():
    rows = [one(gpu="A100 80GB SXM", quant="bf16", engine="vllm", batch=b,
                model=find_in_catalog("llama-3.1-8b")) for b in (1, 4, 16, 64, 256)]
    agg = [r.decode_tps for r in rows]
    per = [r.decode_tps_per_seq for r in rows]
    assert agg == sorted(agg) and per == sorted(per, reverse=True)
    # the roofline: each 4x of batch gives less than 4x throughput, and less and less as compute takes over
    gains = [b / a for a, b in zip(agg, agg[1:])]
    assert all(g < 4 for g in gains) and gains[-1] < gains[0]


def test_batch_max_uses_the_memory():
    e = one(gpu="RTX 4090", quant="Q4_K_M", batch="max", context=8192, prompt_tokens=1024, gen_tokens=256)
    assert e.batch == e.max_batch > 1
    assert e.fits and e.gpu_memory_gib - e.vram_gib_per_gpu < e.kv_cache_gib / e.batch + 0.01


def test_does_not_fit_gives_no_speed_and_says_why():
    (e,) = estimate_many(find_in_catalog("llama-2-70b"), [Scenario(model="x", gpu="RTX 4090", quant="Q4_K_M")])
    assert not e.fits
    assert e.decode_tps is None and e.ttft_s is None
    assert any("does not fit" in w and "weights" in w for w in e.warnings)


def test_vram_override_for_apple():
    e = one(gpu="M3 Max 40-core", quant="Q4_K_M", vram_gib=48)
    # macOS lets the GPU wire ~3/4 of memory above 36 GB
    assert e.gpu_memory_gib == pytest.approx(48 * 0.75)


def test_moe_reads_only_active_experts_at_batch_1():
    qwen = find_in_catalog("qwen3-30b-a3b")
    dense = find_in_catalog("qwen3-32b")
    moe = one(model=qwen, gpu="RTX 5090", quant="Q4_K_M")
    big = one(model=dense, gpu="RTX 5090", quant="Q4_K_M")
    assert moe.decode_tps > 3 * big.decode_tps


@pytest.mark.parametrize("gpu", load_gpus(), ids=lambda g: g.name)
def test_every_gpu_gives_a_sane_estimate(gpu):
    """Whole-table invariant: a 1B model at Q4_K_M fits every card, and speed stays under the
    bandwidth roofline (bytes per token / bandwidth)."""
    if backend_for(gpu.vendor, gpu.architecture) in ("tpu", "hpu"):
        pytest.skip("llama.cpp does not run on TPU or Gaudi")
    m = find_in_catalog("llama-3.2-1b")
    (e,) = estimate_many(m, [Scenario(model=m.repo_id, gpu=gpu.name, quant="Q4_K_M", prompt_tokens=128,
                                      gen_tokens=32)])
    assert e.error is None and e.fits
    roofline = gpu.memory_bw_gbs * 1e9 / (e.weights_gib * GIB * 0.9)
    assert 0 < e.decode_tps < roofline
    # a missing tensor-throughput spec is never read as zero: no prefill, and a warning says why
    assert (e.ttft_s is not None and math.isfinite(e.ttft_s) and e.ttft_s > 0) or (
        e.prefill_tps is None and any("no tensor TFLOPS" in w for w in e.warnings))


def test_more_bandwidth_never_slower_across_table():
    m = find_in_catalog("llama-2-7b")
    gpus = [g for g in load_gpus() if g.memory_bw_gbs and g.vendor == "NVIDIA" and g.memory_gib >= 8]
    scen = [Scenario(model=m.repo_id, gpu=g.name, quant="Q4_K_M", prompt_tokens=128, gen_tokens=32) for g in gpus]
    speeds = sorted((g.memory_bw_gbs, e.decode_tps) for g, e in zip(gpus, estimate_many(m, scen)))
    tps = [s for _, s in speeds]
    assert all(b >= a * 0.999 for a, b in zip(tps, tps[1:]))


def test_kv_dtype_shrinks_the_cache_by_its_element_size():
    f16 = one(quant="Q4_K_M", context=8192)
    q8 = one(quant="Q4_K_M", context=8192, kv_dtype="q8_0")
    q4 = one(quant="Q4_K_M", context=8192, kv_dtype="q4_0")
    # q8_0: 34 bytes per 32 elements, q4_0: 18 per 32, against 2 bytes for f16
    assert q8.kv_cache_gib == pytest.approx(f16.kv_cache_gib * (34 / 32) / 2, rel=1e-3)
    assert q4.kv_cache_gib == pytest.approx(f16.kv_cache_gib * (18 / 32) / 2, rel=1e-3)
    assert q4.max_batch > q8.max_batch > f16.max_batch
    (bad,) = estimate_many(LLAMA2, [Scenario(model="x", gpu="RTX 4090", engine="vllm", quant="fp16", kv_dtype="q4_0")])
    assert "cannot store the KV cache as q4_0" in bad.error


def test_cpu_offload_moves_memory_to_ram_and_runs_at_ram_bandwidth():
    m = find_in_catalog("llama-3.1-70b-instruct")
    gpu_only = estimate_many(m, [Scenario(model="x", gpu="RTX 4090", quant="Q4_K_M")])[0]
    assert not gpu_only.fits
    half = one(model=m, quant="Q4_K_M", offload_layers=40, ram_bw_gbs=89.6)
    assert half.fits and half.offload_layers == 40
    # half of the weights (and KV) in system RAM
    assert half.system_ram_gib == pytest.approx(half.model_weights_gib / 2 + half.kv_cache_gib, rel=0.05)
    assert half.weights_gib == pytest.approx(half.model_weights_gib / 2, rel=0.05)
    # the CPU half reads ~20 GiB at <= 89.6 GB/s: never more than 89.6e9 / 20 GiB tokens/s
    assert half.decode_tps < 89.6e9 / (half.model_weights_gib / 2 * GIB)
    faster_ram = one(model=m, quant="Q4_K_M", offload_layers=40, ram_bw_gbs=200)
    assert faster_ram.decode_tps > half.decode_tps
    fewer = one(model=m, quant="Q4_K_M", offload_layers=44, ram_bw_gbs=89.6)
    assert fewer.decode_tps < half.decode_tps and fewer.vram_gib_per_gpu < half.vram_gib_per_gpu
    assert any("DDR5-5600" in w for w in one(model=m, quant="Q4_K_M", offload_layers=40).warnings)


def test_backend_choice_is_checked_against_the_vendor():
    vulkan = one(quant="Q4_K_M", backend="vulkan")
    assert vulkan.backend == "vulkan" and vulkan.decode_tps > 0
    (bad,) = estimate_many(LLAMA2, [Scenario(model="x", gpu="RTX 4090", backend="metal")])
    assert "backend metal does not run on RTX 4090" in bad.error
    (bad,) = estimate_many(LLAMA2, [Scenario(model="x", gpu="RTX 4090", engine="vllm", offload_layers=4)])
    assert "only llama.cpp" in bad.error


def test_two_nodes_split_memory_but_not_the_single_stream_time():
    m = find_in_catalog("llama-3.1-405b-instruct")
    eight = one(model=m, gpu="H200 SXM", quant="fp8", engine="vllm", num_gpus=8, parallel="tp")
    sixteen = one(model=m, gpu="H100 SXM", quant="fp8", engine="vllm", num_gpus=16, parallel="tp")
    assert sixteen.fits and sixteen.vram_gib_per_gpu < 80
    # per-GPU weights: 1/16 of the model
    assert sixteen.weights_gib / 16 == pytest.approx(eight.weights_gib / 16)
    # a token crosses both nodes in turn: one node's tensor-parallel time, not half of it
    h100x8_time_floor = sixteen.weights_gib * GIB / 8 / (3350e9)
    assert 1 / sixteen.decode_tps_per_seq > h100x8_time_floor


def test_a_prequantized_repo_is_estimated_in_its_shipped_format():
    oss = find_in_catalog("gpt-oss-20b")
    (e,) = estimate_many(oss, [Scenario(model="x", gpu="RTX 4090")])
    assert e.quant == "mxfp4" and e.engine == "llama.cpp" and any("ships mxfp4" in w for w in e.warnings)
    # MXFP4 is 4.25 bits per weight (4-bit e2m1 + one 8-bit scale per 32): ~21B params -> about 12 GiB
    assert 10 < e.weights_gib < 14
    (q,) = estimate_many(oss, [Scenario(model="x", gpu="RTX 4090", quant="Q8_0")])
    assert q.quant == "Q8_0" and not any("ships" in w for w in q.warnings)


def test_linear_calls_per_step_golden():
    from llmplan import architecture as arch

    # Llama-2-7B: 32 layers x (q, k, v, o + gate, up, down) = 224
    assert float(arch.linear_calls_per_step(LLAMA2, 1)) == 224
    # Mixtral-8x7B at batch 1: 32 x (4 + 3 x 2 routed experts) = 320; at batch 2 the two tokens touch
    # 8 x (1 - (6/8)^2) = 3.5 experts on average: 32 x (4 + 3 x 3.5) = 464
    mixtral = find_in_catalog("mixtral-8x7b")
    assert float(arch.linear_calls_per_step(mixtral, 1)) == pytest.approx(320)
    assert float(arch.linear_calls_per_step(mixtral, 2)) == pytest.approx(464)


def test_bitsandbytes_kernel_family_golden():
    """bitsandbytes pays BNB_LINEAR_OVERHEAD_S per linear call, and nf4 with more than one token per step
    dequantizes every weight to a 16-bit copy first (+4 bytes per weight read)."""
    from llmplan.engines import BNB_LINEAR_OVERHEAD_S

    gpu, _ = resolve_gpu("H100 SXM")
    prof = PROFILES["transformers"]
    bw = gpu.memory_bw_gbs * 1e9 * prof.bw_efficiency["cuda"]
    kw = dict(gpu="H100 SXM", engine="transformers", prompt_tokens=64, gen_tokens=2, context=128)
    b1 = one(quant="bnb-nf4", batch=1, **kw)
    b8 = one(quant="bnb-nf4", batch=8, **kw)
    # the same step without the kernel family, from the weight bytes alone: batch 1 reads the 4-bit file
    body_weights = LLAMA2.params_total - 2 * 131_072_000  # embedding and lm_head stay 16 bit, untied
    assert b1.tpot_ms / 1e3 == pytest.approx(
        (b1.weights_gib * GIB - 131_072_000 * 2 + 524_288 * 65) / bw + prof.step_overhead_s["cuda"]
        + 224 * BNB_LINEAR_OVERHEAD_S["nf4"], rel=0.01)
    # batch 8: + 4 bytes x the 4-bit weights (the 16-bit copy written and read)
    assert b8.tpot_ms / 1e3 == pytest.approx(
        (b1.weights_gib * GIB - 131_072_000 * 2 + 4 * body_weights + 8 * 524_288 * 65) / bw
        + prof.step_overhead_s["cuda"] + 224 * BNB_LINEAR_OVERHEAD_S["nf4"], rel=0.01)
    # hence at batch 8 nf4 is slower than bf16 (4.5 vs 2 bytes per weight), as bitsandbytes' own table shows
    bf16 = one(quant="bf16", batch=8, **kw)
    assert b8.decode_tps < bf16.decode_tps


def test_serving_engine_per_sequence_overhead_golden():
    """A decode step grows by seq_layer_overhead_s x layers for each sequence after the first (2.5 us for
    vLLM-class engines, 10 us for llama.cpp). Llama-2-7B on A100 at 128 + 2 tokens stays memory-bound at batch
    16, so the only other growth is the KV read: 15 more sequences x 524,288 B/token x 129 positions."""
    from llmplan.engines import LLAMA_CPP_SEQ_LAYER_S, SERVING_SEQ_LAYER_S

    gpu, _ = resolve_gpu("A100 80GB SXM")
    bw = gpu.memory_bw_gbs * 1e9 * PROFILES["vllm"].bw_efficiency["cuda"]
    kw = dict(gpu="A100 80GB SXM", quant="fp16", engine="vllm", prompt_tokens=128, gen_tokens=2, context=256)
    b1, b16 = one(batch=1, **kw), one(batch=16, **kw)
    assert b16.bound == "memory"
    assert PROFILES["vllm"].seq_layer_overhead_s == SERVING_SEQ_LAYER_S == pytest.approx(2.5e-6)
    # 15 sequences x 32 layers x 2.5 us = 1.2 ms
    assert (b16.tpot_ms - b1.tpot_ms) / 1e3 == pytest.approx(15 * 32 * SERVING_SEQ_LAYER_S + 15 * 524_288 * 129 / bw,
                                                             rel=0.01)
    # llama.cpp: 15 sequences x 32 layers x 10 us = 4.8 ms, at its own bandwidth efficiency
    assert PROFILES["llama.cpp"].seq_layer_overhead_s == LLAMA_CPP_SEQ_LAYER_S == pytest.approx(10e-6)
    bw_cpp = gpu.memory_bw_gbs * 1e9 * PROFILES["llama.cpp"].bw_efficiency["cuda"]
    kw.update(quant="Q8_0", engine="llama.cpp")
    c1, c16 = one(batch=1, **kw), one(batch=16, **kw)
    assert c16.bound == "memory"
    assert (c16.tpot_ms - c1.tpot_ms) / 1e3 == pytest.approx(
        15 * 32 * LLAMA_CPP_SEQ_LAYER_S + 15 * 524_288 * 129 / bw_cpp, rel=0.01)


def test_compute_bound_matmuls_still_pay_for_the_kv_reads():
    """Matmuls and attention are separate kernels: each takes the longer of its bytes and its FLOPs, and the step
    is their sum. Llama-2-7B fp16 on vLLM, A100 80GB SXM, batch 256 at 128 + 2 tokens: the matmuls are
    compute-bound (2 x 6.74e9 params x 256 tokens at 312 TFLOPS x 0.72) while attention reads 256 x 129 x
    524,288 B of KV at 2,039 GB/s x 0.62 (its FLOPs, 4 x 32 layers x 4,096 x 129 x 256, are far below)."""
    from llmplan.engines import SERVING_SEQ_LAYER_S

    gpu, _ = resolve_gpu("A100 80GB SXM")
    prof = PROFILES["vllm"]
    e = one(gpu="A100 80GB SXM", quant="fp16", engine="vllm", prompt_tokens=128, gen_tokens=2, context=256, batch=256)
    assert e.bound == "compute"
    matmul_s = 2 * LLAMA2.params_total * 256 / (gpu.fp16_tflops * 1e12 * prof.prefill_efficiency["cuda"])
    kv_s = 256 * 129 * 524_288 / (gpu.memory_bw_gbs * 1e9 * prof.bw_efficiency["cuda"])
    overhead_s = prof.step_overhead_s["cuda"] + 255 * 32 * SERVING_SEQ_LAYER_S
    assert e.tpot_ms / 1e3 == pytest.approx(matmul_s + kv_s + overhead_s, rel=0.01)
    # max(all bytes, all FLOPs) would hide the KV read behind the matmuls
    weights_s = e.weights_gib * GIB / (gpu.memory_bw_gbs * 1e9 * prof.bw_efficiency["cuda"])
    assert matmul_s > weights_s
    assert e.tpot_ms / 1e3 > max(matmul_s, weights_s + kv_s) + overhead_s


def test_a_batch_carries_the_wider_batched_band():
    from llmplan.evaluate import (
        DECODE_BATCHED_RATIO_P10,
        DECODE_BATCHED_RATIO_P90,
        DECODE_RATIO_BAND,
    )

    kw = dict(gpu="A100 80GB SXM", quant="fp16", engine="vllm", prompt_tokens=128, gen_tokens=2, context=256)
    b1, b16 = one(batch=1, **kw), one(batch=16, **kw)
    p10, p90 = DECODE_RATIO_BAND["vllm"]
    assert (b1.decode_tps_low, b1.decode_tps_high) == (pytest.approx(b1.decode_tps / p90, rel=1e-3),
                                                       pytest.approx(b1.decode_tps / p10, rel=1e-3))
    assert b16.decode_tps_low == pytest.approx(b16.decode_tps / DECODE_BATCHED_RATIO_P90, rel=1e-3)
    assert b16.decode_tps_high == pytest.approx(b16.decode_tps / DECODE_BATCHED_RATIO_P10, rel=1e-3)


def test_awq_prefill_runs_the_gemm_kernel_below_its_threshold_and_dequantizes_above():
    """AutoAWQ's GEMM-packed layers run the llm-awq GEMM kernel below 1024 tokens per call, at
    AWQ_GEMM_KERNEL_EFFICIENCY of the fp16 peak for the architecture, and from 1024 tokens dequantize to fp16 (4
    bytes written and read per 4-bit weight) and multiply at the engine's own prefill efficiency. Llama-2-7B on an
    RTX 4090 (Ada): 6.74e9 params, of which 2 x 131,072,000 (embedding, head) stay 16 bit."""
    from llmplan import architecture as arch
    from llmplan.engines import AWQ_DEQUANT_MIN_TOKENS, AWQ_GEMM_KERNEL_EFFICIENCY

    assert AWQ_DEQUANT_MIN_TOKENS["autoawq"] == 1024
    gpu, _ = resolve_gpu("RTX 4090")
    prof = PROFILES["autoawq"]
    peak, eff = gpu.fp16_tflops * 1e12, prof.prefill_efficiency["cuda"]
    kernel_eff = AWQ_GEMM_KERNEL_EFFICIENCY["ada lovelace"]
    active = arch.params_active(LLAMA2)

    def attention_flops(p):
        return 2 * 32 * 32 * 128 * p**2

    kw = dict(gpu="RTX 4090", engine="autoawq", quant="awq", gen_tokens=1, batch=1)
    below, at = one(prompt_tokens=1000, **kw), one(prompt_tokens=1024, **kw)
    t_below = 2 * active * 1000 / (peak * kernel_eff) + attention_flops(1000) / (peak * eff) + prof.step_overhead_s["cuda"]
    assert 1000 / below.prefill_tps == pytest.approx(t_below, rel=1e-3)
    dequant_s = 4 * (LLAMA2.params_total - 2 * 131_072_000) / (gpu.memory_bw_gbs * 1e9 * prof.bw_efficiency["cuda"])
    t_at = (2 * active * 1024 + attention_flops(1024)) / (peak * eff) + prof.step_overhead_s["cuda"] + dequant_s
    assert 1024 / at.prefill_tps == pytest.approx(t_at, rel=1e-3)


def test_awq_gemv_decodes_faster_and_prefills_slower_than_gemm():
    """GEMV-packed AWQ reads the weights AWQ_GEMV_BW_GAIN times faster at 1-8 tokens per call; above 8 tokens its
    batched kernel runs at 1 / AWQ_GEMMV2_SLOWDOWN of the GEMM kernel's rate."""
    from llmplan import architecture as arch
    from llmplan.engines import AWQ_GEMM_KERNEL_EFFICIENCY, AWQ_GEMMV2_SLOWDOWN, AWQ_GEMV_BW_GAIN

    gpu, _ = resolve_gpu("A100 80GB SXM")
    prof = PROFILES["autoawq"]
    bw = gpu.memory_bw_gbs * 1e9 * prof.bw_efficiency["cuda"]
    kw = dict(gpu="A100 80GB SXM", engine="autoawq", prompt_tokens=64, gen_tokens=2, batch=1)
    gemm, gemv = one(quant="awq", **kw), one(quant="awq-gemv", **kw)
    weight_read = gemm.weights_gib * GIB - 131_072_000 * 2  # the embedding is a row lookup
    assert (gemm.tpot_ms - gemv.tpot_ms) / 1e3 == pytest.approx(weight_read * (1 - 1 / AWQ_GEMV_BW_GAIN) / bw,
                                                                 abs=2e-6)  # tpot_ms is given to 1 us
    assert gemv.decode_tps > gemm.decode_tps
    assert any("GEMV-packed AWQ" in w for w in gemv.warnings) and not any("GEMV" in w for w in gemm.warnings)
    # a 512-token prompt: the matmuls at the GEMM kernel's rate, or ten times slower through GEMV
    gemm_p, gemv_p = one(quant="awq", **{**kw, "prompt_tokens": 512}), one(quant="awq-gemv", **{**kw, "prompt_tokens": 512})
    matmul_s = 2 * arch.params_active(LLAMA2) * 512 / (gpu.fp16_tflops * 1e12 * AWQ_GEMM_KERNEL_EFFICIENCY["ampere"])
    assert 512 / gemv_p.prefill_tps - 512 / gemm_p.prefill_tps == pytest.approx(matmul_s * (AWQ_GEMMV2_SLOWDOWN - 1),
                                                                            rel=1e-3)


def test_vllm_runs_awq_through_marlin_from_ampere_and_the_gemm_kernel_on_turing():
    """vLLM's non-Marlin AWQ path (Turing) runs the GEMM kernel below 256 tokens per step: a batch of 64 on a T4
    is compute-bound at the Turing kernel rate. On Ampere the same weights run Marlin, at the engine's rate."""
    from llmplan import architecture as arch
    from llmplan.engines import AWQ_GEMM_KERNEL_EFFICIENCY

    kw = dict(engine="vllm", quant="awq", prompt_tokens=128, gen_tokens=2, context=160, batch=64)
    t4, a10 = one(gpu="T4", **kw), one(gpu="A10", **kw)
    assert t4.bound == "compute"
    assert any("no Marlin kernels for AWQ" in w for w in t4.warnings)
    assert not any("Marlin" in w for w in a10.warnings)
    gpu, _ = resolve_gpu("T4")
    matmul_s = 2 * arch.params_active(LLAMA2) * 64 / (gpu.fp16_tflops * 1e12 * AWQ_GEMM_KERNEL_EFFICIENCY["turing"])
    prof = PROFILES["vllm"]
    kv_s = 64 * 129 * 524_288 / (gpu.memory_bw_gbs * 1e9 * prof.bw_efficiency["cuda"])  # 64 x 129 positions
    overhead_s = prof.step_overhead_s["cuda"] + 63 * 32 * prof.seq_layer_overhead_s
    assert t4.tpot_ms / 1e3 == pytest.approx(matmul_s + kv_s + overhead_s, rel=1e-3)
    # Ampere: the matmuls at the engine's own compute rate (Marlin), far below the T4's step
    a10_gpu, _ = resolve_gpu("A10")
    marlin_s = 2 * arch.params_active(LLAMA2) * 64 / (a10_gpu.fp16_tflops * 1e12 * PROFILES["vllm"].prefill_efficiency["cuda"])
    assert a10.tpot_ms / 1e3 < matmul_s
    assert a10.tpot_ms / 1e3 >= marlin_s


def test_gemv_packed_awq_needs_an_engine_with_gemv_kernels():
    model = LLAMA2
    (e,) = estimate_many(model, [Scenario(model=model.repo_id, gpu="RTX 4090", quant="awq-gemv", engine="vllm")])
    assert e.error and "vllm does not run awq-gemv" in e.error and "autoawq" in e.error  # names who does
    ok = one(quant="awq-gemv", engine="transformers")
    assert ok.decode_tps > 0
    auto = one(engine="autoawq")
    assert auto.quant == "awq" and not any("not modelled" in w for w in auto.warnings)


def test_awq_gemm_kernel_prefill_says_how_little_it_is_measured():
    e = one(gpu="RTX 3060 12GB", engine="autoawq")
    assert any("AWQ GEMM kernel's rate is measured on a T4, an A100 and an RTX 4090 only" in w for w in e.warnings)
    marlin = one(gpu="RTX 3060 12GB", engine="vllm", quant="awq")  # Marlin on Ampere: no such caveat
    assert not any("AWQ GEMM kernel" in w for w in marlin.warnings)
