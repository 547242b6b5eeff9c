"""Documents (foyergpt) uploaded for an agent or a chat: checked against the entity, stored, then indexed.

The stored side (the owner's attachments project, detaching, the index job) is services/attachments.py, which the
agents and chats services use when they are deleted; this module sits above both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from finetune_core.domain import Source, SourceStatus, SourceType
from finetune_core.errors import FileTooLargeError, NotFoundError, SourceLoadError
from finetune_core.services import agents, attachments, chats
from finetune_core.services import jobs as jobs_service
from finetune_core.services import sources as sources_service

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort

ENTITY_TYPES = attachments.ENTITY_TYPES


def owned_entity(workspace: WorkspacePort, entity_type: str, entity_id: str, owner_id: str | None) -> None:
    """NotFoundError unless the agent or chat `entity_id` exists and `owner_id` may change it (an agent) or owns
    it (a chat); PermissionDeniedError (403) for another user's public agent."""
    if entity_type not in ENTITY_TYPES:
        raise NotFoundError(f"no such kind of entity '{entity_type}' (one of {', '.join(ENTITY_TYPES)})",
                            entity_type=entity_type)
    try:
        if entity_type == "agent":
            agents.owned_agent(workspace, entity_id, owner_id)
        else:
            chats.owned_chat(workspace, entity_id, owner_id)
    except NotFoundError:
        raise NotFoundError(f"{entity_type} '{entity_id}' not found", error_code="ENTITY_NOT_FOUND",
                            entity_type=entity_type, entity_id=entity_id) from None


def add_document(workspace: WorkspacePort, owner_id: str | None, filename: str, data: bytes, *, entity_type: str,
                 entity_id: str, max_bytes: int = attachments.MAX_DOCUMENT_BYTES) -> Source:
    """Store a document for the caller's agent or chat (type read from the bytes: PDF, DOCX, text, Markdown, HTML,
    PNG or JPEG; 415 otherwise) and start indexing its text (an image is kept, with none to read)."""
    if len(data) > max_bytes:
        raise FileTooLargeError(f"File exceeds maximum size of {max_bytes // attachments.MB} MB", filename=filename,
                                size_bytes=len(data))
    if not data:
        raise SourceLoadError("the file is empty", filename=filename)
    owned_entity(workspace, entity_type, entity_id, owner_id)
    project = attachments.attachments_project(workspace, owner_id)
    source = sources_service.add_file(workspace, project.id, filename, data, images=True)
    entity = {"entity_type": entity_type, "entity_id": entity_id}
    attached: list[dict[str, str]] = list(source.metadata.get("attached_to", []))
    if entity not in attached:  # the same bytes under the same name are one source, attached to each entity
        with workspace.unit_of_work() as uow:
            source.metadata.update(entity_type=entity_type, entity_id=entity_id, attached_to=[*attached, entity])
            uow.sources.save(source)
    if source.type is not SourceType.IMAGE and (source.status is SourceStatus.PENDING
                                                or not _chunked(workspace, source)):
        jobs_service.enqueue(workspace, attachments.INDEX_JOB, project_id=project.id, source_ids=[source.id])
    return sources_service.get_source(workspace, source.id)


def _chunked(workspace: WorkspacePort, source: Source) -> bool:
    with workspace.unit_of_work() as uow:
        return uow.chunks.search(source.project_id, source_id=source.id, limit=0)[1] > 0


