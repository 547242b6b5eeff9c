"""Where and how a run computes: the device, the precision and activation checkpointing, `auto` resolved here.

Resolved on the host that trains (the worker), never where the fine-tuning was created. QLoRA's
4-bit support is decided by `capability.probe_4bit` on that device, not by `torch.cuda.is_available()`.
Liger's Triton kernels (fused RMSNorm, RoPE, SwiGLU and linear cross-entropy: less memory and time on a GPU) are
used where they can run: a CUDA run with Triton and `liger-kernel` installed (the `gpu` extra); elsewhere the
flag stays off and nothing of liger is imported (`find_spec` only looks for it).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

from finetune_core.errors import NotSupportedError, TrainingError

from finetune_local_gpu.capability import default_device, probe_4bit
from finetune_local_gpu.training.hyperparameters import LocalHyperparameters


@dataclass(frozen=True)
class Runtime:
    device: str  # cpu, cuda, mps...
    bf16: bool
    fp16: bool
    gradient_checkpointing: bool
    liger_kernel: bool = False  # transformers' use_liger_kernel

    def compute_dtype(self) -> Any:
        import torch

        return torch.bfloat16 if self.bf16 else torch.float16 if self.fp16 else torch.float32

    def as_dict(self) -> dict[str, Any]:
        return {"device": self.device, "bf16": self.bf16, "fp16": self.fp16,
                "gradient_checkpointing": self.gradient_checkpointing, "liger_kernel": self.liger_kernel}


@dataclass(frozen=True)
class KernelSupport:
    """What Liger's kernels need, as found on this host."""

    cuda: bool
    triton: bool
    liger: bool


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def probe_kernels(device: str) -> KernelSupport:
    """CUDA usable for `device`, Triton and liger-kernel installed (looked for, not imported)."""
    import torch

    cuda = device == "cuda" and bool(torch.cuda.is_available())
    return KernelSupport(cuda=cuda, triton=cuda and _installed("triton"), liger=cuda and _installed("liger_kernel"))


def use_liger_kernel(device: str, kernels: KernelSupport) -> bool:
    """Liger's kernels for a CUDA run where CUDA, Triton and liger-kernel are all there; off otherwise."""
    return device == "cuda" and kernels.cuda and kernels.triton and kernels.liger


def _available(device: str) -> bool:
    import torch

    if device == "cpu":
        return True
    if device == "mps":
        return bool(torch.backends.mps.is_available())
    backend = getattr(torch, device, None)
    return bool(backend is not None and getattr(backend, "is_available", lambda: False)())


def _bf16_supported(device: str) -> bool:
    import torch

    if device == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    return device in ("xpu", "hpu", "npu")


def resolve_runtime(hyperparameters: LocalHyperparameters, device: str | None,
                    kernels: KernelSupport | None = None) -> Runtime:
    """The run's device and precision on this host; TrainingError when the device asked for is not here.
    `kernels`: what Liger needs (default: `probe_kernels` on the device chosen)."""
    chosen = device or default_device()
    if not _available(chosen):
        raise TrainingError(f"the {chosen} device is not available on this machine (choose another with the "
                            f"`device` option, or leave it unset to use cuda where available, else the cpu)")
    on_gpu = chosen != "cpu"
    bf16 = hyperparameters.bf16 if isinstance(hyperparameters.bf16, bool) else on_gpu and _bf16_supported(chosen)
    fp16 = hyperparameters.fp16 if isinstance(hyperparameters.fp16, bool) else chosen == "cuda" and not bf16
    checkpointing = hyperparameters.gradient_checkpointing
    liger = use_liger_kernel(chosen, kernels or probe_kernels(chosen)) if chosen == "cuda" else False
    return Runtime(chosen, bf16, fp16, checkpointing if isinstance(checkpointing, bool) else on_gpu, liger)


def require_4bit(device: str | None) -> None:
    """NotSupportedError, suggesting `lora`, where bitsandbytes cannot train 4-bit layers on `device`."""
    capability = probe_4bit(device)
    if not capability.ok:
        raise NotSupportedError(
            f"QLoRA cannot run on {capability.device}: {capability.reason}. Use method 'lora' instead (the same "
            f"adapter on 16-bit base weights), or another device with the `device` option",
            method="qlora", device=capability.device, suggestion="lora")
