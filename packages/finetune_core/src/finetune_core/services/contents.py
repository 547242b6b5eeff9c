"""Sources as the REST families see them: files, contents and documents of the caller, added, listed, loaded.

Every family reads and writes the one `Source` entity; this module adds what those views share:
ownership (a source is its project owner's), listing across the owner's projects, an
all-or-nothing upload of several files, URL contents of a declared type, and the ingest job
that loads what was added.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from finetune_core.domain import Job, Source, SourceKind, SourceStatus, SourceType
from finetune_core.errors import InvalidInputError, NotFoundError
from finetune_core.services import jobs as jobs_service
from finetune_core.services import sources as sources_service
from finetune_core.services import tenancy
from finetune_core.sources.fetch import check_url

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort

URL_TYPES = (SourceType.WEBSITE, SourceType.YOUTUBE)
INGEST_AND_CURATE = "ingest_curate"


def owned_source(workspace: WorkspacePort, source_id: str, owner_id: str | None, *, project_id: str | None = None
                 ) -> Source:
    """The source if `owner_id` may see its project (and it is of `project_id` when given); else NotFoundError."""
    try:
        source = sources_service.get_source(workspace, source_id)
        tenancy.owned_project(workspace, source.project_id, owner_id)
    except NotFoundError:
        source = None
    if source is None or (project_id is not None and source.project_id != project_id):
        raise NotFoundError(f"source '{source_id}' not found", source_id=source_id)
    return source


def list_owned_sources(workspace: WorkspacePort, owner_id: str | None, *, project_id: str | None = None,
                       kind: str | None = None, limit: int = 50, offset: int = 0) -> tuple[list[Source], int]:
    """The sources of one project, or of every project `owner_id` may see, oldest first."""
    if project_id is not None or owner_id is None:  # one project, or the local user who sees every row
        with workspace.unit_of_work() as uow:
            return uow.sources.search(project_id, kind=kind, limit=limit, offset=offset)
    with workspace.unit_of_work() as uow:
        projects, _ = uow.projects.search(owner_id=owner_id, limit=None)
        found = [source for project in projects for source in uow.sources.search(project.id, kind=kind)[0]]
    found.sort(key=lambda source: (source.created_at, source.id))
    return found[offset:offset + limit], len(found)


def add_files(workspace: WorkspacePort, project_id: str, files: Iterable[tuple[str, bytes]], *,
              kind: SourceKind | str | None = None, description: str | None = None) -> list[Source]:
    """Add several files, all or none: when one is refused (type, size, quota) those added before it go too.

    `files` is consumed one at a time, so an iterator that reads each upload lazily holds one in memory.
    """
    before = {source.id for source in sources_service.list_sources(workspace, project_id)[0]}
    added: list[Source] = []
    try:
        for name, data in files:
            added.append(sources_service.add_file(workspace, project_id, name, data, kind=kind,
                                                  description=description))
    except BaseException:
        for source in added:
            if source.id not in before:  # an idempotent retry returned a source that was there already
                sources_service.delete_source(workspace, source.id)
        raise
    return added


def add_url_content(workspace: WorkspacePort, project_id: str, url: str, *, type: SourceType | str | None = None,
                    name: str | None = None, description: str | None = None) -> Source:
    """A URL source, refused at once when the URL is not allowed or is not of the declared `type`."""
    check_url(url, allow_loopback=workspace.settings.allow_loopback_urls)
    if type is not None:
        declared = SourceType(type)
        if declared not in URL_TYPES:
            raise InvalidInputError(f"a URL content is of type {' or '.join(URL_TYPES)}, not '{declared}'",
                                    error_code="CONTENT_TYPE_MISMATCH", type=declared.value)
        found = sources_service._url_loader(workspace, url).source_type
        if found is not declared:
            raise InvalidInputError(f"the URL is a '{found}' content, not '{declared}'",
                                    error_code="CONTENT_TYPE_MISMATCH", type=declared.value, detected=found.value)
    return sources_service.add_url(workspace, project_id, url, name=name, description=description)


def ingest(workspace: WorkspacePort, project_id: str, sources: Iterable[Source]) -> Job | None:
    """Start the job that loads those of `sources` still pending (and curates, when rows of a dataset file
    become examples); None when none is pending."""
    pending = [source for source in sources if source.status is SourceStatus.PENDING]
    if not pending:
        return None
    rows = any(source.kind is SourceKind.DATASET_UPLOAD for source in pending)
    return jobs_service.enqueue(workspace, INGEST_AND_CURATE if rows else "ingest", project_id=project_id,
                                source_ids=[source.id for source in pending])


def refreshed(workspace: WorkspacePort, sources: Iterable[Source]) -> list[Source]:
    """The sources as stored now (after a job that may have loaded them)."""
    return [sources_service.get_source(workspace, source.id) for source in sources]
