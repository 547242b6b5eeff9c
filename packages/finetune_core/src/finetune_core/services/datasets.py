"""Datasets (fintune-platform, dualqueryintelligence) as a view of projects: a project's examples are its dataset.

The mapping:
- one dataset per project, and its id is the project's id;
- a project has a dataset once one was created for it (`config.dataset` holds the dataset's own
  name and description) or once it holds examples outside the preview;
- a dataset created with no project, or uploaded as a file, gets a project of its own marked
  `standalone`: deleting the dataset deletes that project. Deleting a project's dataset removes its
  examples and uploaded dataset files; the project and its other sources stay;
- `model` is the project's `config.model` (the generation model), `status` is `processing` while a
  job building it is queued or running, `error` when the last one failed, else `ready` with pairs
  and `empty` without; `size` is the pairs' total token count.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from finetune_core.domain import PREVIEW_SPLIT, Job, JobStatus, Project, Source, SourceKind, SourceStatus
from finetune_core.errors import ConflictError, InvalidInputError, NotFoundError, SourceLoadError
from finetune_core.services import billing, pipeline_order
from finetune_core.services import jobs as jobs_service
from finetune_core.services import projects as projects_service
from finetune_core.services import sources as sources_service
from finetune_core.services.curation import curate_project
from finetune_core.services.dataset_jobs import check_generator
from finetune_core.services.model_access import Origin
from finetune_core.sources.names import sanitize_filename

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort
    from finetune_core.storage.unit_of_work import UnitOfWork

DATASET_KEY = "dataset"  # the project config key of a dataset's own fields
BUILD_JOBS = ("ingest", "ingest_curate", "chunk", "dataset_generate", "dataset_build", "curate")
PREVIEW = PREVIEW_SPLIT
PREVIEW_ROWS = 5
RECENT_JOBS = 20
DatasetStatus = Literal["processing", "ready", "error", "empty"]


class PreviewData(BaseModel):
    headers: list[str]
    rows: list[list[Any]]


class Dataset(BaseModel):
    id: str
    project_id: str
    owner_id: str | None
    name: str
    description: str | None
    model: str | None
    generator: str
    status: DatasetStatus
    origin: Literal["generated", "upload"]
    pairs_count: int
    valid_pairs_count: int
    size: int  # tokens
    row_count: int
    column_count: int
    preview_data: PreviewData
    file_name: str | None
    file_size: int | None
    created_at: datetime
    updated_at: datetime
    uploaded_at: datetime | None


def _meta(project: Project) -> dict[str, Any] | None:
    value = (project.config.model_extra or {}).get(DATASET_KEY)
    return value if isinstance(value, dict) else None


def _exists(uow: UnitOfWork, project: Project) -> bool:
    return _meta(project) is not None or uow.examples.totals(project.id, exclude_split=PREVIEW)[0] > 0


def _status(uow: UnitOfWork, project_id: str, pairs: int) -> DatasetStatus:
    recent, _ = uow.jobs.search(project_id=project_id, limit=RECENT_JOBS)
    builds = [job for job in recent if job.type in BUILD_JOBS]
    if any(not job.status.finished for job in builds):
        return "processing"
    if builds and builds[0].status is JobStatus.FAILED:
        return "error"
    return "ready" if pairs else "empty"


def _view(uow: UnitOfWork, project: Project) -> Dataset:
    meta = _meta(project) or {}
    count, valid, tokens = uow.examples.totals(project.id, exclude_split=PREVIEW)
    uploads, _ = uow.sources.search(project.id, kind=SourceKind.DATASET_UPLOAD.value)
    loaded = [source for source in uploads if source.status is SourceStatus.READY]
    first: Source | None = loaded[0] if loaded else None
    if first is not None:
        headers = [str(column) for column in first.metadata.get("columns") or []]
        rows = [[row.get(column) for column in headers] for row in first.metadata.get("preview") or []]
        row_count = sum(int(source.metadata.get("row_count") or 0) for source in loaded)
    else:
        headers = ["question", "answer"]
        examples, _ = uow.examples.search(project.id, limit=PREVIEW_ROWS, exclude_split=PREVIEW)
        rows = [[example.question, example.answer] for example in examples]
        row_count = count
    return Dataset(
        id=project.id, project_id=project.id, owner_id=project.owner_id,
        name=meta.get("name") or project.name, description=meta.get("description") or project.description,
        model=project.config.model, generator=project.config.generator,
        status=_status(uow, project.id, count), origin="upload" if uploads else "generated",
        pairs_count=count, valid_pairs_count=valid, size=tokens, row_count=row_count, column_count=len(headers),
        preview_data=PreviewData(headers=headers, rows=rows),
        file_name=first.name if first else None, file_size=first.size_bytes if first else None,
        created_at=project.created_at, updated_at=project.updated_at,
        uploaded_at=first.created_at if first else None,
    )


def _existing(uow: UnitOfWork, dataset_id: str) -> Project:
    try:
        project = uow.projects.get(dataset_id)
    except NotFoundError:
        project = None
    if project is None or not _exists(uow, project):
        raise NotFoundError(f"dataset '{dataset_id}' not found", dataset_id=dataset_id)
    return project


def get_dataset(workspace: WorkspacePort, dataset_id: str) -> Dataset:
    with workspace.unit_of_work() as uow:
        return _view(uow, _existing(uow, dataset_id))


def require_dataset(workspace: WorkspacePort, dataset_id: str) -> Project:
    """The project behind the dataset, or NotFoundError when it has none."""
    with workspace.unit_of_work() as uow:
        return _existing(uow, dataset_id)


def list_datasets(workspace: WorkspacePort, owner_id: str | None, *, project_id: str | None = None, limit: int = 50,
                  offset: int = 0) -> tuple[list[Dataset], int]:
    """The datasets of `owner_id`'s projects (or of one project), newest first."""
    with workspace.unit_of_work() as uow:
        projects = [uow.projects.get(project_id)] if project_id else uow.projects.search(owner_id=owner_id,
                                                                                        limit=None)[0]
        found = [project for project in projects if _exists(uow, project)]
        return [_view(uow, project) for project in found[offset:offset + limit]], len(found)


def create_dataset(workspace: WorkspacePort, owner_id: str | None, *, name: str, project_id: str | None = None,
                   description: str | None = None, model: str | None = None, generator: str | None = None,
                   content_ids: list[str] | None = None, num_examples_target: int | None = None,
                   examples_per_chunk: int | None = None, settings: dict[str, Any] | None = None,
                   origin: Origin = Origin.LOCAL) -> tuple[Dataset, Job | None]:
    """The project's dataset (or a standalone one); with `content_ids`, the job that builds it from them.

    The answer is read before the job runs, so it says `processing` whenever a job was started. With
    `content_ids`, PipelineBusyError (409) while other sources of the project are loading or an earlier step
    is unfinished (services/pipeline_order.py); nothing is changed then.
    """
    settings = check_generator(workspace, generator, settings, origin)
    if content_ids and project_id is None:
        raise InvalidInputError("content_ids need the project_id of their project", content_ids=content_ids)
    changes: dict[str, Any] = {DATASET_KEY: {"name": name, "description": description,
                                             "standalone": project_id is None}}
    changes.update({key: value for key, value in (("model", model), ("generator", generator)) if value})
    if project_id is None:
        project = projects_service.create_project(workspace, name, description=description, config=changes,
                                                  owner_id=owner_id)
    else:
        with workspace.unit_of_work() as uow:
            project = uow.projects.get(project_id)
            if _exists(uow, project):
                raise ConflictError("this project has its dataset already (one dataset a project): PUT changes it, "
                                    "POST /api/projects/{id}/dataset/generate adds to it",
                                    error_code="DATASET_EXISTS", dataset_id=project.id)
            for content_id in content_ids or []:
                if uow.sources.get(content_id).project_id != project.id:
                    raise NotFoundError(f"content '{content_id}' not found in this project", content_id=content_id)
            if content_ids:
                pipeline_order.ensure_ready(uow, project.id, "dataset_build", source_ids=content_ids)
        project = projects_service.update_project(workspace, project.id, config=changes)
    job = None
    if content_ids:
        params: dict[str, Any] = {"num_examples_target": num_examples_target, "examples_per_chunk": examples_per_chunk,
                  "generator": generator, "settings": settings or None,
                  "origin": None if origin is Origin.LOCAL else origin.value}
        job = jobs_service.new_job("dataset_build", project_id=project.id, source_ids=list(dict.fromkeys(content_ids)),
                                   **{key: value for key, value in params.items() if value is not None})
        with workspace.unit_of_work() as uow:
            billing.enforce_job(workspace, uow, job)
            uow.jobs.add(job)
    dataset = get_dataset(workspace, project.id)
    return dataset, jobs_service.submit(workspace, job) if job else None


def update_dataset(workspace: WorkspacePort, dataset_id: str, *, name: str | None = None,
                   description: str | None = None, model: str | None = None) -> Dataset:
    """Rename or describe the dataset (the project keeps its own name), or change its generation model."""
    meta = dict(_meta(require_dataset(workspace, dataset_id)) or {"standalone": False})
    meta.update({key: value for key, value in (("name", name), ("description", description)) if value is not None})
    changes: dict[str, Any] = {DATASET_KEY: meta, **({"model": model} if model is not None else {})}
    projects_service.update_project(workspace, dataset_id, config=changes)
    return get_dataset(workspace, dataset_id)


def delete_dataset(workspace: WorkspacePort, dataset_id: str) -> None:
    """A standalone dataset goes with its project; a project's dataset loses its pairs and uploaded files."""
    project = require_dataset(workspace, dataset_id)
    if (_meta(project) or {}).get("standalone"):
        projects_service.delete_project(workspace, project.id)
        return
    uploads, _ = sources_service.list_sources(workspace, project.id, kind=SourceKind.DATASET_UPLOAD.value)
    for source in uploads:
        sources_service.delete_source(workspace, source.id)
    with workspace.unit_of_work() as uow:
        uow.examples.delete_all(project.id)
    projects_service.update_project(workspace, project.id, config={DATASET_KEY: None})


def upload_dataset(workspace: WorkspacePort, owner_id: str | None, filename: str, data: bytes, *,
                   name: str | None = None) -> Dataset:
    """A CSV, JSONL or JSON file read at once into a standalone dataset: its rows become examples (split and
    validated) when its columns are an example column set, else it is kept as a table to query (no examples).

    Nothing is left behind when the file is refused: its type (415), its size (413), or its rows (400).
    """
    title = (name or sanitize_filename(filename))[:200]
    config = {DATASET_KEY: {"name": title, "description": None, "standalone": True}}
    project = projects_service.create_project(workspace, title, config=config, owner_id=owner_id)
    try:
        source = sources_service.add_file(workspace, project.id, filename, data, kind=SourceKind.DATASET_UPLOAD)
        if source.status is SourceStatus.PENDING:  # any table is welcome: one of examples, or one to query
            with workspace.unit_of_work() as uow:
                source.metadata[sources_service.TABLE_OK] = True
                uow.sources.save(source)
            source = sources_service.load_source(workspace, source.id)
        if source.status is SourceStatus.ERROR:
            raise SourceLoadError(f"Dataset file {source.name}: {source.error_message}", filename=source.name)
        curate_project(workspace, project.id)
    except BaseException:
        projects_service.delete_project(workspace, project.id)
        raise
    return get_dataset(workspace, project.id)
