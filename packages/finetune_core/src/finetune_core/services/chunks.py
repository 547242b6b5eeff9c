"""Use cases on chunks: cut each loaded Document into token-bounded pieces."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finetune_core.chunking.tokenizers import get_tokenizer
from finetune_core.domain import Chunk, ProjectConfig, SourceKind, SourceStatus
from finetune_core.errors import InvalidInputError
from finetune_core.services import pipeline_order

if TYPE_CHECKING:
    from finetune_core.jobs.context import JobContext
    from finetune_core.ports import WorkspacePort


def chunk_sizes(config: ProjectConfig, size: int | None, overlap: int | None) -> tuple[int, int]:
    """The size and overlap, in tokens, a chunking uses (the project's config where not given); InvalidInputError
    when the overlap is not below the size."""
    size = size or config.chunk_size_tokens
    overlap = config.chunk_overlap_tokens if overlap is None else overlap
    if overlap >= size:
        raise InvalidInputError(f"chunk overlap ({overlap}) must be smaller than chunk size ({size})",
                                chunk_size_tokens=size, chunk_overlap_tokens=overlap)
    return size, overlap


def chunk_project(
    workspace: WorkspacePort,
    project_id: str,
    *,
    size: int | None = None,
    overlap: int | None = None,
    chunker: str | None = None,
    source_ids: list[str] | None = None,
    ordered: bool = True,
    context: JobContext | None = None,
) -> dict[str, Any]:
    """(Re)chunk every ready document of the project (or those of `source_ids`); sizes default to the project's
    config.

    PipelineBusyError while sources of the project are still loading or were never loaded (the documents are
    listed in the same transaction as that check).
    """
    with workspace.unit_of_work() as uow:
        project = uow.projects.find(project_id)
        if ordered:  # False: a project outside the pipeline's order (documents attached to chats and agents)
            pipeline_order.ensure_ready(uow, project.id, "chunk", job_id=context.job_id if context else None)
        sources, _ = uow.sources.search(project.id, kind=SourceKind.RAW_DOC.value, status=SourceStatus.READY.value)
    if source_ids is not None:
        sources = [source for source in sources if source.id in set(source_ids)]
    config = project.config
    size, overlap = chunk_sizes(config, size, overlap)
    strategy = workspace.plugins.chunkers.get(chunker or config.chunker)
    tokenizer = get_tokenizer(config.tokenizer)
    total_chunks = 0
    for done, source in enumerate(sources):
        if context:
            context.progress(done, len(sources), f"chunking {source.name}")
        with workspace.unit_of_work() as uow:
            document = uow.documents.get(source.id)
        if document is None:
            continue
        spans = strategy.chunk(document, tokenizer=tokenizer, size=size, overlap=overlap)
        chunks = [
            Chunk(
                project_id=project.id,
                source_id=source.id,
                chunk_index=index,
                content=span.text,
                token_count=span.token_count,
                char_start=span.char_start,
                char_end=span.char_end,
                page_start=span.page_start,
                page_end=span.page_end,
                heading=span.heading,
                metadata={"source_name": source.name, "language": document.language},
            )
            for index, span in enumerate(spans)
        ]
        with workspace.unit_of_work() as uow:
            uow.chunks.replace(source.id, chunks)
        total_chunks += len(chunks)
    if context:
        context.progress(len(sources), len(sources), force=True)
    return {"sources": len(sources), "chunks": total_chunks, "chunk_size_tokens": size,
            "chunk_overlap_tokens": overlap}


def list_chunks(workspace: WorkspacePort, project_id: str, *, source_id: str | None = None, limit: int | None = 50,
                offset: int = 0) -> tuple[list[Chunk], int]:
    with workspace.unit_of_work() as uow:
        project = uow.projects.find(project_id)
        return uow.chunks.search(project.id, source_id=source_id, limit=limit, offset=offset)
