"""Documents attached to an agent or a chat (foyergpt): sources of the owner's "Attachments" project.

Each owner gets one project for their attachments, made on the first upload and marked
`config.purpose = "attachments"`; a document is a source there whose metadata names the entity
it is attached to (`attached_to`, the latest also as `entity_type`, `entity_id`). Documents are smaller than project
files (10 MB). Each upload is loaded and chunked by a `document_index` job; answers retrieve from the chunks
(services/retrieval.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, BinaryIO

from finetune_core.domain import Project, Source, SourceKind, SourceStatus
from finetune_core.errors import NotFoundError
from finetune_core.services import pipeline as pipeline_steps
from finetune_core.services import projects as projects_service
from finetune_core.services import sources as sources_service
from finetune_core.services.chunks import chunk_project
from finetune_core.services.pipeline import PipelineRun

if TYPE_CHECKING:
    from finetune_core.jobs.context import JobContext
    from finetune_core.ports import WorkspacePort

MB = 1024 * 1024
MAX_DOCUMENT_BYTES = 10 * MB
PURPOSE = "attachments"
PROJECT_NAME = "Attachments"
ENTITY_TYPES = ("agent", "chat")
INDEX_JOB = "document_index"  # loads and chunks an attached document


def is_attachments(project: Project) -> bool:
    return (project.config.model_extra or {}).get("purpose") == PURPOSE


def attachments_project(workspace: WorkspacePort, owner_id: str | None) -> Project:
    """The owner's attachments project, made on first use (the oldest one if a race made two)."""
    with workspace.unit_of_work() as uow:
        projects, _ = uow.projects.search(owner_id=owner_id, limit=None)
    found = [project for project in projects if is_attachments(project) and project.owner_id == owner_id]
    if found:
        return min(found, key=lambda project: project.created_at)
    return projects_service.create_project(
        workspace, PROJECT_NAME, description="documents attached to agents and chats",
        config={"purpose": PURPOSE}, owner_id=owner_id)


def attached_documents(workspace: WorkspacePort, owner_id: str | None, entities: list[tuple[str, str]]
                       ) -> list[Source]:
    """The owner's documents attached to any of `entities` ((type, id) pairs), oldest first."""
    wanted = [{"entity_type": kind, "entity_id": entity_id} for kind, entity_id in entities]
    project = attachments_project(workspace, owner_id)
    with workspace.unit_of_work() as uow:
        found, _ = uow.sources.search(project.id, limit=None)
    return [source for source in found if any(entity in wanted for entity in source.metadata.get("attached_to", []))]


def delete_documents_of(workspace: WorkspacePort, owner_id: str | None, entity_type: str, entity_id: str) -> None:
    """Detach every document of an entity that is deleted; a document attached to nothing else goes too."""
    entity = {"entity_type": entity_type, "entity_id": entity_id}
    for source in attached_documents(workspace, owner_id, [(entity_type, entity_id)]):
        left = [item for item in source.metadata.get("attached_to", []) if item != entity]
        if left:
            with workspace.unit_of_work() as uow:
                source.metadata.update(attached_to=left, **left[-1])
                uow.sources.save(source)
        else:
            sources_service.delete_source(workspace, source.id)


def index_job(context: JobContext, *, project_id: str, source_ids: list[str]) -> dict[str, Any]:
    """Load and chunk attached documents, so answers can draw on them.

    Outside the pipeline's order: an attachments project holds no dataset, and each upload is indexed on its own,
    whatever the others' state.
    """
    summary = pipeline_steps.load(PipelineRun(context.workspace, project_id, source_ids, context=context))
    documents = [source.id for source in (sources_service.get_source(context.workspace, source_id)
                                          for source_id in source_ids)
                 if source.kind is SourceKind.RAW_DOC and source.status is SourceStatus.READY]
    chunking = chunk_project(context.workspace, project_id, source_ids=documents, ordered=False, context=context)
    with context.workspace.unit_of_work() as uow:  # each document says how many passages answers can draw on
        for source_id in documents:
            source = uow.sources.get(source_id)
            source.metadata["chunk_count"] = uow.chunks.search(project_id, source_id=source_id, limit=0)[1]
            uow.sources.save(source)
    return {**summary, "chunks": chunking["chunks"]}


def open_file(workspace: WorkspacePort, source: Source) -> BinaryIO:
    """The stored bytes of a source, to stream; NotFoundError for a source with none (a URL, an empty file)."""
    if not source.storage_key or not workspace.files.exists(source.storage_key):
        raise NotFoundError("this source has no stored file (a URL, or an empty upload)",
                            error_code="NO_STORED_FILE", source_id=source.id)
    return workspace.files.open(source.storage_key)
