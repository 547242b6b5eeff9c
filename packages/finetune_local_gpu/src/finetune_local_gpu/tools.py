"""The plugin's model tools (`finetune_core.model_tools`), registered by `plugin.finetune_register_model_tools`.

Light on import like the plugin module: each imports its module (and through it torch, huggingface_hub...) when
it is used, not when the plugins load.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from finetune_core.model_tools import ExportedModel, HardwareReport, ModelInfo
    from finetune_core.ports import WorkspacePort


class LocalHardwareProbe:
    """`finetune_local_gpu.hardware.probe_hardware`: nvidia-smi, torch and CUDA, bitsandbytes 4-bit on the GPU."""

    name: str = "local_gpu.hardware"

    def probe_hardware(self) -> HardwareReport:
        from finetune_local_gpu.hardware import probe_hardware

        return probe_hardware()


class LocalModelResolver:
    """`finetune_local_gpu.services.resolve_for_project`: the Hub or a local folder, checked against this GPU."""

    name: str = "local_gpu.resolve"

    def resolve_for_project(self, workspace: WorkspacePort, project_id: str, model_id: str, *, origin: str,
                            owner_id: str | None = None) -> ModelInfo:
        from finetune_core.services.model_access import Origin

        from finetune_local_gpu.services import resolve_for_project

        return resolve_for_project(workspace, project_id, model_id, origin=Origin(origin), owner_id=owner_id)


class LocalModelExporter:
    """`finetune_local_gpu.export.export_model`: adapter, configs, metrics, report.md and their zip."""

    name: str = "local_gpu.export"

    def export_model(self, workspace: WorkspacePort, fine_tune_id: str, *, merge: bool = False,
                     out_dir: str | Path | None = None) -> ExportedModel:
        from finetune_local_gpu.export import export_model

        return export_model(workspace, fine_tune_id, merge=merge, out_dir=out_dir)
