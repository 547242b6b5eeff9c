"""The library surface: one method per use case, each a thin call into `finetune_core.services`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from finetune_core.domain import Chunk, Example, Job, JobStatus, Project, Source, SourceKind, TaskType
from finetune_core.errors import FinetuneError
from finetune_core.services import chunks, curation, exports, jobs, projects, sources

if TYPE_CHECKING:
    from finetune_core.export.writer import ExportResult
    from finetune_core.workspace import Workspace


class WorkspaceFacade:
    """Mixed into Workspace. Pipeline steps run as recorded jobs and wait for them to finish."""

    def create_project(self: Workspace, name: str, *, task_type: TaskType | str = TaskType.QA,
                       description: str | None = None, config: dict[str, Any] | None = None) -> Project:
        return projects.create_project(self, name, task_type=task_type, description=description, config=config)

    def project(self: Workspace, ref: str) -> Project:
        """A project by id or name."""
        return projects.get_project(self, ref)

    def add_file(self: Workspace, project: str, path: str | Path, *, kind: SourceKind | str | None = None) -> Source:
        return sources.add_path(self, project, path, kind=kind)

    def add_url(self: Workspace, project: str, url: str) -> Source:
        return sources.add_url(self, project, url)

    def sources(self: Workspace, project: str) -> list[Source]:
        return sources.list_sources(self, project)[0]

    def run_job(self: Workspace, type: str, project: str, **params: Any) -> Job:
        """Enqueue a job, wait for it, and raise if it did not succeed."""
        project_id = self.project(project).id
        queued = jobs.enqueue(self, type, project_id=project_id, **params)
        job = jobs.wait_for(self, queued.id)
        if job.status is not JobStatus.SUCCESS:
            raise FinetuneError(f"{type} job {job.status.value}: {job.error_message or 'no detail'}",
                                job_id=job.id)
        return job

    def ingest(self: Workspace, project: str) -> Job:
        return self.run_job("ingest", project)

    def chunk(self: Workspace, project: str, *, size: int | None = None, overlap: int | None = None) -> Job:
        return self.run_job("chunk", project, size=size, overlap=overlap)

    def chunks(self: Workspace, project: str, *, limit: int | None = None) -> list[Chunk]:
        return chunks.list_chunks(self, project, limit=limit)[0]

    def preview(self: Workspace, project: str, num_examples: int = 10, *, generator: str | None = None) -> Job:
        return self.run_job("dataset_preview", project, num_examples=num_examples, generator=generator)

    def generate(self: Workspace, project: str, *, target: int | None = None, examples_per_chunk: int | None = None,
                 generator: str | None = None, settings: dict[str, Any] | None = None) -> Job:
        return self.run_job("dataset_generate", project, num_examples_target=target,
                            examples_per_chunk=examples_per_chunk, generator=generator, settings=settings)

    def examples(self: Workspace, project: str, *, split: str | None = None, is_valid: bool | None = None,
                 limit: int | None = None) -> list[Example]:
        return curation.list_examples(self, project, split=split, is_valid=is_valid, limit=limit)[0]

    def curate(self: Workspace, project: str) -> dict[str, Any]:
        return curation.curate_project(self, self.project(project).id)

    def stats(self: Workspace, project: str) -> dict[str, Any]:
        return curation.stats(self, project)

    def export(self: Workspace, project: str, format: str, *, out: str | Path | None = None,
               split: str | None = None, system_prompt: str | None = None) -> ExportResult:
        return exports.export_dataset(self, project, format, out=out, split=split, system_prompt=system_prompt)
