"""What a plugin that works with model files on this machine provides (finetune-local-gpu): a hardware probe, a
model resolver and a model exporter, each registered with `finetune_register_model_tools`, and the types they
share with the core and the apps.

    probe = hardware_probe(workspace.plugins.model_tools)    # None: no installed plugin provides one
    report = probe.probe_hardware() if probe else None

A tool is an object with a `name` and the method of its protocol below (one object may be several tools). When
several plugins provide the same kind of tool, the first registered is used. Nothing here imports a plugin:
without one, each lookup answers None and the caller says what to install (the core's model export raises
NotSupportedError PLUGIN_NOT_INSTALLED, the web app answers 501).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort


class HardwareReport(BaseModel):
    """What a hardware probe finds (finetuneflow §7): GPU, driver, torch and CUDA, bitsandbytes, and the training
    method it recommends (`full`, `lora` or `qlora`; None: none can run here). VRAM in GiB."""

    has_nvidia_smi: bool = False
    gpu_name: str | None = None
    gpu_count: int = 0
    vram_total_gb: float | None = None
    vram_free_gb: float | None = None
    driver_version: str | None = None
    cuda_runtime: str | None = None
    torch_version: str | None = None
    torch_cuda: str | None = None
    cuda_available: bool = False
    bnb_available: bool = False
    recommended_method: str | None = None
    recommendation_reason: str | None = None
    notes: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


class ModelInfo(BaseModel):
    """What a model resolver finds (finetuneflow §3), plus training memory and gating."""

    model_id: str
    model_type: str | None = None
    num_parameters: int | None = None
    estimated_vram_fp16_gb: float | None = None
    estimated_vram_4bit_gb: float | None = None
    estimated_training_gb: dict[str, float] | None = None  # full, lora, qlora at the batch size and sequence length
    architecture: str | None = None
    vocab_size: int | None = None
    max_position_embeddings: int | None = None
    license: str | None = None
    gated: bool = False
    valid: bool = False
    warnings: list[str] = Field(default_factory=list)


class ExportedModel(Protocol):
    """What a model exporter wrote: `files` (path inside `folder`, size in bytes), their zip last, at `zip_path`."""

    @property
    def folder(self) -> Path: ...

    @property
    def files(self) -> list[tuple[str, int]]: ...

    @property
    def zip_path(self) -> Path: ...


@runtime_checkable
class HardwareProbe(Protocol):
    """Probes this machine's GPU (it may initialise CUDA in the calling process)."""

    name: str

    def probe_hardware(self) -> HardwareReport: ...


@runtime_checkable
class ModelResolver(Protocol):
    """Resolves a model for a project and stores it as the project's `base_model_id` and `model_info`.

    `origin` (`services.model_access.Origin`: "local" or "remote") and `owner_id` say who asks, for which names
    they may resolve (a web client reads no folder of the server's).
    """

    name: str

    def resolve_for_project(self, workspace: WorkspacePort, project_id: str, model_id: str, *, origin: str,
                            owner_id: str | None = None) -> ModelInfo: ...


@runtime_checkable
class ModelExporter(Protocol):
    """Writes a trained fine-tuning's model files and their zip (the workspace's export folder unless `out_dir`).

    It exports what `services.model_exports.exportable` accepts, the one rule of what can be exported.
    """

    name: str

    def export_model(self, workspace: WorkspacePort, fine_tune_id: str, *, merge: bool = False,
                     out_dir: str | Path | None = None) -> ExportedModel: ...


def hardware_probe(tools: Iterable[object]) -> HardwareProbe | None:
    """The first registered hardware probe among `tools` (`registries().model_tools`), or None."""
    return next((tool for tool in tools if isinstance(tool, HardwareProbe)), None)


def model_resolver(tools: Iterable[object]) -> ModelResolver | None:
    """The first registered model resolver among `tools`, or None."""
    return next((tool for tool in tools if isinstance(tool, ModelResolver)), None)


def model_exporter(tools: Iterable[object]) -> ModelExporter | None:
    """The first registered model exporter among `tools`, or None."""
    return next((tool for tool in tools if isinstance(tool, ModelExporter)), None)
