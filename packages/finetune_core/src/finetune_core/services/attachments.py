"""Documents attached to an agent or a chat (foyergpt): sources of the owner's "Attachments" project.

Each owner gets one project for their attachments, made on the first upload and marked
`config.purpose = "attachments"`; a document is a source there whose metadata names the entity
it is attached to (`entity_type`, `entity_id`). Documents are smaller than project files (10 MB).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO

from finetune_core.domain import Project, Source
from finetune_core.errors import FileTooLargeError, NotFoundError, SourceLoadError
from finetune_core.services import projects as projects_service
from finetune_core.services import sources as sources_service
from finetune_core.services.contents import ingest

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort

MB = 1024 * 1024
MAX_DOCUMENT_BYTES = 10 * MB
PURPOSE = "attachments"
PROJECT_NAME = "Attachments"
ENTITY_TYPES = ("agent", "chat")


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


def owned_entity(workspace: WorkspacePort, entity_type: str, entity_id: str, owner_id: str | None) -> None:
    """NotFoundError unless the agent or chat `entity_id` exists and `owner_id` may see it.

    Agents and chats are not stored by this version (they come with the chats of shared/API.md), so
    no entity exists yet and every id is refused: a document is never attached to something made up.
    """
    if entity_type not in ENTITY_TYPES:
        raise NotFoundError(f"no such kind of entity '{entity_type}' (one of {', '.join(ENTITY_TYPES)})",
                            entity_type=entity_type)
    raise NotFoundError(f"{entity_type} '{entity_id}' not found", error_code="ENTITY_NOT_FOUND",
                        entity_type=entity_type, entity_id=entity_id)


def add_document(workspace: WorkspacePort, owner_id: str | None, filename: str, data: bytes, *, entity_type: str,
                 entity_id: str, max_bytes: int = MAX_DOCUMENT_BYTES) -> Source:
    """Store a document for the caller's agent or chat (type read from the bytes) and start loading its text."""
    if len(data) > max_bytes:
        raise FileTooLargeError(f"File exceeds maximum size of {max_bytes // MB} MB", filename=filename,
                                size_bytes=len(data))
    if not data:
        raise SourceLoadError("the file is empty", filename=filename)
    owned_entity(workspace, entity_type, entity_id, owner_id)
    project = attachments_project(workspace, owner_id)
    source = sources_service.add_file(workspace, project.id, filename, data)
    entity = {"entity_type": entity_type, "entity_id": entity_id}
    attached: list[dict[str, str]] = list(source.metadata.get("attached_to", []))
    if entity not in attached:  # the same bytes under the same name are one source, attached to each entity
        with workspace.unit_of_work() as uow:
            source.metadata.update(entity_type=entity_type, entity_id=entity_id, attached_to=[*attached, entity])
            uow.sources.save(source)
    ingest(workspace, project.id, [source])
    return sources_service.get_source(workspace, source.id)


def open_file(workspace: WorkspacePort, source: Source) -> BinaryIO:
    """The stored bytes of a source, to stream; NotFoundError for a source with none (a URL, an empty file)."""
    if not source.storage_key or not workspace.files.exists(source.storage_key):
        raise NotFoundError("this source has no stored file (a URL, or an empty upload)",
                            error_code="NO_STORED_FILE", source_id=source.id)
    return workspace.files.open(source.storage_key)
