"""Training and fine-tuning memory per GPU (bytes): full fine-tune, LoRA and QLoRA, with ZeRO/FSDP sharding,
gradient checkpointing and 8-bit optimizers. Pure functions; the train planner builds on them.

Model states follow the ZeRO paper (Rajbhandari et al., arXiv:1910.02054, section 3.1): mixed-precision
AdamW keeps 16-bit weights (2 B/param) and gradients (2 B/param) plus K = 12 B/param of optimizer state (fp32
master weights and two fp32 moments). 8-bit Adam stores the two moments in 1 byte each (Dettmers et al.,
arXiv:2110.02861): K = 4 + 2 = 6. ZeRO stage 1 shards the optimizer state over N data-parallel GPUs, stage
2 also the gradients, stage 3 (= FSDP full shard) also the weights.

Activations follow Korthikanti et al. (arXiv:2205.05198, eq. 1): per layer s*b*h*(34 + 5*a*s/h) bytes in
16 bit; FlashAttention does not store the s x s attention matrix, leaving 34*s*b*h. Full activation
checkpointing keeps only each layer's 16-bit input (2*s*b*h) plus one layer's activations during recompute.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmplan import architecture as arch
from llmplan.errors import InvalidInputError
from llmplan.quant import parse_quant
from llmplan.records import ModelSpec

OPTIMIZER_BYTES_PER_PARAM = {"adamw": 12.0, "adamw-8bit": 6.0, "sgd": 4.0}  # fp32 master + states (see above)
LORA_TARGETS_ALL = ("q", "k", "v", "o", "gate", "up", "down")


@dataclass(frozen=True)
class TrainingMemory:
    """Bytes per GPU by term."""

    weights_bytes: float
    gradients_bytes: float
    optimizer_bytes: float
    activations_bytes: float
    trainable_params: float

    @property
    def total_bytes(self) -> float:
        return self.weights_bytes + self.gradients_bytes + self.optimizer_bytes + self.activations_bytes


def lora_params(m: ModelSpec, rank: int, targets: tuple[str, ...] = LORA_TARGETS_ALL) -> float:
    """LoRA adds rank x (d_in + d_out) parameters per adapted matrix per layer (Hu et al., arXiv:2106.09685)."""
    h, q_out, kv_out = m.hidden_size, m.num_attention_heads * m.head_dim, m.num_kv_heads * m.head_dim
    inner = m.intermediate_size if not m.is_moe else (m.moe_intermediate_size or m.intermediate_size)
    dims = {"q": (h, q_out), "k": (h, kv_out), "v": (h, kv_out), "o": (q_out, h),
            "gate": (h, inner), "up": (h, inner), "down": (inner, h)}
    unknown = [t for t in targets if t not in dims]
    if unknown:
        raise InvalidInputError(f"unknown LoRA target(s) {', '.join(unknown)}; known: {', '.join(dims)}")
    per_layer = sum(rank * (dims[t][0] + dims[t][1]) for t in targets)
    return float(per_layer * m.num_layers)


def activation_bytes(m: ModelSpec, batch: int, seq_len: int, *, checkpointing: bool, flash_attention: bool = True
                     ) -> float:
    """Activation memory for one micro-batch, plus the fp32 logits and their gradient (s*b*V*(4+4))."""
    s, b, h, a = float(seq_len), float(batch), float(m.hidden_size), float(m.num_attention_heads)
    per_layer_full = s * b * h * (34.0 + (0.0 if flash_attention else 5.0 * a * s / h))
    if checkpointing:
        layers = 2.0 * s * b * h * m.num_layers + per_layer_full
    else:
        layers = per_layer_full * m.num_layers
    return layers + s * b * m.vocab_size * 8.0


def training_memory(m: ModelSpec, *, method: str = "full", num_gpus: int = 1, zero_stage: int = 0,
                    optimizer: str = "adamw", batch: int = 1, seq_len: int = 2048, checkpointing: bool = True,
                    lora_rank: int = 16, lora_targets: tuple[str, ...] = LORA_TARGETS_ALL) -> TrainingMemory:
    """Memory per GPU of one training step. ``method``: full | lora | qlora (base weights in NF4)."""
    if method not in ("full", "lora", "qlora"):
        raise InvalidInputError("method must be full, lora or qlora")
    if zero_stage not in (0, 1, 2, 3):
        raise InvalidInputError("ZeRO stage must be 0, 1, 2 or 3")
    if optimizer not in OPTIMIZER_BYTES_PER_PARAM:
        raise InvalidInputError(f"optimizer must be one of {', '.join(OPTIMIZER_BYTES_PER_PARAM)}")
    if num_gpus < 1 or batch < 1 or seq_len < 1 or lora_rank < 1:
        raise InvalidInputError("GPUs, batch, sequence length and LoRA rank must be at least 1")
    total = float(arch.params_total(m))
    k = OPTIMIZER_BYTES_PER_PARAM[optimizer]
    n = float(num_gpus)
    if method == "full":
        trainable = total
        weights = 2.0 * total
    else:
        trainable = lora_params(m, lora_rank, lora_targets)
        base = 2.0 * total if method == "lora" else total * parse_quant("nf4").body_bpw / 8.0
        weights = base + 2.0 * trainable
    grads = 2.0 * trainable
    optim = k * trainable
    # ZeRO: stage >= 1 shards optimizer state, >= 2 gradients, 3 the (trainable or all) weights
    if zero_stage >= 1:
        optim /= n
    if zero_stage >= 2:
        grads /= n
    if zero_stage >= 3:
        weights /= n
    acts = activation_bytes(m, batch, seq_len, checkpointing=checkpointing)
    return TrainingMemory(weights, grads, optim, acts, trainable)
