"""Engine allocations against public measurements (engine logs quoted in issues and reports), within 10%.

Each case names its source. Quantities: vLLM's KV-cache capacity (what is left of gpu_memory_utilization x
the card after weights, activations and runtime: it sets how many sequences fit), vLLM's weight load per GPU,
llama.cpp's KV and compute buffers, and Metal's working-set share of Apple unified memory.
Known misses are listed at the end, not hidden.
"""

import pytest

from llmplan import architecture as arch
from llmplan import memory as mem
from llmplan.catalog import find_in_catalog
from llmplan.engines import GIB, PROFILES, TORCH_RUNTIME_GIB
from llmplan.quant import for_model, parse_quant

MIB = 1024**2
H100_GIB = 79.19  # what CUDA reports for an H100 80GB (the logs below)
PLANNER = "llm-d-incubation/llm-d-planner@151baf3 accuracy report (vLLM v0.17-v0.19, H100 80GB)"


def vllm_kv_gib(repo, quant, tp, utilization, device_gib):
    """KV-cache GiB per GPU in our model: utilization x device - weights / tp - activations - runtime."""
    m = find_in_catalog(repo)
    weights = mem.model_weight_bytes(m, for_model(m, parse_quant(quant), "vllm")) / tp
    act = float(mem.activation_bytes(m, PROFILES["vllm"], 8192, 1.0))
    return utilization * device_gib - (weights + act) / GIB - TORCH_RUNTIME_GIB


@pytest.mark.parametrize("repo,quant,tp,util,device,measured_gib,source", [
    ("meta-llama/Llama-3.1-8B-Instruct", "bf16", 1, 0.95, H100_GIB, 58.11, PLANNER),
    ("meta-llama/Llama-3.1-8B-Instruct", "fp8", 1, 0.95, H100_GIB, 64.61, PLANNER),
    ("Qwen/Qwen2.5-7B-Instruct", "bf16", 1, 0.95, H100_GIB, 58.53, PLANNER),
    ("Qwen/Qwen3-14B", "bf16", 1, 0.95, H100_GIB, 45.34, PLANNER + ", v0.17.0"),
    ("mistralai/Mistral-Small-3.1-24B-Instruct-2503", "bf16", 1, 0.95, H100_GIB, 28.2,
     "llm-d/llm-d-benchmark@87ab01b (vLLM v0.11.0)"),
    ("meta-llama/Meta-Llama-3-8B", "bf16", 1, 0.90, H100_GIB, 53.29, "vllm-project/vllm#10511 (v0.6.4)"),
    ("meta-llama/Llama-3.1-8B-Instruct", "bf16", 1, 0.90, H100_GIB, 51.38, "llm-d/llm-d-benchmark@0282dcf"),
    ("Qwen/Qwen3-0.6B", "bf16", 1, 0.90, H100_GIB, 64.45, "llm-d/llm-d-benchmark@0282dcf"),
    ("meta-llama/Llama-3.3-70B-Instruct", "fp8", 2, 0.90, H100_GIB, 32.0, "llm-d/llm-d-benchmark@0282dcf"),
])
def test_vllm_kv_cache_capacity(repo, quant, tp, util, device, measured_gib, source):
    assert vllm_kv_gib(repo, quant, tp, util, device) == pytest.approx(measured_gib, rel=0.10), source


@pytest.mark.parametrize("repo,kv_dtype_bytes,measured_tokens,source", [
    # vLLM v0.19 "GPU KV cache size: N tokens", H100, gpu_memory_utilization 0.95, bf16 weights
    ("meta-llama/Llama-3.1-8B-Instruct", 2.0, 476_000, PLANNER),
    ("meta-llama/Llama-3.1-8B-Instruct", 1.0, 952_032, PLANNER + ", --kv-cache-dtype fp8"),
    ("Qwen/Qwen2.5-7B-Instruct", 2.0, 1_096_000, PLANNER),
])
def test_vllm_kv_tokens(repo, kv_dtype_bytes, measured_tokens, source):
    m = find_in_catalog(repo)
    per_token = float(arch.kv_cache_bytes(m, 1, 1, kv_dtype_bytes))
    tokens = vllm_kv_gib(repo, "bf16", 1, 0.95, H100_GIB) * GIB / per_token
    assert tokens == pytest.approx(measured_tokens, rel=0.10), source


@pytest.mark.parametrize("repo,quant,tp,measured_gib,source", [
    ("meta-llama/Llama-3.1-8B-Instruct", "bf16", 1, 14.99, PLANNER),
    ("meta-llama/Llama-3.1-8B-Instruct", "bf16", 4, 3.77, PLANNER),
    ("meta-llama/Llama-3.1-8B-Instruct", "fp8", 1, 8.49, PLANNER),
    ("Qwen/Qwen3-32B", "bf16", 2, 30.59, "llm-d/llm-d-benchmark@0282dcf"),
    ("meta-llama/Llama-3.3-70B-Instruct", "fp8", 2, 33.88, "llm-d/llm-d-benchmark@0282dcf"),
    ("Qwen/Qwen2.5-7B-Instruct", "nf4", 1, 5.2, "vllm-project/vllm#13882 (bitsandbytes 4-bit, RTX 4060)"),
    ("openai/gpt-oss-20b", "mxfp4", 1, 13.47, "llm-d/llm-d-benchmark@0282dcf (MXFP4 experts, bf16 rest)"),
])
def test_vllm_weights_per_gpu(repo, quant, tp, measured_gib, source):
    m = find_in_catalog(repo)
    weights = mem.model_weight_bytes(m, for_model(m, parse_quant(quant), "vllm")) / tp / GIB
    assert weights == pytest.approx(measured_gib, rel=0.10), source


@pytest.mark.parametrize("repo,n_ctx,measured_mib,source", [
    ("mistralai/Mistral-7B-Instruct-v0.2", 2048, 256.0, "fedora-copr/logdetective (llama.cpp log)"),
    ("mistralai/Mistral-7B-Instruct-v0.2", 32768, 4096.0, "fedora-copr/logdetective (llama.cpp log)"),
    ("Qwen/Qwen2.5-3B-Instruct", 4096, 144.0, "SciSharp/LLamaSharp#1099"),
    ("CohereForAI/c4ai-command-r-v01", 4096, 5120.0, "ggml-org/llama.cpp#6122 (two GPUs, summed)"),
    # gpt-oss: 12 full layers + 12 sliding-window (128) layers; llama.cpp keeps window + n_ubatch tokens
    ("openai/gpt-oss-20b", 16384, 402.0, "ggml-org/llama.cpp#17715"),
])
def test_llama_cpp_kv_buffer(repo, n_ctx, measured_mib, source):
    m = find_in_catalog(repo)
    kv = float(arch.kv_cache_bytes(m, n_ctx, 1, 2.0, window_capped=True)) / MIB
    assert kv == pytest.approx(measured_mib, rel=0.10), source


@pytest.mark.parametrize("repo,measured_mib,source", [
    ("openai/gpt-oss-20b", 398.0, "ggml-org/llama.cpp#17715 (n_ubatch 512, flash attention on)"),
    ("Qwen/Qwen2.5-3B-Instruct", 300.75, "SciSharp/LLamaSharp#1099 (n_ubatch 512)"),
])
def test_llama_cpp_compute_buffer(repo, measured_mib, source):
    m = find_in_catalog(repo)
    act = float(mem.activation_bytes(m, PROFILES["llama.cpp"], 512, 1.0)) / MIB
    assert act == pytest.approx(measured_mib, rel=0.10), source


@pytest.mark.parametrize("memory_gb,measured_mib,source", [
    (8, 5461.34, "li-plus/chatglm.cpp#76 (M2, ggml_metal_init recommendedMaxWorkingSetSize)"),
    (16, 10922.67, "abetlen/llama-cpp-python#687"),
    (32, 21845.34, "ggml-org/llama.cpp#2011"),
    (64, 49152.0, "ggml-org/llama.cpp#1870"),
    (96, 73728.0, "ggml-org/llama.cpp#3213"),
])
def test_metal_working_set(memory_gb, measured_mib, source):
    usable = float(mem.usable_device_bytes(memory_gb, True)) / MIB
    assert usable == pytest.approx(measured_mib, rel=0.10), source


# Known misses (> 10%), kept visible: vLLM's activation term alone (our profile estimate is 2-4x below the
# "PyTorch activation peak" vLLM logs, which changed 2.5x between v0.16 and v0.17 for the same model; the
# KV capacity above absorbs it through TORCH_RUNTIME_GIB); multimodal profiling (Llama-3.2-11B-Vision: 36.6 GiB
# of activations, vllm#12126); Qwen3-235B-A22B FP8 at TP 4 (predicted KV 1.8x the logged 8.11 GiB, vllm#21348);
# gpt-oss-120b on one H100 (3.3 GiB left for KV: a small remainder magnifies any error); llama.cpp without
# flash attention (its n_ctx x n_ubatch x heads score matrix: 2,144 MiB at 32k for Mistral-7B).
