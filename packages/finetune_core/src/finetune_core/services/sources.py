"""Use cases on sources: add files and URLs, load them into Documents or uploaded examples."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finetune_core.chunking.tokenizers import get_tokenizer
from finetune_core.domain import (
    Document,
    Example,
    RecordSet,
    Source,
    SourceKind,
    SourceStatus,
    SourceType,
)
from finetune_core.errors import (
    FileTooLargeError,
    FinetuneError,
    InvalidInputError,
    SourceLoadError,
    UnsupportedFileTypeError,
)
from finetune_core.generation.language import detect_language
from finetune_core.sources.base import FetchContext, FileLoader, LoadOptions, UrlLoader
from finetune_core.sources.fetch import SafeFetcher, check_url
from finetune_core.sources.names import sanitize_filename
from finetune_core.sources.sniff import detect_mime, name_for_type

if TYPE_CHECKING:
    from finetune_core.chunking.base import Tokenizer
    from finetune_core.ports import WorkspacePort

MB = 1024 * 1024
UPLOAD_REQUEST_PREFIX = "upload:"
UPLOAD_GENERATOR = "upload"  # the `generator` of examples that came from a dataset file
EMPTY_FILE = "the file is empty"


def _file_loader(workspace: WorkspacePort, mime: str, kind: SourceKind | None, name: str) -> FileLoader:
    loaders = [item for item in workspace.plugins.sources if isinstance(item, FileLoader) and mime in item.mime_types]
    matching = sorted((loader for loader in loaders if kind is None or loader.kind == kind),
                      key=lambda loader: -loader.priority)
    if not matching:
        accepted = sorted(
            {m for item in workspace.plugins.sources if isinstance(item, FileLoader) for m in item.mime_types
             if kind is None or item.kind == kind}
        )
        raise UnsupportedFileTypeError(
            f"File '{name}' has unsupported MIME type '{mime}'"
            + (f" for kind '{kind.value}'" if kind else "")
            + f" (accepted: {', '.join(accepted)})",
            filename=name,
            mime_type=mime,
        )
    return matching[0]


def _url_loader(workspace: WorkspacePort, url: str) -> UrlLoader:
    loaders = sorted(
        (item for item in workspace.plugins.sources if isinstance(item, UrlLoader)),
        key=lambda loader: -loader.priority,
    )
    for loader in loaders:
        if loader.matches(url):
            return loader
    raise InvalidInputError(f"no installed source loader accepts the URL '{url}'", url=url)


IMAGE_TYPES = ("image/png", "image/jpeg")


def add_file(
    workspace: WorkspacePort,
    project_id: str,
    filename: str,
    data: bytes,
    *,
    kind: SourceKind | str | None = None,
    description: str | None = None,
    images: bool = False,
) -> Source:
    """Check and store one file as a pending source; the type is read from the bytes, not the name.

    `images`: a PNG or JPEG is welcome too, kept as a file with no text to read (ready at once): the documents
    of chats and agents."""
    requested_kind = SourceKind(kind) if kind else None
    name = sanitize_filename(filename)
    settings = workspace.settings
    if len(data) > settings.max_file_bytes:
        raise FileTooLargeError(
            f"File exceeds maximum size of {settings.max_file_bytes // MB} MB",
            filename=name,
            size_bytes=len(data),
        )
    sha256 = hashlib.sha256(data).hexdigest()
    with workspace.unit_of_work() as uow:
        project_id = uow.projects.find(project_id).id
    source = Source(project_id=project_id, name=name, type=SourceType.TEXT, size_bytes=len(data), sha256=sha256,
                    description=description)
    if not data:
        source.kind = requested_kind or SourceKind.RAW_DOC
        source.status, source.error_message = SourceStatus.ERROR, EMPTY_FILE
    else:
        mime = detect_mime(data, name)
        if images and mime in IMAGE_TYPES:
            source.type, source.mime_type, source.status = SourceType.IMAGE, mime, SourceStatus.READY
        else:
            loader = _file_loader(workspace, mime, requested_kind, name)
            name = source.name = name_for_type(name, mime)
            source.kind, source.type, source.mime_type = loader.kind, loader.source_type, mime
    stored = False
    try:
        # one transaction, the project locked: concurrent uploads cannot both pass the quota, and an upload
        # racing its own retry lands once
        with workspace.unit_of_work() as uow:
            uow.projects.lock(project_id)
            existing = uow.sources.with_content(project_id, sha256, name)
            if existing is not None:
                return existing  # an idempotent retry of the same upload
            if uow.sources.total_bytes(project_id) + len(data) > settings.max_project_bytes:
                raise FileTooLargeError(
                    f"Project storage limit of {settings.max_project_bytes // MB} MB would be exceeded",
                    project_id=project_id,
                )
            if data:
                source.storage_key = f"{project_id}/{source.id}/{name}"
                workspace.files.put(source.storage_key, data)
                stored = True
            return uow.sources.add(source)
    except BaseException:
        if stored and source.storage_key:
            workspace.files.delete(source.storage_key)  # no orphan file when the row did not land
        raise


def add_path(workspace: WorkspacePort, project_id: str, path: str | Path, **options: Any) -> Source:
    path = Path(path)
    return add_file(workspace, project_id, path.name, path.read_bytes(), **options)


def add_url(workspace: WorkspacePort, project_id: str, url: str, *, name: str | None = None,
            description: str | None = None) -> Source:
    """Refuse a disallowed URL at once (before any job); otherwise store a pending URL source."""
    check_url(url, allow_loopback=workspace.settings.allow_loopback_urls)
    loader = _url_loader(workspace, url)
    with workspace.unit_of_work() as uow:
        project = uow.projects.find(project_id)
        source = Source(project_id=project.id, name=(name or url)[:255], type=loader.source_type, url=url,
                        description=description, metadata={"loader": loader.name})
        return uow.sources.add(source)


def fetch_context(workspace: WorkspacePort) -> FetchContext:
    settings = workspace.settings
    fetcher = SafeFetcher(
        allow_loopback=settings.allow_loopback_urls,
        max_bytes=settings.fetch_max_bytes,
        timeout=settings.fetch_timeout_s,
        transport=workspace.http_transport,
    )
    return FetchContext(fetcher=fetcher, languages=settings.transcript_languages,
                        requests_session=workspace.requests_session)


def _load(workspace: WorkspacePort, source: Source) -> Document | RecordSet:
    if source.url:
        return _url_loader(workspace, source.url).fetch(source.url, fetch_context(workspace))
    if not source.storage_key or not source.mime_type:
        # add_file stores no file for an empty upload: say what the user can act on
        raise SourceLoadError(EMPTY_FILE if source.size_bytes == 0 else "the source has no stored file")
    loader = _file_loader(workspace, source.mime_type, source.kind, source.name)
    options = LoadOptions(filename=source.name, languages=workspace.settings.transcript_languages,
                          tables=bool(source.metadata.get(TABLE_OK)))
    return loader.load(workspace.files.get(source.storage_key), options)


TABLE_OK = "table_ok"  # source metadata: a table of any columns is welcome (LoadOptions.tables)


def _upload_examples(source: Source, records: RecordSet, tokenizer: Tokenizer) -> list[Example]:
    """The rows of a dataset file as examples, token-counted like generated ones."""
    return [draft.to_example(project_id=source.project_id, position=position, count_tokens=tokenizer.count,
                             provenance={"source_name": source.name, "row": position}, source_id=source.id,
                             request_key=f"{UPLOAD_REQUEST_PREFIX}{source.id}", generator=UPLOAD_GENERATOR)
            for position, draft in enumerate(records.records)]


def load_source(workspace: WorkspacePort, source_id: str) -> Source:
    """Load one source; any failure marks only this source `error` with a clear message."""
    with workspace.unit_of_work() as uow:
        source = uow.sources.get(source_id)
        source.status, source.error_message = SourceStatus.PROCESSING, None
        uow.sources.save(source)
    try:
        loaded = _load(workspace, source)
        if isinstance(loaded, Document) and not loaded.text.strip():
            raise SourceLoadError("no text could be extracted from this source")
    except FinetuneError as exc:
        return _mark_error(workspace, source, exc.message)
    except Exception as exc:  # a loader bug must not take the project down with it
        return _mark_error(workspace, source, f"could not read this source ({type(exc).__name__}: {exc})")

    with workspace.unit_of_work() as uow:
        if isinstance(loaded, Document):
            loaded.language = loaded.language or detect_language(loaded.text[:20_000])
            uow.documents.save(source.id, loaded)
            source.metadata.update({**loaded.metadata, "title": loaded.title, "language": loaded.language,
                                    "characters": len(loaded.text), "pages": len(loaded.pages) or None})
        else:
            tokenizer = get_tokenizer(uow.projects.get(source.project_id).config.tokenizer)
            uow.examples.delete_all(source.project_id, source_id=source.id)
            uow.examples.add(_upload_examples(source, loaded, tokenizer))
            source.metadata.update(row_count=loaded.row_count, columns=loaded.columns, mapping=loaded.mapping,
                                   preview=loaded.preview)
        source.status = SourceStatus.READY
        return uow.sources.save(source)


def _mark_error(workspace: WorkspacePort, source: Source, message: str) -> Source:
    with workspace.unit_of_work() as uow:
        source.status, source.error_message = SourceStatus.ERROR, message
        return uow.sources.save(source)


def list_sources(workspace: WorkspacePort, project_id: str, *, kind: str | None = None, limit: int | None = None,
                 offset: int = 0) -> tuple[list[Source], int]:
    with workspace.unit_of_work() as uow:
        project = uow.projects.find(project_id)
        return uow.sources.search(project.id, kind=kind, limit=limit, offset=offset)


def get_source(workspace: WorkspacePort, source_id: str) -> Source:
    with workspace.unit_of_work() as uow:
        return uow.sources.get(source_id)


def update_source(workspace: WorkspacePort, source_id: str, *, name: str | None = None,
                  description: str | None = None) -> Source:
    with workspace.unit_of_work() as uow:
        source = uow.sources.get(source_id)
        if name is not None:
            source.name = name
        if description is not None:
            source.description = description
        return uow.sources.save(source)


def delete_source(workspace: WorkspacePort, source_id: str) -> None:
    """Remove a source, its chunks and examples (cascade) and its stored file."""
    with workspace.unit_of_work() as uow:
        source = uow.sources.get(source_id)
        uow.sources.delete(source_id)
    if source.storage_key:
        workspace.files.delete_prefix(f"{source.project_id}/{source.id}")
