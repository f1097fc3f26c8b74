"""Inference engines: what each supports and the few constants that set its memory and speed.

Every efficiency and overhead here is a named constant with its source. Values marked "fit" come from
``scripts/calibrate.py`` over the calibration set (llmplan/data/calibration.csv), whose rows carry their
own sources; the reserved validation tables (see README) were never used to set them.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmplan.errors import InvalidInputError

GIB = 1024**3

# CUDA context + cuBLAS workspace per GPU for a C++ engine (llama.cpp): ~0.3-0.4 GiB on Ada/Hopper
# (nvidia-smi after context creation; llama.cpp issue discussions of "CUDA0 buffer" vs nvidia-smi, 2024).
CUDA_CONTEXT_GIB = 0.40
# PyTorch engines add the caching allocator, cuBLAS/NCCL workspaces and CUDA graphs: vLLM logs show
# ~0.5-1.0 GiB of "non-torch memory" + graph memory on H100 for 8B models (vLLM docs, "Memory profiling", 2025).
TORCH_RUNTIME_GIB = 1.0
# vLLM / SGLang / TensorRT-LLM take this share of device memory up front (vLLM default
# gpu_memory_utilization=0.9, vLLM EngineArgs docs 2025; SGLang mem_fraction_static ~0.88).
SERVING_MEMORY_UTILIZATION = 0.90
# Paged KV cache block size in tokens (vLLM default block_size=16, EngineArgs docs 2025).
PAGED_BLOCK_TOKENS = 16
# llama.cpp default physical micro-batch for prompt processing (n_ubatch=512, llama.cpp common args, 2025).
LLAMA_CPP_UBATCH = 512
# vLLM V1 default max_num_batched_tokens for the profiling/prefill chunk (vLLM docs, 2025).
SERVING_BATCHED_TOKENS = 8192
# macOS lets Metal wire about 2/3 of unified memory on machines with <= 36 GB and about 3/4 above
# (Metal recommendedMaxWorkingSetSize, reported in llama.cpp/ggml-metal logs and discussion #4167, 2023-24).
APPLE_GPU_SHARE_SMALL = 0.67
APPLE_GPU_SHARE_LARGE = 0.75
APPLE_SMALL_LIMIT_GIB = 36
# NCCL small-message all-reduce latency: ~6 us for 2 GPUs with NVLS (8x H100 HGX, NVIDIA/nccl#1259,
# 2024-04), ~54 us over PCIe for 8x RTX 3090 (NVIDIA/nccl#1439, 2024-09). Per GPU in the ring we use
# 5 us on NVLink / Infinity Fabric and 12 us over PCIe (so 2 GPUs: 10/24 us, 8 GPUs: 40/96 us); the 8-GPU
# NVLink value matches the refit of the MI300X TP-8 rows (calibrate.py).
ALLREDUCE_LATENCY_PER_GPU_S = {"nvlink": 5e-6, "pcie": 12e-6}
# Share of the system RAM's peak bandwidth llama.cpp's CPU backend reaches when decoding offloaded layers:
# 0.60 puts the 11 calibrate rows with layers on the CPU (InventiveHQ speculative-decoding-consumer-gpus
# @e6d889c/@b438c8e: i7-8700, dual-channel DDR4-2400, -ngl 0..40) at predicted/measured 0.88-1.17 (median
# 0.96), and the held-out PR #12922 row (Ryzen 5800X, DDR4-2133, -ngl 0) at 1.02.
CPU_BW_EFFICIENCY = 0.60
# Dual-channel DDR5-5600, a common desktop: 2 channels x 8 bytes x 5600 MT/s = 89.6 GB/s (JEDEC definition);
# used, with a warning, when --ram-bw-gbs is not given.
DEFAULT_RAM_BW_GBS = 89.6
# A node holds 8 GPUs (HGX/DGX H100, H200, B200, MI300X platforms); beyond 8, tensor parallel stays inside a
# node and nodes form a pipeline. Between nodes: one 400 Gb/s NDR InfiniBand port per GPU = 50 GB/s (DGX H100
# datasheet: 8x ConnectX-7 400 Gb/s), and ~10 us per activation hand-off (NCCL inter-node send/recv, order of
# magnitude from nccl-tests reports).
GPUS_PER_NODE = 8

INTERNODE_GBS = 50.0
INTERNODE_LATENCY_S = 10e-6
# PCIe 4.0 x16 effective ~25 GB/s one way (nccl-tests busbw 20-25 GB/s, NVIDIA/nccl-tests#44, 2020).
PCIE_ALLREDUCE_GBS = 25.0

# Kernel family bitsandbytes (nf4 / LLM.int8, any engine that loads through it: transformers, TGI).
# Each quantized linear call costs host and kernel time beyond its bytes: quantize the activations, find the
# outliers (int8), launch the dequantizing kernel. Seconds per call, the pair that minimises the mean
# |log(predicted/measured)| over the 15 use=calibrate bitsandbytes rows (bitsandbytes-foundation/bitsandbytes
# @1b7b9bb benchmarking/README.md: Llama-3.1-8B/70B, Qwen2.5-3B/14B/32B on H100, RTX 4090, T4) on a grid of
# 20 us steps, 2026-11-22: those rows go from median 1.65 to 1.02 and from 13% to 47% within +-25%; the held-out
# TGI nf4 rows from 0% to 40%. The host CPU sets it: the RTX 4090 box's rows alone want ~0, the H100 box's
# 60-220 us, so a bitsandbytes prediction stays the least certain kind (estimate warns).
BNB_LINEAR_OVERHEAD_S = {"nf4": 80e-6, "llm.int8": 120e-6}
# A kernel that dequantizes a weight matrix to a 16-bit copy before a cuBLAS matmul writes 2 bytes and reads 2
# bytes per weight on top of the packed read (a definition). bitsandbytes' 4-bit matmul does this whenever a step
# carries more than one token (the fused 4-bit kernel serves one token only: bitsandbytes
# autograd/_functions.py, matmul_4bit); AWQ does it at and above AWQ_DEQUANT_MIN_TOKENS (below).
DEQUANT_16BIT_BYTES_PER_WEIGHT = 4.0

# Kernel family AWQ (4-bit, group 128), which kernel runs a linear layer depends on the tokens in the call:
# - GEMM-packed checkpoints (the default "version": "gemm"): the llm-awq GEMM kernel (16-row tiles, dequantizing
#   in registers) below a token count, and dequantize-to-fp16 + cuBLAS at or above it: 1024 tokens in AutoAWQ
#   (awq/modules/linear/gemm.py since casper-hansen/AutoAWQ PR #316, 2024-01), 256 in vLLM's non-Marlin `awq`
#   method (vllm/model_executor/layers/quantization/awq.py since vllm-project/vllm PR #2566, 2024-01). vLLM runs
#   AWQ through Marlin (awq_marlin) on Ampere and newer, so the split applies to it on Turing only. Definitions.
AWQ_DEQUANT_MIN_TOKENS = {"autoawq": 1024, "transformers": 1024, "vllm": 256}
AWQ_MARLIN_ARCHITECTURES = frozenset({"ampere", "ada lovelace", "hopper", "blackwell"})
# - GEMV-packed checkpoints ("version": "gemv", AutoAWQ / transformers only): the GEMV kernel up to 8 tokens per
#   call, a batched-GEMV kernel (gemmv2) above (awq/modules/linear/gemv.py: inputs.shape[0] > 8). Definition.
AWQ_GEMV_MAX_TOKENS = 8
# Share of the fp16 tensor peak the llm-awq GEMM kernel's matmuls reach (prefill below the dequant threshold and
# batched decode), per architecture: the kernel dequantizes every 16-row tile in registers, so its rate follows
# the SMs' clock and integer throughput more than the tensor peak, and differs by generation more than any other
# constant here. Each value is predicted = measured on the AutoAWQ benchmark.py prefill rows of 256-512 tokens of
# one calibrate source (fused modules, the rows' own GEMM kernel; 2026-11-22): Turing 0.095 (T4, AutoAWQ PR #92),
# Ampere 0.115 (A100 80GB, PR #320), Ada 0.53 (RTX 4090, PR #656). Held out: A800 40GB (issue #645) wants 0.15.
# Architectures with no rows (Hopper, Blackwell, Volta) take Ampere's, the datacenter value.
AWQ_GEMM_KERNEL_EFFICIENCY = {"turing": 0.095, "ampere": 0.115, "ada lovelace": 0.53}
AWQ_GEMM_KERNEL_DEFAULT_ARCH = "ampere"
# GEMV vs GEMM at 1-8 tokens: "GEMV is about 20-25% faster than GEMM" in token generation (AutoAWQ PR #40,
# 2023-09-08) and 90-95% vs 75-80% of ExLlamaV2's speed (AutoAWQ issue #48, 2023-09-14): the weight reads run
# 1.2x faster. Above 8 tokens GEMV is "10x slower at processing context" than GEMM (same two sources): its
# batched kernel reaches a tenth of the GEMM kernel's efficiency.
AWQ_GEMV_BW_GAIN = 1.2
AWQ_GEMMV2_SLOWDOWN = 10.0


# Kernel family fused MoE (vLLM-class serving engines: vLLM, SGLang, TGI, LMDeploy, TensorRT-LLM). Each MoE layer
# of a decode step runs work a dense model does not: router top-k, token-to-expert sort/align, grouped expert
# GEMMs over many small weight tiles, the weighted un-permute. Seconds per MoE layer per step, on top of the
# bytes read. 100 us puts tenstorrent/tt-inference-server#340 (Qwen3-30B-A3B bf16, vLLM, A100, batch 1: 103
# tok/s measured; 1.61x too fast without the term) at 0.97 (grid in 50 us steps, 2026-11-22). Chosen over a cost
# per expert touched (fits DeepSeek-R1 TP-8 better but charges 100+ ms per step at batch 64 for 128-512-expert
# models, against ~30 ms TPOTs public vLLM runs show). DeepSeek-V3/R1 (MLA, FP8 block scales, 256 experts over
# TP 8) stays 1.6-2.1x too fast: dstackai/benchmarks@7f37e66, vLLM PR #14138, QuixiAI AWQ (see README).
# llama.cpp needs no such term (its Qwen3-30B-A3B / gpt-oss rows on DGX Spark are within 10% without it).
SERVING_MOE_LAYER_S = 100e-6
# Per sequence of a batch and per layer, vLLM-class serving engines spend time that is neither weight bytes nor
# matmul FLOPs: each layer's decode attention, rotary, norm and cache-write kernels do per-sequence work (paged
# block tables, short KV rows read at low efficiency), and the scheduler, input preparation and sampler add per
# sequence on the host. Seconds per sequence beyond the first, per layer, per decode step: 2.5 us brings the 56
# use=calibrate batched decode rows of vLLM-class engines without MLA models (dstackai/benchmarks@85a2fe1 405B
# on 8x H100 and 4-8x MI300X, Oracle 405B MI300X, vLLM PR #23197 8B/70B on H100, LMDeploy Llama-2 7B/13B/70B on
# A100) from median predicted/measured 1.15 to 0.97 and from 61% to 84% within +-25% (source-weighted squared log
# error 0.186 -> 0.054, flat over 2.5-3.0 us; grid in 0.5 us steps, 2026-11-22). A per-sequence constant without
# the layer count fits worse (75% within +-25%: too much for 32-layer 7B models, too little for 126-layer 405B).
# DeepSeek-V3/R1 rows are left out of this fit: they are 1.5x too fast at batch 1 already (MLA, FP8 block
# scales), not a per-sequence effect. Held out: vLLM's CI run (buildkite 9515, H200, batch 8) 1.13 -> 1.03 for 8B.
SERVING_SEQ_LAYER_S = 2.5e-6
# The same per-sequence, per-layer time for llama.cpp, whose batched decode runs its quantized matmuls as
# MMVQ (<= 8 tokens) or MMQ kernels well below their prefill speed and launches its elementwise kernels per
# token row. 10 us minimises the source-weighted squared log error (0.510 -> 0.174) over the 20 use=calibrate
# dense llama.cpp batched rows (ggml-org/llama.cpp benches/dgx-spark.md @4c7e989; mudler/LocalAI @07985ba
# VLLM_DECOMPOSITION.md, Qwen3-32B Q4_K_M at 8-128 sequences, and @0337505 PAGED_KV_HIGH_CONCURRENCY.md,
# Qwen3-1.7B Q8_0 at 128-1024 sequences, all on DGX Spark GB10; llama.cpp PR #3545 V100 F16): median
# predicted/measured 2.15 -> 1.16, within +-25% 16% -> 69% (grid in 2 us steps, flat over 8-10 us, 2026-11-22).
# Every batched row with this engine is on a DGX Spark or older GPU; on a datacenter GPU it is extrapolated
# (kept a constant time, as vLLM's is: vLLM's own DGX Spark rows, mudler/LocalAI @07985ba, do not grow by
# the 12x bandwidth ratio a throughput-bound cost would).
LLAMA_CPP_SEQ_LAYER_S = 10e-6


def tensor_parallel_degree(num_gpus):
    """GPUs one tensor-parallel group spans: all of them up to a node, then one node (works on arrays)."""
    import numpy as np

    return np.minimum(num_gpus, GPUS_PER_NODE)


@dataclass(frozen=True)
class EngineProfile:
    """An engine kind. The three speed constants are per backend (cuda, metal, rocm, vulkan, sycl, ...):
    ``bw_efficiency`` is achieved / peak memory bandwidth in decode, ``prefill_efficiency`` achieved /
    peak dense tensor FLOPs in prefill (and in compute-bound decode), ``step_overhead_s`` the fixed
    seconds per decode step (launches, sampling, scheduling), ``seq_layer_overhead_s`` what each further
    sequence of a batch adds to it in every layer."""

    name: str
    backends: frozenset[str]
    quant_kinds: frozenset[str]
    parallel_modes: tuple[str, ...]  # first is the default
    bw_efficiency: dict[str, float]
    prefill_efficiency: dict[str, float]
    step_overhead_s: dict[str, float]
    runtime_gib: float  # per GPU, outside weights/KV/activations
    seq_layer_overhead_s: float = 0.0  # seconds each sequence beyond the first adds per layer to a decode step
    paged: bool = False  # preallocates a paged KV pool (vLLM-like)
    mla_compressed: bool = True  # stores MLA's latent rather than full K/V
    window_capped: bool = True  # sliding-window layers hold only the window
    vendor_rules: bool = True  # applies vLLM's per-architecture kernel rules (format_support)
    sources: str = ""
    default_quant: str = "bf16"


_GGUF = frozenset({"gguf", "float", "mxfp4"})  # gpt-oss ships MXFP4 experts in GGUF
_SERVING = frozenset({"float", "fp8", "fp4", "mxfp4", "awq", "gptq", "int8", "int4", "bnb"})
AWQ_KINDS = frozenset({"awq", "awq-gemv"})  # GEMM- and GEMV-packed AWQ

# Constants fitted by scripts/calibrate.py (coordinate descent on log(predicted/measured)) to the
# use=calibrate rows of llmplan/data/calibration.csv, 2026-11-22; whole sources are held out for
# `llmplan validate --rows validate-only`. Each comment names the rows a value rests on.
# llama.cpp, per backend. cuda: llama.cpp benches/dgx-spark.md @4c7e989 (19 rows) + discussion #15013 (19);
# metal: discussion #4167 (72); rocm: PR #26284 (5); vulkan: discussion #10879 + PR #21024 (17); sycl (Intel
# Arc): the A770/B580 rows of #10879 measure about half the Vulkan-on-NVIDIA efficiency. Prefill is rated
# against the FP16 (FP16-accumulate) tensor peak, same rows. No separate factor for k-quant dequantisation at
# batch 1: the same-source pairs do not show one beyond +-10% (discussion #4167, 12 Apple chips: Q4_0 0-6%
# slower per byte than Q8_0/F16; PR #4406 Mixtral on M2 Max: Q4_K_M = Q4_0; PR #26284 RX 7900 XTX: Q4_K_M vs
# Q5_K_M within 8%); only the AWS T4 rows (Q4_K_M 20% slower per byte than Q8_0) show one, on one GPU
# (validate, 2026-11-22).
_LLAMA_CPP_BW = {"cuda": 0.805, "metal": 0.74, "rocm": 0.66, "vulkan": 0.89, "sycl": 0.45}
_LLAMA_CPP_PREFILL = {"cuda": 0.40, "metal": 0.72, "rocm": 0.42, "vulkan": 0.41, "sycl": 0.20}
_LLAMA_CPP_OVERHEAD_S = {"cuda": 1.8e-3, "metal": 4.9e-3, "rocm": 1.8e-3, "vulkan": 1.6e-3, "sycl": 1.8e-3}


def _llama_cpp_constants(*backends: str) -> dict[str, dict[str, float]]:
    """llama.cpp's three per-backend constants on ``backends``, for an engine with no rows of its own."""
    return {name: {b: table[b] for b in backends} for name, table in (
        ("bw_efficiency", _LLAMA_CPP_BW), ("prefill_efficiency", _LLAMA_CPP_PREFILL),
        ("step_overhead_s", _LLAMA_CPP_OVERHEAD_S))}


_CALIBRATED = "fit to llmplan/data/calibration.csv (scripts/calibrate.py, 2026-11-22)"
PROFILES: dict[str, EngineProfile] = {p.name: p for p in [
    EngineProfile(
        "llama.cpp", frozenset({"cuda", "rocm", "metal", "vulkan", "sycl"}), _GGUF, ("pp", "tp"),
        bw_efficiency=_LLAMA_CPP_BW, prefill_efficiency=_LLAMA_CPP_PREFILL, step_overhead_s=_LLAMA_CPP_OVERHEAD_S,
        runtime_gib=CUDA_CONTEXT_GIB, seq_layer_overhead_s=LLAMA_CPP_SEQ_LAYER_S, default_quant="Q4_K_M",
        vendor_rules=False, sources=_CALIBRATED),
    EngineProfile(
        "vllm", frozenset({"cuda", "rocm", "tpu", "hpu"}), _SERVING, ("tp", "pp"),
        # cuda: InternLM/lmdeploy@3e391df docs/en/benchmark/a100_fp16.md (17 rows, TurboMind as the
        # vLLM-class engine); rocm: Oracle blog, Llama-3.1-405B FP8 on 8x MI300X (9 rows), refit with the
        # 8-GPU all-reduce latency below
        bw_efficiency={"cuda": 0.62, "rocm": 0.43},
        prefill_efficiency={"cuda": 0.72, "rocm": 0.72},
        step_overhead_s={"cuda": 0.65e-3, "rocm": 0.65e-3},
        runtime_gib=TORCH_RUNTIME_GIB, seq_layer_overhead_s=SERVING_SEQ_LAYER_S, paged=True, sources=_CALIBRATED),
    EngineProfile(
        "transformers", frozenset({"cuda", "rocm", "metal"}), _SERVING | AWQ_KINDS, ("pp",),
        # bitsandbytes benchmarking/README.md @1b7b9bb, bf16/fp16 rows (12; H100, RTX 4090, T4); the overhead
        # depends on the host CPU (H100 pair alone: ~16 ms, 4090 box: <= 5 ms)
        bw_efficiency={"cuda": 0.89}, prefill_efficiency={"cuda": 0.45}, step_overhead_s={"cuda": 18.6e-3},
        runtime_gib=0.6, mla_compressed=False, window_capped=False, sources=_CALIBRATED),
    EngineProfile(
        # AutoAWQ's own runtime, fuse_layers=True (fused attention with a preallocated cache, fused MLP; also
        # transformers' AwqConfig(do_fuse=True)): casper-hansen/AutoAWQ examples/benchmark.py rows of PRs #92,
        # #320, #656 (24 rows; T4, A100, RTX 4090); prefill is the dequantize + cuBLAS path (>= 1024 tokens).
        # Held out: issues #645 (A800) and #276 (A100). Unfused AWQ in transformers is the transformers profile.
        # AutoAWQ was archived in 2025; its kernels live on in transformers and vLLM's Turing path.
        "autoawq", frozenset({"cuda"}), AWQ_KINDS, ("pp",),
        bw_efficiency={"cuda": 0.62}, prefill_efficiency={"cuda": 0.48}, step_overhead_s={"cuda": 6.7e-3},
        runtime_gib=0.6, mla_compressed=False, window_capped=False, default_quant="awq", sources=_CALIBRATED),
    EngineProfile(
        "exllamav2", frozenset({"cuda", "rocm"}), frozenset({"exl2", "gptq", "float"}), ("tp", "pp"),
        # no calibration rows yet: llama.cpp CUDA's constants (the same class of hand-written GEMV kernels)
        **_llama_cpp_constants("cuda"), runtime_gib=0.6, default_quant="exl2-4.65", sources="borrowed from llama.cpp CUDA (no rows yet)"),
    EngineProfile(
        "mlx", frozenset({"metal"}), frozenset({"float", "mlx", "int4", "int8"}), ("pp",),
        # Rapid-MLX PR #585, mlx-lm PRs #1569 and #40, mlx-examples PR #1069 (9 rows)
        bw_efficiency={"metal": 0.87}, prefill_efficiency={"metal": 0.80}, step_overhead_s={"metal": 1.6e-3},
        runtime_gib=0.3, default_quant="int4", vendor_rules=False, sources=_CALIBRATED),
    EngineProfile(
        "mlc-llm", frozenset({"cuda", "rocm", "metal", "vulkan"}), frozenset({"mlc", "float"}), ("tp",),
        # no calibration rows yet: llama.cpp's constants per backend
        **_llama_cpp_constants("cuda", "metal", "rocm", "vulkan"), runtime_gib=0.5, default_quant="mlc-q4f16_1", vendor_rules=False,
        sources="borrowed from llama.cpp (no rows yet)"),
]}

# Engines we do not model separately, estimated as their nearest kind (with a warning).
NEAREST: dict[str, str] = {
    "sglang": "vllm", "tensorrt-llm": "vllm", "lmdeploy": "vllm", "tgi": "vllm",
    "deepspeed-mii": "vllm", "exllama": "exllamav2", "tinychat": "autoawq",
    "gpt-fast": "exllamav2", "ctranslate2": "exllamav2", "litgpt": "transformers",
    "onnxruntime": "transformers", "koboldcpp": "llama.cpp", "lm-studio": "llama.cpp",
}
# Aliases that are the same engine (no warning); ollama runs llama.cpp underneath: same kernels and memory.
SAME: dict[str, str] = {"llamacpp": "llama.cpp", "llama-cpp": "llama.cpp", "ollama": "llama.cpp",
                        "hf": "transformers", "mlc": "mlc-llm", "trt-llm": "tensorrt-llm"}


def constants_for(engine: EngineProfile, backend: str) -> tuple[float, float, float, str]:
    """(bandwidth efficiency, prefill efficiency, step overhead s, warning) of an engine on a backend.
    A backend without calibration borrows the engine's CUDA values and says so (never a silent guess)."""
    if backend in engine.bw_efficiency:
        return (engine.bw_efficiency[backend], engine.prefill_efficiency[backend],
                engine.step_overhead_s[backend], "")
    ref = "cuda" if "cuda" in engine.bw_efficiency else next(iter(engine.bw_efficiency))
    warning = f"{engine.name} on {backend} is not calibrated: using its {ref} efficiencies"
    return engine.bw_efficiency[ref], engine.prefill_efficiency[ref], engine.step_overhead_s[ref], warning


def engines_running(kind: str) -> list[str]:
    """The modelled engines that load weights of a format kind (for error messages)."""
    return [p.name for p in PROFILES.values() if kind in p.quant_kinds]


def awq_on_marlin(engine: EngineProfile, architecture: str) -> bool:
    """Whether the engine runs AWQ weights through Marlin on this architecture (vLLM-class, Ampere and newer)."""
    return engine.paged and architecture.strip().lower() in AWQ_MARLIN_ARCHITECTURES


def resolve_engine(name: str) -> tuple[EngineProfile, list[str]]:
    """Return the profile for an engine name and any warnings (nearest-kind substitution)."""
    key = name.strip().lower()
    if key in PROFILES:
        return PROFILES[key], []
    key = SAME.get(key, key)
    if key in PROFILES:
        return PROFILES[key], []
    if key in NEAREST:
        prof = PROFILES[NEAREST[key]]
        return prof, [f"engine {name} is not modelled yet; estimated as {prof.name}"]
    known = sorted(set(PROFILES) | set(NEAREST))
    raise InvalidInputError(f"unknown engine {name!r}; known: {', '.join(known)}")


def backend_for(vendor: str, architecture: str = "") -> str:
    """The compute backend an engine uses on a vendor's accelerator."""
    arch = architecture.lower()
    if "gaudi" in arch:
        return "hpu"
    if "tpu" in arch:
        return "tpu"
    return {"nvidia": "cuda", "amd": "rocm", "apple": "metal", "intel": "sycl", "google": "tpu"}.get(
        vendor.strip().lower(), "cuda")


# Which GPU architectures run which weight formats in vLLM-class engines (vLLM docs, "Supported Hardware
# for Quantization Kernels", 2025): FP8 W8A8 on Ada/Hopper/Blackwell and CDNA3+, FP8 weight-only (Marlin)
# on Ampere; AWQ from Turing; GPTQ from Volta; NVFP4 natively on Blackwell, weight-only (Marlin) on
# Ampere/Ada/Hopper.
_WEIGHT_ONLY_FP8 = {"ampere"}
_NATIVE_FP4 = {"blackwell", "cdna4"}
_WEIGHT_ONLY_FP4 = {"ampere", "ada lovelace", "hopper"}
_PRE_TURING = {"volta", "pascal", "maxwell"}
# AMD GPUs (CDNA, RDNA) have no AWQ, GPTQ, Marlin, INT8 W8A8 or bitsandbytes kernels in vLLM; FP8 W8A8 is their
# quantized path (vLLM docs, "Supported Hardware" table, unchanged from v0.5.3 to v0.15.1, read 2026-11-22).
_AMD_ARCH_PREFIXES = ("cdna", "rdna")
_NOT_ON_AMD = AWQ_KINDS | {"gptq", "int4", "int8", "bnb"}


def format_support(kind: str, architecture: str, has_fp8_tensor: bool) -> tuple[bool, str]:
    """(runs at all, note). A note explains a weight-only fallback or why the format cannot run."""
    arch = architecture.strip().lower()
    if arch.startswith(_AMD_ARCH_PREFIXES) and kind in _NOT_ON_AMD:
        instead = "FP8 or 16-bit weights" if has_fp8_tensor else "16-bit weights, or GGUF on llama.cpp"
        return False, f"vLLM has no {kind.upper()} kernels for AMD GPUs ({architecture}); use {instead}"
    if ("tpu" in arch or "gaudi" in arch) and kind not in ("float", "fp8"):
        return False, f"{architecture} runs 16-bit or FP8 weights only in vLLM (no {kind.upper()} kernels)"
    if "tpu" in arch and kind == "fp8":
        return False, f"{architecture} has no FP8 weight support in vLLM"
    if kind == "fp8":
        if has_fp8_tensor:
            return True, ""
        if arch in _WEIGHT_ONLY_FP8:
            return True, "no FP8 tensor cores: FP8 runs weight-only (Marlin), compute in 16 bit"
        return False, f"{architecture or 'this GPU'} cannot run FP8 weights (needs Ampere or newer)"
    if kind in ("fp4", "mxfp4"):
        if arch in _NATIVE_FP4:
            return True, ""
        if arch in _WEIGHT_ONLY_FP4:
            return True, "no FP4 tensor cores: FP4 runs weight-only (Marlin), compute in 16 bit"
        return False, f"{architecture or 'this GPU'} cannot run FP4 weights (needs Ampere or newer)"
    if kind in AWQ_KINDS and arch in _PRE_TURING:
        return False, f"{architecture} cannot run AWQ kernels (needs Turing or newer)"
    if kind == "gptq" and arch in _PRE_TURING - {"volta"}:
        return False, f"{architecture} cannot run GPTQ kernels (needs Volta or newer)"
    return True, ""
