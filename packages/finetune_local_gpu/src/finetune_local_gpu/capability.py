"""Can 4-bit (QLoRA) training run here? Decided by trying it, not by `torch.cuda.is_available()`.

bitsandbytes 0.50 runs 4-bit NF4 on the CPU as well as on CUDA (and on XPU, MPS, HPU, NPU): the
probe imports it, checks the device is among its supported devices, and runs a tiny 4-bit
layer's forward and backward there. The answer is cached per device for the process.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class Capability:
    ok: bool
    device: str
    reason: str  # why not, or what was checked
    bitsandbytes_version: str | None = None


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@cache
def probe_4bit(device: str | None = None) -> Capability:
    """Import bitsandbytes, check `device` (default: cuda if available, else cpu), run a 4-bit layer there."""
    try:
        import torch
    except ImportError:
        return Capability(False, device or "cpu", "torch is not installed")
    device = device or default_device()
    kind = torch.device(device).type
    # bitsandbytes logs a notice about its optional `kernels` package on the CPU: not an error here
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    try:
        import bitsandbytes as bnb
        from bitsandbytes.nn import Linear4bit
    except Exception as exc:  # ImportError, or a broken native library
        return Capability(False, device, f"bitsandbytes cannot be imported ({type(exc).__name__}: {exc})")
    version = getattr(bnb, "__version__", None)
    supported = getattr(bnb, "supported_torch_devices", None)
    if supported is not None and kind not in supported:
        return Capability(False, device, f"bitsandbytes {version} does not support the {kind} device", version)
    try:
        layer = Linear4bit(  # type: ignore[no-untyped-call]  # bitsandbytes leaves __init__ unannotated
            16, 8, bias=False, compute_dtype=torch.float32, quant_type="nf4").to(device)
        inputs = torch.randn(2, 16, device=device, requires_grad=True)
        layer(inputs).sum().backward()
        if inputs.grad is None:
            return Capability(False, device, "the 4-bit layer gave no gradient", version)
    except Exception as exc:
        return Capability(False, device, f"a 4-bit layer failed on {device} ({type(exc).__name__}: {exc})", version)
    return Capability(True, device, f"bitsandbytes {version}: 4-bit NF4 forward and backward ran on {device}", version)
