"""Export of a project's trained model (finetuneflow §9) as the `model_export` job, and its files.

    job = model_exports.start_export(workspace, project_id)      # ConflictError NO_TRAINED_MODEL before any
    ...                                                           # the job writes the files and their zip
    export = model_exports.latest_export(workspace, project_id)  # files: [{"filename", "size_bytes"}]
    path = model_exports.export_file(workspace, project_id, "adapter_config.json")

What can be exported is a completed fine-tuning whose model has files in the workspace (an
`artifact_path`: a local run's adapter), not a model hosted at a provider: `exportable`, the one
rule, which the exporter applies too. The job runs on the queue of the trainer that made it (the
GPU host keeps the files) and calls the model exporter a plugin registers (`finetune_core.model_tools`,
the local-GPU plugin's): a worker without one fails the job saying so. The job's result lists the
files written; the downloads serve only those, from the folder the job recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finetune_core.domain import FineTune, FineTuneStatus, Job, JobStatus
from finetune_core.errors import ConflictError, FinetuneError, NotFoundError, NotSupportedError
from finetune_core.model_tools import ModelExporter, model_exporter
from finetune_core.services import fine_tunes, jobs

if TYPE_CHECKING:
    from finetune_core.jobs.context import JobContext
    from finetune_core.ports import WorkspacePort

JOB_TYPE = "model_export"
EXPORTER_HINT = "install the finetune-local-gpu plugin where the export runs (pip install finetune-local-gpu)"


@dataclass(frozen=True)
class ModelExport:
    """What a finished `model_export` job wrote: file names relative to `folder` (a file-store key), the zip last."""

    job_id: str
    fine_tune_id: str
    folder: str
    files: list[dict[str, Any]]  # {"filename", "size_bytes"}
    zip_name: str


def exporter(workspace: WorkspacePort) -> ModelExporter:
    """The model exporter an installed plugin registered, or NotSupportedError PLUGIN_NOT_INSTALLED."""
    found = model_exporter(workspace.plugins.model_tools)
    if found is None:
        raise NotSupportedError(f"model export is not available: {EXPORTER_HINT}", error_code="PLUGIN_NOT_INSTALLED",
                                tool="model_exporter")
    return found


def has_model_files(workspace: WorkspacePort, fine_tune: FineTune) -> bool:
    """The rule of what can be exported: a completed fine-tuning whose model has files in the workspace."""
    if fine_tune.status is not FineTuneStatus.COMPLETED or fine_tune.model_id is None:
        return False
    return bool(fine_tunes.get_model(workspace, fine_tune.model_id).artifact_path)


def exportable(workspace: WorkspacePort, fine_tune_id: str) -> FineTune:
    """The fine-tuning if it can be exported (`has_model_files`); ConflictError NO_TRAINED_MODEL otherwise."""
    fine_tune = fine_tunes.get_fine_tune(workspace, fine_tune_id)
    if not has_model_files(workspace, fine_tune):
        why = f"status {fine_tune.status.value}" if fine_tune.status is not FineTuneStatus.COMPLETED \
            else f"its {fine_tune.trainer} model has no files here"
        raise ConflictError(f"fine-tuning {fine_tune.id} has no trained model to export ({why})",
                            error_code="NO_TRAINED_MODEL", fine_tune_id=fine_tune.id)
    return fine_tune


def exportable_fine_tune(workspace: WorkspacePort, project_id: str) -> FineTune:
    """The project's latest completed fine-tuning with model files; ConflictError NO_TRAINED_MODEL when none."""
    found, _ = fine_tunes.list_fine_tunes(workspace, project_id=project_id, limit=None)
    for fine_tune in found:
        if has_model_files(workspace, fine_tune):
            return fine_tune
    raise ConflictError("the project has no trained model to export: finish a local training first",
                        error_code="NO_TRAINED_MODEL", project_id=project_id)


def start_export(workspace: WorkspacePort, project_id: str, *, merge: bool = False) -> Job:
    """Enqueue the export of the latest trained model (merged into its base model when `merge`)."""
    fine_tune = exportable_fine_tune(workspace, project_id)
    trainers = workspace.plugins.trainers
    queue = trainers.get(fine_tune.trainer).queue if fine_tune.trainer in trainers else "default"
    return jobs.enqueue(workspace, JOB_TYPE, project_id=project_id, queue=queue, fine_tune_id=fine_tune.id,
                        merge=merge)


def model_export_job(context: JobContext, *, project_id: str, fine_tune_id: str, merge: bool = False) -> dict[str, Any]:
    """The job: write the export folder and its zip with the plugin's exporter; its files are the result."""
    workspace = context.workspace
    found = exporter(workspace)
    context.log(f"exporting the model of fine-tuning {fine_tune_id}" + (" (merged)" if merge else ""))
    exported = found.export_model(workspace, fine_tune_id, merge=merge)
    try:
        folder = Path(exported.folder).resolve().relative_to(workspace.files.root).as_posix()
    except ValueError:
        raise FinetuneError(f"the export was written outside the workspace's files: {exported.folder}") from None
    files = [{"filename": name, "size_bytes": size} for name, size in exported.files]
    return {"fine_tune_id": fine_tune_id, "folder": folder, "files": files, "zip": Path(exported.zip_path).name,
            "merged": merge}


def latest_export(workspace: WorkspacePort, project_id: str) -> ModelExport | None:
    """The files of the project's last successful export; None when there is none."""
    found, _ = jobs.list_jobs(workspace, project_id=project_id, type=JOB_TYPE, status=JobStatus.SUCCESS.value, limit=1)
    if not found:
        return None
    summary = found[0].result_summary
    return ModelExport(job_id=found[0].id, fine_tune_id=summary["fine_tune_id"], folder=summary["folder"],
                       files=list(summary["files"]), zip_name=summary["zip"])


def export_files(workspace: WorkspacePort, project_id: str) -> ModelExport | None:
    """`latest_export`, refused with NO_TRAINED_MODEL while nothing was ever trained (None: trained, not exported)."""
    export = latest_export(workspace, project_id)
    if export is None:
        exportable_fine_tune(workspace, project_id)
    return export


def export_file(workspace: WorkspacePort, project_id: str, filename: str | None = None) -> Path:
    """The path of one listed file of the last export (its zip when `filename` is None); NotFoundError otherwise."""
    export = export_files(workspace, project_id)
    if export is None:
        raise NotFoundError("nothing was exported yet: start an export first", error_code="NO_EXPORT",
                            project_id=project_id)
    name = export.zip_name if filename is None else filename
    if name not in {item["filename"] for item in export.files}:  # only what the job listed: no other path
        raise NotFoundError(f"no exported file named '{name}'", filename=name)
    path = workspace.files.local_path(f"{export.folder}/{name}")
    if not path.is_file():
        raise NotFoundError(f"the exported file '{name}' is gone: export again", filename=name)
    return path
