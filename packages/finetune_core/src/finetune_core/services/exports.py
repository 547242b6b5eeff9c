"""Use cases on export: stream a project's valid examples into any registered format."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finetune_core.domain import PREVIEW_SPLIT, Example
from finetune_core.export.base import ExportOptions
from finetune_core.export.writer import ExportResult, write_export
from finetune_core.sources.names import sanitize_filename

if TYPE_CHECKING:
    from finetune_core.jobs.context import JobContext
    from finetune_core.ports import WorkspacePort
    from finetune_core.storage.unit_of_work import UnitOfWork


def export_dataset(
    workspace: WorkspacePort,
    project_id: str,
    format: str,
    *,
    out: str | Path | None = None,
    split: str | None = None,
    system_prompt: str | None = None,
    include_metadata: bool = True,
) -> ExportResult:
    """Write valid train/eval examples (optionally one split) as `format`; constant memory."""
    exporter = workspace.plugins.exporters.get(format)
    with workspace.unit_of_work() as uow:
        project = uow.projects.find(project_id)
    if out is None:
        suffix = f"-{split}" if split else ""
        filename = f"{format}{suffix}.{exporter.file_extension}"
        out = workspace.root / "exports" / sanitize_filename(project.name) / filename
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    options = ExportOptions(system_prompt=system_prompt or project.config.system_prompt,
                            include_metadata=include_metadata)
    with workspace.unit_of_work() as uow:
        examples = exported_examples(uow, project.id, split)
        return write_export(exporter, examples, path, options)


def exported_examples(uow: UnitOfWork, project_id: str, split: str | None) -> Iterator[Example]:
    """What every export of a project writes: its valid examples of the train and eval splits (or of `split`),
    never the preview's, in a stable order, streamed."""
    return uow.examples.iterate(project_id, split=split, is_valid=True, exclude_split=PREVIEW_SPLIT)


def export_job(context: JobContext, *, project_id: str, format: str, out: str | None = None,
               split: str | None = None) -> dict[str, Any]:
    result = export_dataset(context.workspace, project_id, format, out=out, split=split)
    return {"path": str(result.path), "count": result.count, "bytes": result.bytes}


def export_formats(workspace: WorkspacePort) -> dict[str, str]:
    return {exporter.name: exporter.description for exporter in workspace.plugins.exporters}
