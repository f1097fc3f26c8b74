"""Typed records of the core. Units are in the field names; compute in base units (bytes, seconds, FLOP)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ModelSpec:
    """Architecture facts of one model, as config.json and its parameter count state them.

    Dense models leave the MoE and MLA fields at None. ``params_total`` is the published count when
    known (``params_source`` says where from); otherwise it is computed from the architecture.
    """

    repo_id: str
    num_layers: int
    hidden_size: int
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    max_context_tokens: int
    mlp_gated: bool = True
    tie_embeddings: bool = False
    params_total: int | None = None
    params_active: int | None = None
    family: str = ""
    model_type: str = ""
    sliding_window_tokens: int | None = None
    # every Nth layer uses full attention, the others the sliding window; None: all layers alike
    sliding_window_pattern: int | None = None
    num_experts: int | None = None
    experts_per_token: int | None = None
    moe_intermediate_size: int | None = None
    num_shared_experts: int | None = None
    first_k_dense_layers: int | None = None
    kv_lora_rank: int | None = None
    q_lora_rank: int | None = None
    qk_rope_head_dim: int | None = None
    qk_nope_head_dim: int | None = None
    v_head_dim: int | None = None
    license: str = ""
    gated: bool = False
    pipeline_tag: str = "text-generation"
    native_dtype: str = "bfloat16"
    aliases: tuple[str, ...] = ()
    params_source: str = ""
    source: str = ""
    as_of: str = ""
    # pre-quantized repository: the quant its weights ship in (e.g. "awq", "fp8", "mxfp4"); None for 16-bit
    prequantized: str | None = None
    # evaluation results the Hub card carries (llmplan.evals.EvalScore); the catalog's are in data/evals.csv
    evals: tuple = ()
    downloads: int | None = None  # Hub popularity at fetch time (None: catalog, offline)
    likes: int | None = None

    @property
    def is_moe(self) -> bool:
        return bool(self.num_experts)

    @property
    def is_mla(self) -> bool:
        return bool(self.kv_lora_rank)


@dataclass(frozen=True)
class GpuSpec:
    """One row of gpu_specs.csv. Throughputs are dense (no 2:4 sparsity); None means unknown or absent."""

    name: str
    vendor: str
    segment: str
    memory_gib: float
    memory_bw_gbs: float | None
    aliases: tuple[str, ...] = ()
    architecture: str = ""
    form_factor: str = ""
    memory_options_gib: tuple[float, ...] = ()
    memory_type: str = ""
    fp16_tflops: float | None = None
    fp16_fp16acc_tflops: float | None = None
    bf16_tflops: float | None = None
    fp8_tflops: float | None = None
    int8_tops: float | None = None
    fp4_tflops: float | None = None
    fp32_tflops: float | None = None
    tdp_w: float | None = None
    nvlink_gbs: float | None = None
    pcie_gen: float | None = None
    pcie_lanes: float | None = None
    ecc: bool | None = None
    launch_date: str = ""
    launch_usd: float | None = None
    street_usd: float | None = None
    used_usd: float | None = None
    price_as_of: str = ""
    price_source: str = ""
    cloud_usd_per_hour: float | None = None
    cloud_provider: str = ""
    cloud_as_of: str = ""
    cloud_max_gpus: float | None = None  # most GPUs one instance holds at that price (blank: no limit stated)
    spec_sources: str = ""
    notes: str = ""


@dataclass(frozen=True)
class Scenario:
    """One `estimate` question. Defaults are resolved by ``llmplan.estimate.resolve_scenario``."""

    model: str
    gpu: str
    id: str | None = None
    num_gpus: int = 1
    quant: str | None = None
    engine: str | None = None
    parallel: str | None = None
    batch: int | str = 1  # an int, or "max"
    prompt_tokens: int = 512
    gen_tokens: int = 128
    context: int | None = None
    vram_gib: float | None = None
    kv_dtype: str | None = None  # extension: f16 (default), fp8, q8_0, q4_0
    backend: str | None = None  # extension: cuda, rocm, metal, vulkan, sycl (default: the vendor's own)
    offload_layers: int | None = None  # extension: layers llama.cpp keeps on the CPU
    ram_bw_gbs: float | None = None  # extension: system RAM bandwidth for offloaded layers


@dataclass(frozen=True)
class Estimate:
    """The answer to one Scenario. Field names and meanings are the public `estimate` contract."""

    id: str | None
    model: str
    gpu: str
    num_gpus: int
    quant: str
    engine: str
    parallel: str
    batch: int
    prompt_tokens: int
    gen_tokens: int
    context: int
    weights_gib: float
    kv_cache_gib: float
    activations_gib: float
    runtime_overhead_gib: float
    vram_gib: float
    vram_gib_per_gpu: float
    gpu_memory_gib: float
    fits: bool
    decode_tps: float | None
    decode_tps_per_seq: float | None
    prefill_tps: float | None
    ttft_s: float | None
    tpot_ms: float | None
    decode_tps_low: float | None
    decode_tps_high: float | None
    e2e_s: float | None = None
    max_batch: int | None = None
    bound: str = ""
    kv_dtype: str = "f16"
    backend: str = ""
    offload_layers: int = 0
    system_ram_gib: float | None = None
    model_weights_gib: float | None = None  # extension: all weights in this format (weights_gib: on the GPUs)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
