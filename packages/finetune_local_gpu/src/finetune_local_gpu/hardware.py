"""The hardware probe of finetuneflow §7: GPU, driver, torch and CUDA, bitsandbytes, and a recommended method.

Facts come from `nvidia-smi` (name, memory, driver; the CUDA version from its banner), from torch (imported
here, lazily: a broken or missing torch gives `torch_version: null`), and from the bitsandbytes capability
probe, which runs a 4-bit layer on the GPU. That initialises CUDA in the calling process, so call this where
the GPU will be used or in a web server, not in the parent of forked workers.
"""

from __future__ import annotations

import csv
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from finetune_core.model_tools import HardwareReport as HardwareReport  # the core's; re-exported for old imports

from finetune_local_gpu.capability import Capability, probe_4bit
from finetune_local_gpu.estimates import largest_trainable_billions

NO_GPU_REASON = "No CUDA GPU detected. GPU fine-tuning not possible on this machine."
NO_GPU_WARNING = "No NVIDIA GPU found. Consider using a cloud GPU instance."
ALL_CHECKS_PASSED = "All checks passed"
QUERY = ("--query-gpu=name,memory.total,memory.free,driver_version", "--format=csv,noheader,nounits")
SMI_TIMEOUT_S = 15
Method = Literal["full", "lora", "qlora"]
Run = Callable[..., "subprocess.CompletedProcess[str]"]


@dataclass(frozen=True)
class Gpu:
    name: str
    memory_total_mib: float | None
    memory_free_mib: float | None
    driver_version: str | None = None


@dataclass(frozen=True)
class SmiAnswer:
    """What nvidia-smi said; `error` when it is installed but failed (no driver loaded, say)."""

    gpus: list[Gpu] = field(default_factory=list)
    cuda_version: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class TorchFacts:
    version: str | None = None
    cuda: str | None = None  # the CUDA torch was built for
    cuda_available: bool = False
    device_count: int = 0
    gpu: Gpu | None = None  # GPU 0 as torch sees it: the fallback where nvidia-smi is missing
    compute_capability: str | None = None
    bf16_supported: bool | None = None
    error: str | None = None


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:  # "[N/A]", "[Not Supported]"
        return None


def parse_gpu_csv(text: str) -> list[Gpu]:
    """Parse `nvidia-smi --query-gpu=name,memory.total,memory.free,driver_version --format=csv,noheader,nounits`."""
    gpus = []
    for row in csv.reader(text.splitlines(), skipinitialspace=True):
        if len(row) < 4:
            continue
        name, total, free, driver = (cell.strip() for cell in row[:4])
        gpus.append(Gpu(name, _number(total), _number(free), driver or None))
    return gpus


def parse_cuda_version(banner: str) -> str | None:
    """The `CUDA Version: 12.4` of nvidia-smi's banner: the newest CUDA the driver supports."""
    found = re.search(r"CUDA Version:\s*([0-9.]+)", banner)
    return found.group(1) if found else None


def query_nvidia_smi(nvidia_smi: str = "nvidia-smi", run: Run = subprocess.run) -> SmiAnswer | None:
    """Ask nvidia-smi for its GPUs and CUDA version; None when it is not installed."""
    try:
        listing = run([nvidia_smi, *QUERY], capture_output=True, text=True, timeout=SMI_TIMEOUT_S, check=False)
    except FileNotFoundError:
        return None
    except (OSError, subprocess.SubprocessError) as exc:
        return SmiAnswer(error=f"{type(exc).__name__}: {exc}")
    if listing.returncode != 0:
        message = (listing.stderr or listing.stdout or "").strip().splitlines()
        return SmiAnswer(error=message[0] if message else f"exit status {listing.returncode}")
    try:
        banner = run([nvidia_smi], capture_output=True, text=True, timeout=SMI_TIMEOUT_S, check=False).stdout or ""
    except (OSError, subprocess.SubprocessError):
        banner = ""
    return SmiAnswer(gpus=parse_gpu_csv(listing.stdout or ""), cuda_version=parse_cuda_version(banner))


def torch_facts() -> TorchFacts:
    """What torch knows of CUDA here; never raises (a torch that fails to import gives an empty answer)."""
    try:
        import torch
    except Exception as exc:  # ImportError, or a broken CUDA library
        return TorchFacts(error=f"{type(exc).__name__}: {exc}")
    facts: dict[str, Any] = {"version": str(torch.__version__), "cuda": torch.version.cuda}
    try:
        if torch.cuda.is_available():
            free, total = torch.cuda.mem_get_info(0)
            major, minor = torch.cuda.get_device_capability(0)
            facts.update(cuda_available=True, device_count=torch.cuda.device_count(),
                         gpu=Gpu(torch.cuda.get_device_name(0), total / 2**20, free / 2**20),
                         compute_capability=f"{major}.{minor}", bf16_supported=torch.cuda.is_bf16_supported())
    except Exception as exc:  # a driver that torch cannot talk to
        facts.update(cuda_available=False, error=f"{type(exc).__name__}: {exc}")
    return TorchFacts(**facts)


def bf16_supported() -> bool:
    """Whether bf16 training can run on this machine's GPU 0."""
    return bool(torch_facts().bf16_supported)


def _gib(mib: float | None) -> float | None:
    return None if mib is None else round(mib / 1024, 1)


def _major(version: str) -> int:
    found = re.match(r"\d+", version)
    return int(found.group()) if found else 0


def recommend(vram_gib: float, bnb_available: bool) -> tuple[Method, str]:
    """The method for a GPU of `vram_gib`, and why, in the words of the spec's example."""
    shown = f"{vram_gib:.0f}GB VRAM detected."
    lora, full, qlora = (largest_trainable_billions(method, vram_gib) for method in ("lora", "full", "qlora"))
    if vram_gib >= 40:
        return "lora", f"{shown} LoRA recommended for models up to {lora}B; full fine-tuning fits models up to {full}B."
    if not bnb_available:
        return "lora", (f"{shown} LoRA recommended for models up to {lora}B "
                        "(bitsandbytes 4-bit is not usable here, so QLoRA is not available).")
    if vram_gib >= 16:
        return "qlora", f"{shown} QLoRA recommended for 8B+ models to save memory."
    return "qlora", f"{shown} QLoRA recommended, for models up to {min(qlora, 8)}B."


def _no_gpu_report(base: dict[str, Any], warnings: list[str]) -> HardwareReport:
    return HardwareReport(**base, recommended_method=None, recommendation_reason=NO_GPU_REASON, notes=[],
                          warnings=[*warnings, NO_GPU_WARNING])


def assess(smi: SmiAnswer | None, torch: TorchFacts, bnb: Capability | None) -> HardwareReport:
    """Turn the facts into the report: the recommendation, its reason, notes and warnings."""
    warnings: list[str] = []
    notes: list[str] = []
    if smi is not None and smi.error:
        warnings.append(f"nvidia-smi failed: {smi.error}")
    gpus = smi.gpus if smi is not None else []
    if not gpus and torch.gpu is not None:
        gpus = [torch.gpu]
        notes.append("nvidia-smi not found: GPU figures come from torch")
    gpu = gpus[0] if gpus else None
    base: dict[str, Any] = {
        "has_nvidia_smi": smi is not None and smi.error is None,
        "gpu_name": gpu.name if gpu else None,
        "gpu_count": max(len(gpus), torch.device_count),
        "vram_total_gb": _gib(gpu.memory_total_mib) if gpu else None,
        "vram_free_gb": _gib(gpu.memory_free_mib) if gpu else None,
        "driver_version": gpu.driver_version if gpu else None,
        "cuda_runtime": smi.cuda_version if smi is not None else None,
        "torch_version": torch.version,
        "torch_cuda": torch.cuda,
        "cuda_available": torch.cuda_available,
        "bnb_available": bool(torch.cuda_available and bnb is not None and bnb.ok),
    }
    if gpu is None:
        return _no_gpu_report(base, warnings)
    if not torch.cuda_available:
        warnings.append(_why_torch_has_no_cuda(torch))
        reason = f"NVIDIA GPU found ({gpu.name}) but torch cannot use CUDA. GPU fine-tuning not possible until fixed."
        return HardwareReport(**base, recommended_method=None, recommendation_reason=reason, notes=notes,
                              warnings=warnings)
    if bnb is not None and not bnb.ok:
        warnings.append(f"bitsandbytes 4-bit is not usable on the GPU ({bnb.reason}): QLoRA is not available.")
    if smi is not None and smi.cuda_version and torch.cuda and _major(torch.cuda) > _major(smi.cuda_version):
        warnings.append(f"torch is built for CUDA {torch.cuda} but the driver supports CUDA up to "
                        f"{smi.cuda_version}: update the NVIDIA driver.")
    vram = base["vram_total_gb"]
    method, reason = recommend(vram, base["bnb_available"]) if vram is not None else (None, "GPU memory unknown.")
    notes.extend(_gpu_notes(torch, len(gpus), vram))
    if not warnings:
        notes.insert(0, ALL_CHECKS_PASSED)
    return HardwareReport(**base, recommended_method=method, recommendation_reason=reason, notes=notes,
                          warnings=warnings)


def _why_torch_has_no_cuda(torch: TorchFacts) -> str:
    if torch.version is None:
        return f"torch cannot be imported ({torch.error}): install torch with CUDA support."
    if torch.cuda is None:
        return f"torch {torch.version} is a CPU-only build: install a CUDA build of torch."
    return f"torch {torch.version} (CUDA {torch.cuda}) cannot use the GPU: {torch.error or 'unknown reason'}"


def _gpu_notes(torch: TorchFacts, gpu_count: int, vram_gib: float | None) -> list[str]:
    notes = []
    if torch.bf16_supported is not None:
        capability = f" (compute capability {torch.compute_capability})" if torch.compute_capability else ""
        notes.append(f"bf16 supported{capability}" if torch.bf16_supported
                     else f"bf16 not supported{capability}: training uses fp16 mixed precision")
    if gpu_count > 1:
        notes.append(f"{gpu_count} GPUs; the figures are GPU 0's")
    if vram_gib is not None:
        sizes = ", ".join(f"{label} ~{largest_trainable_billions(method, vram_gib)}B"
                          for label, method in (("full", "full"), ("LoRA", "lora"), ("QLoRA", "qlora")))
        notes.append(f"Largest trainable models (approx.): {sizes}")
    return notes


def probe_hardware(*, nvidia_smi: str = "nvidia-smi", run: Run = subprocess.run) -> HardwareReport:
    """Probe this machine: nvidia-smi, torch and CUDA, bitsandbytes 4-bit on the GPU."""
    smi = query_nvidia_smi(nvidia_smi, run)
    facts = torch_facts()
    bnb = probe_4bit("cuda") if facts.cuda_available else None
    return assess(smi, facts, bnb)
