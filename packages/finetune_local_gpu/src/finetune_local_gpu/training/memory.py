"""A run that would not fit its device's free memory is refused before its model loads.

The estimate is `estimates.run_training_bytes` for the base model's size (its config, the model built on the
meta device: no weights read), the run's method, dtype and gradient checkpointing, at per_device_batch_size
sequences (two per DPO pair) of the longest train example's length in tokens (the longest few by characters,
tokenized), capped at max_seq_length. The free memory: on CUDA `torch.cuda.mem_get_info`, on the CPU
/proc/meminfo's MemAvailable; another device, or none to read, is not checked. The refusal (TrainingError)
names the estimate, the free memory and what to change; the option `ignore_memory_check` skips the check.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from finetune_core.errors import TrainingError

from finetune_local_gpu.estimates import GB, ModelShape, run_training_bytes
from finetune_local_gpu.training.hyperparameters import LocalHyperparameters
from finetune_local_gpu.training.model import pretrained_source
from finetune_local_gpu.training.runtime import Runtime

AvailableMemory = Callable[[str], int | None]
LONGEST_TOKENIZED = 8  # the train examples, longest by characters, whose tokens give the sequence length


def read_mem_available(meminfo: str | None = None) -> int | None:
    """MemAvailable from /proc/meminfo (or the text given), in bytes; None where there is none."""
    if meminfo is None:
        try:
            meminfo = Path("/proc/meminfo").read_text()
        except OSError:
            return None
    for line in meminfo.splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None


def available_memory(device: str) -> int | None:
    """Free memory of `device` in bytes: MemAvailable for the CPU, the free CUDA memory; None elsewhere."""
    if device == "cpu":
        return read_mem_available()
    if device.startswith("cuda"):
        import torch

        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    return None


def model_size(base_model: str) -> tuple[int, ModelShape | None] | None:
    """(parameters, shape) from the model's config, or None where it cannot be read."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        source, options = pretrained_source(base_model)
        config = AutoConfig.from_pretrained(source, **options)
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)  # type: ignore[no-untyped-call]  # unannotated
    except Exception:  # an unknown architecture, an unreadable config: the load itself will say
        return None
    count = sum(parameter.numel() for parameter in model.parameters())
    text = config.get_text_config()
    try:
        shape: ModelShape | None = ModelShape(int(text.hidden_size), int(text.num_hidden_layers),
                                              int(text.vocab_size))
    except (AttributeError, TypeError, ValueError):
        shape = None
    return count, shape


def longest_sequence(tokenizer: Any, rows: list[dict[str, Any]], max_seq_length: int) -> int:
    """The longest train example's tokens (of the longest few by characters), at most max_seq_length."""
    longest = sorted(rows, key=lambda row: len(json.dumps(row)), reverse=True)[:LONGEST_TOKENIZED]
    try:
        lengths = [len(tokenizer.apply_chat_template(row["messages"], tokenize=True, return_dict=True)["input_ids"])
                   for row in longest]
    except Exception:  # a row without messages (DPO), a template that fails: the longest allowed
        return max_seq_length
    return min(max_seq_length, max(lengths, default=max_seq_length))


def check_memory(*, base_model: str, method: str, objective: str, hyperparameters: LocalHyperparameters,
                 runtime: Runtime, seq_len: int, available: AvailableMemory | None = None,
                 size: tuple[int, ModelShape | None] | None = None) -> dict[str, Any] | None:
    """TrainingError where the run's estimate exceeds the device's free memory; else what was compared
    ({"estimate_gb", "available_gb"}), or None where nothing could be compared."""
    free = (available or available_memory)(runtime.device)  # the seam: this module's available_memory
    size = size or model_size(base_model)
    if free is None or size is None:
        return None
    sequences = hyperparameters.per_device_batch_size * (2 if objective == "dpo" else 1)
    dtype_bytes = 4.0 if method == "full" or not (runtime.bf16 or runtime.fp16) else 2.0
    estimate = run_training_bytes(size[0], size[1], method, batch_size=sequences, seq_len=seq_len,
                                  dtype_bytes=dtype_bytes, checkpointing=runtime.gradient_checkpointing)
    compared = {"estimate_gb": round(estimate / GB, 3), "available_gb": round(free / GB, 3)}
    if estimate <= free:
        return compared
    tips = [f"a smaller per_device_batch_size (now {hyperparameters.per_device_batch_size}; raise "
            f"gradient_accumulation_steps to keep the effective batch)",
            f"a shorter max_seq_length (the longest example here is {seq_len} tokens)"]
    if not runtime.gradient_checkpointing:
        tips.append("gradient_checkpointing=true")
    if method != "qlora":
        tips.append("method qlora (4-bit base weights)")
    tips.append("a smaller model")
    where = "RAM available" if runtime.device == "cpu" else f"free on {runtime.device}"
    raise TrainingError(
        f"this run would not fit: it needs about {estimate / GB:.2f} GB ({method}, {size[0]:,} parameters, "
        f"{sequences} sequences of {seq_len} tokens per step) and {free / GB:.2f} GB is {where}. Use "
        f"{', '.join(tips)}; or set the option ignore_memory_check=true to try anyway")
