"""GPU memory estimates for a model, in GB of 10⁹ bytes (the unit of finetuneflow §3's example).

Inference (weights only, as the spec's example: 8.03e9 parameters → 16.06 GB fp16, 5.52 GB 4-bit):
    fp16   = P × 2 B
    4-bit  = P × 0.6875 B: 0.5 B for the NF4 weights, plus 37.5 % for what stays un-quantized (embeddings,
             lm_head and norms kept in 16 bits) and the quantization constants. For Llama-3.1-8B the
             module-by-module count (4-bit linears + 16-bit embeddings and head) gives 5.59 GB: within 1.3 %.

Training, with gradient checkpointing, at batch size b and sequence length s:
    full   = P × 16 B (16-bit weights 2 + gradients 2 + fp32 master weights 4 + AdamW moments 8) + A
    lora   = P × 2 B (frozen 16-bit weights) + adapters + A
    qlora  = P × 0.6875 B (frozen 4-bit weights, as above) + adapters + A
    adapters = 0.5 % of P (LoRA r=16 on every linear layer of a Llama-3.1-8B is 0.52 %) × 16 B each
               (fp32 weight 4 + gradient 4 + AdamW moments 8)
    A (activations) = b × s × (h × (2·L + 34) + 14·V) B: each layer's checkpointed 16-bit input (2·h per
               layer), the one layer recomputed during the backward pass (34·h, Korthikanti et al. 2022,
               with fused attention so no s² term), and the loss over the vocabulary (14·V: the 16-bit
               logits, the fp32 log-softmax kept for the backward pass, its gradient and the logits' fp32
               gradient; measured on the CPU: 13.5 to 14.5 bytes per token and vocabulary entry, transformers 5).
               The logits dominate for large vocabularies: 14.7 GB of Llama-3.1-8B's 24.2 GB QLoRA estimate
               at b=4, s=2048. Without the model's shape (h, L, V) A is left out, and the caller says so.

A run on its device (`run_training_bytes`, checked before a run loads its model): as above with the weights in
the run's dtype (4 B on the CPU in fp32, 2 B in bf16/fp16) and, without gradient checkpointing (the CPU's
default), every layer's activations kept (34·h·L per token instead of h·(2·L + 34)), scaled to the dtype.

GPU sizes reported by nvidia-smi are in MiB, shown as GiB like the spec's `vram_total_gb: 24.0` for an
RTX 4090 (24564 MiB); comparisons convert both sides to bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

GB = 1e9
GIB = 2**30
FP16_BYTES = 2.0
NF4_BYTES = 0.5 * 1.375
FULL_TRAINING_BYTES = 16.0
ADAPTER_FRACTION = 0.005
ADAPTER_BYTES = 16.0
RECOMPUTED_LAYER_BYTES = 34
LOGIT_BYTES = 14
TRAINING_METHODS = ("full", "lora", "qlora")
# share of the GPU left to the weights and optimizer states when sizing the largest trainable model; the rest
# goes to activations, the CUDA context and fragmentation
USABLE_VRAM_SHARE = 0.8


@dataclass(frozen=True)
class ModelShape:
    hidden_size: int
    num_layers: int
    vocab_size: int


def round_gb(num_bytes: float) -> float:
    return round(num_bytes / GB, 2)


def fp16_inference_gb(num_parameters: int) -> float:
    return round_gb(num_parameters * FP16_BYTES)


def nf4_inference_gb(num_parameters: int) -> float:
    return round_gb(num_parameters * NF4_BYTES)


def activation_bytes(shape: ModelShape | None, batch_size: int, seq_len: int) -> float:
    if shape is None:
        return 0.0
    per_token = shape.hidden_size * (2 * shape.num_layers + RECOMPUTED_LAYER_BYTES) + LOGIT_BYTES * shape.vocab_size
    return float(batch_size * seq_len * per_token)


def weight_and_optimizer_bytes_per_parameter(method: str) -> float:
    """Bytes per model parameter for the weights, gradients and optimizer states of one training method."""
    adapters = ADAPTER_FRACTION * ADAPTER_BYTES
    return {"full": FULL_TRAINING_BYTES, "lora": FP16_BYTES + adapters, "qlora": NF4_BYTES + adapters}[method]


def training_gb(num_parameters: int, shape: ModelShape | None, *, batch_size: int, seq_len: int) -> dict[str, float]:
    """Training memory of each method (full, lora, qlora) in GB."""
    activations = activation_bytes(shape, batch_size, seq_len)
    return {method: round_gb(num_parameters * weight_and_optimizer_bytes_per_parameter(method) + activations)
            for method in TRAINING_METHODS}


def largest_trainable_billions(method: str, vram_gib: float) -> int:
    """The largest model (billions of parameters, rounded down) one method can train on a GPU of `vram_gib`."""
    usable = vram_gib * GIB * USABLE_VRAM_SHARE
    return math.floor(usable / weight_and_optimizer_bytes_per_parameter(method) / 1e9)


def fits(estimate_gb: float, vram_gib: float) -> bool:
    return estimate_gb * GB <= vram_gib * GIB


def run_training_bytes(num_parameters: int, shape: ModelShape | None, method: str, *, batch_size: int, seq_len: int,
                       dtype_bytes: float = FP16_BYTES, checkpointing: bool = True) -> float:
    """Training memory of one run in bytes, in its dtype and with or without gradient checkpointing (module doc)."""
    adapters = ADAPTER_FRACTION * ADAPTER_BYTES
    weights = {"full": FULL_TRAINING_BYTES, "lora": dtype_bytes + adapters, "qlora": NF4_BYTES + adapters}[method]
    activations = 0.0
    if shape is not None:
        layers = 2 * shape.num_layers + RECOMPUTED_LAYER_BYTES if checkpointing \
            else RECOMPUTED_LAYER_BYTES * shape.num_layers
        per_token = (shape.hidden_size * layers * dtype_bytes / FP16_BYTES
                     + (LOGIT_BYTES + dtype_bytes - FP16_BYTES) * shape.vocab_size)
        activations = float(batch_size * seq_len * per_token)
    return num_parameters * weights + activations
