"""Repositories: the only code that turns rows into domain models and back."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, case, delete, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from finetune_core.curation.stats import SplitGroup
from finetune_core.domain import (
    AuthSession,
    Chunk,
    Document,
    Example,
    FineTune,
    Job,
    JobEvent,
    JobStatus,
    Project,
    ProviderKey,
    Source,
    SourceStatus,
    TrainedModel,
    User,
    utcnow,
)
from finetune_core.errors import ConflictError, NotFoundError
from finetune_core.storage.tables import (
    AuthSessionRow,
    Base,
    ChunkRow,
    DocumentRow,
    ExampleRow,
    FineTuneRow,
    JobEventRow,
    JobRow,
    ProjectRow,
    ProviderKeyRow,
    SourceRow,
    TrainedModelRow,
    UserRow,
)

_RENAMED = {"metadata": "metadata_"}


def _column_values(model: Any, exclude: set[str] | None = None) -> dict[str, Any]:
    """Values keyed by column name, for Core inserts (datetimes kept as objects)."""
    values: dict[str, Any] = model.model_dump(mode="json", exclude=exclude)
    for field in values:
        if isinstance(attribute := getattr(model, field, None), datetime):
            values[field] = attribute
    return values


def _to_row_values(model: Any, exclude: set[str] | None = None) -> dict[str, Any]:
    """Values keyed by ORM attribute name (`metadata` is `metadata_` on the row classes)."""
    return {_RENAMED.get(key, key): value for key, value in _column_values(model, exclude).items()}


def _row_values(row: Base) -> dict[str, Any]:
    values = {column.key: getattr(row, column.key) for column in row.__mapper__.column_attrs}
    if "metadata_" in values:
        values["metadata"] = values.pop("metadata_")
    return values


def _insert_ignoring_conflicts(session: Session, row_type: type[Base], rows: list[dict[str, Any]]) -> int:
    """Insert rows, silently skipping those that hit a unique constraint; returns rows inserted.

    Counted through RETURNING: drivers disagree on executemany's rowcount (psycopg gives -1).
    """
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    table = cast(Table, row_type.__table__)
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        stmt: Any = sqlite.insert(table).on_conflict_do_nothing()
    elif dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        stmt = postgresql.insert(table).on_conflict_do_nothing()
    else:  # pragma: no cover - other backends get a plain insert
        stmt = table.insert()
    result = session.execute(stmt.returning(table.c.id), rows)
    return len(result.all())


def _page(session: Session, query: Select[Any], limit: int | None, offset: int) -> tuple[list[Any], int]:
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query.offset(offset))), int(total)


class Repository:
    """Reads and writes the domain through one SQLAlchemy session (the unit of work)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # projects -----------------------------------------------------------------
    def add_project(self, project: Project) -> Project:
        self.session.add(ProjectRow(**_to_row_values(project)))
        self.session.flush()
        return project

    def _project_row(self, project_id: str) -> ProjectRow:
        row = self.session.get(ProjectRow, project_id)
        if row is None:
            raise NotFoundError(f"project '{project_id}' not found", project_id=project_id)
        return row

    def get_project(self, project_id: str) -> Project:
        return Project.model_validate(_row_values(self._project_row(project_id)))

    def find_project(self, ref: str) -> Project:
        """A project by id, or by name when no id matches (the CLI's `--project NAME`)."""
        row = self.session.get(ProjectRow, ref)
        if row is None:
            row = self.session.scalars(
                select(ProjectRow).where(ProjectRow.name == ref).order_by(ProjectRow.created_at)
            ).first()
        if row is None:
            raise NotFoundError(f"project '{ref}' not found", project=ref)
        return Project.model_validate(_row_values(row))

    def list_projects(
        self, *, status: str | None = None, owner_id: str | None = None, limit: int | None = 50, offset: int = 0
    ) -> tuple[list[Project], int]:
        query = select(ProjectRow).order_by(ProjectRow.created_at.desc(), ProjectRow.id)
        if status:
            query = query.where(ProjectRow.status == status)
        if owner_id:
            query = query.where(ProjectRow.owner_id == owner_id)
        rows, total = _page(self.session, query, limit, offset)
        return [Project.model_validate(_row_values(row)) for row in rows], total

    def save_project(self, project: Project) -> Project:
        project.updated_at = utcnow()
        row = self._project_row(project.id)
        for key, value in _to_row_values(project, exclude={"id", "created_at"}).items():
            setattr(row, key, value)
        self.session.flush()
        return project

    def delete_project(self, project_id: str) -> None:
        self.session.delete(self._project_row(project_id))
        self.session.flush()

    # sources ------------------------------------------------------------------
    def add_source(self, source: Source) -> Source:
        self.session.add(SourceRow(**_to_row_values(source)))
        self.session.flush()
        return source

    def _source_row(self, source_id: str) -> SourceRow:
        row = self.session.get(SourceRow, source_id)
        if row is None:
            raise NotFoundError(f"source '{source_id}' not found", source_id=source_id)
        return row

    def get_source(self, source_id: str) -> Source:
        return Source.model_validate(_row_values(self._source_row(source_id)))

    def list_sources(
        self,
        project_id: str | None,
        *,
        kind: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> tuple[list[Source], int]:
        query = select(SourceRow).order_by(SourceRow.created_at, SourceRow.id)
        if project_id:
            query = query.where(SourceRow.project_id == project_id)
        if kind:
            query = query.where(SourceRow.kind == kind)
        if status:
            query = query.where(SourceRow.status == status)
        rows, total = _page(self.session, query, limit, offset)
        return [Source.model_validate(_row_values(row)) for row in rows], total

    def unloaded_sources(self, project_id: str) -> list[Source]:
        """The project's sources not loaded yet (pending or processing), oldest first."""
        rows = self.session.scalars(
            select(SourceRow)
            .where(SourceRow.project_id == project_id,
                   SourceRow.status.in_((SourceStatus.PENDING.value, SourceStatus.PROCESSING.value)))
            .order_by(SourceRow.created_at, SourceRow.id)
        )
        return [Source.model_validate(_row_values(row)) for row in rows]

    def save_source(self, source: Source) -> Source:
        source.updated_at = utcnow()
        row = self._source_row(source.id)
        for key, value in _to_row_values(source, exclude={"id", "created_at"}).items():
            setattr(row, key, value)
        self.session.flush()
        return source

    def delete_source(self, source_id: str) -> None:
        self.session.delete(self._source_row(source_id))
        self.session.flush()

    def project_bytes(self, project_id: str) -> int:
        total = self.session.scalar(
            select(func.coalesce(func.sum(SourceRow.size_bytes), 0)).where(SourceRow.project_id == project_id)
        )
        return int(total or 0)

    def lock_project(self, project_id: str) -> None:
        """Hold the project's row for writing until the transaction ends: check-then-insert steps on one
        project (quota, idempotent uploads) then run one at a time, across threads and processes.

        An UPDATE rather than SELECT ... FOR UPDATE because it locks on both backends: a row lock on
        PostgreSQL, the database's write lock on SQLite (taken before anything is read, so the checks see
        every committed upload).
        """
        result = self.session.execute(
            update(ProjectRow).where(ProjectRow.id == project_id).values(updated_at=utcnow())
        )
        if not cast(Any, result).rowcount:
            raise NotFoundError(f"project '{project_id}' not found", project_id=project_id)

    def source_with_content(self, project_id: str, sha256: str, name: str) -> Source | None:
        """The source of `project_id` holding these bytes under this name (an upload's retry), if any."""
        row = self.session.scalars(
            select(SourceRow)
            .where(SourceRow.project_id == project_id, SourceRow.sha256 == sha256, SourceRow.name == name)
            .order_by(SourceRow.created_at)
        ).first()
        return Source.model_validate(_row_values(row)) if row else None

    # documents ----------------------------------------------------------------
    def save_document(self, source_id: str, document: Document) -> None:
        self.session.merge(DocumentRow(source_id=source_id, body=document.model_dump(mode="json")))
        self.session.flush()

    def get_document(self, source_id: str) -> Document | None:
        row = self.session.get(DocumentRow, source_id)
        return Document.model_validate(row.body) if row else None

    # chunks -------------------------------------------------------------------
    def replace_chunks(self, source_id: str, chunks: Sequence[Chunk]) -> None:
        """Swap a source's chunks in one transaction; examples keep their text via chunk_id SET NULL."""
        self.session.execute(delete(ChunkRow).where(ChunkRow.source_id == source_id))
        if chunks:
            self.session.execute(
                insert(ChunkRow), [_to_row_values(chunk) for chunk in chunks]
            )
        self.session.flush()

    def list_chunks(
        self, project_id: str, *, source_id: str | None = None, limit: int | None = 50, offset: int = 0
    ) -> tuple[list[Chunk], int]:
        query = (
            select(ChunkRow)
            .where(ChunkRow.project_id == project_id)
            .order_by(ChunkRow.created_at, ChunkRow.source_id, ChunkRow.chunk_index)
        )
        if source_id:
            query = query.where(ChunkRow.source_id == source_id)
        rows, total = _page(self.session, query, limit, offset)
        return [Chunk.model_validate(_row_values(row)) for row in rows], total

    def chunks_by_id(self, chunk_ids: Iterable[str]) -> dict[str, Chunk]:
        ids = list(set(chunk_ids))
        found: dict[str, Chunk] = {}
        for start in range(0, len(ids), 500):
            rows = self.session.scalars(select(ChunkRow).where(ChunkRow.id.in_(ids[start : start + 500])))
            found.update({row.id: Chunk.model_validate(_row_values(row)) for row in rows})
        return found

    def count_chunks(self, project_id: str) -> int:
        return int(self.session.scalar(select(func.count()).where(ChunkRow.project_id == project_id)) or 0)

    def project_counts(self, project_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Each project's sources, chunks and examples, and its latest job's status: one query for a page."""
        ids = list(project_ids)
        if not ids:
            return {}

        def count(row: Any) -> Any:
            return select(func.count()).select_from(row).where(row.project_id == ProjectRow.id).scalar_subquery()

        latest_status = (select(JobRow.status).where(JobRow.project_id == ProjectRow.id)
                         .order_by(JobRow.created_at.desc(), JobRow.id).limit(1).scalar_subquery())
        rows = self.session.execute(select(ProjectRow.id, count(SourceRow), count(ChunkRow), count(ExampleRow),
                                           latest_status).where(ProjectRow.id.in_(ids)))
        counts = {project_id: {"file_count": int(files), "chunk_count": int(chunks), "example_count": int(examples),
                               "last_job_status": status}
                  for project_id, files, chunks, examples, status in rows}
        empty = {"file_count": 0, "chunk_count": 0, "example_count": 0, "last_job_status": None}
        return {project_id: counts.get(project_id, dict(empty)) for project_id in ids}

    # examples -----------------------------------------------------------------
    def add_examples(self, examples: Sequence[Example]) -> int:
        """Store examples exactly once per (request_key, position); returns how many were new."""
        return _insert_ignoring_conflicts(self.session, ExampleRow, [_column_values(e) for e in examples])

    def request_keys(self, project_id: str, prefix: str) -> set[str]:
        rows = self.session.scalars(
            select(ExampleRow.request_key)
            .where(ExampleRow.project_id == project_id, ExampleRow.request_key.startswith(prefix))
            .distinct()
        )
        return {key for key in rows if key}

    def delete_failed_requests(self, project_id: str, prefix: str) -> int:
        """Drop the placeholders (position -1) of failed generation requests so they run again."""
        result = self.session.execute(
            delete(ExampleRow).where(
                ExampleRow.project_id == project_id,
                ExampleRow.request_key.startswith(prefix),
                ExampleRow.position < 0,
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def count_requested_examples(self, project_id: str, prefix: str) -> int:
        query = select(func.count()).where(
            ExampleRow.project_id == project_id, ExampleRow.request_key.startswith(prefix), ExampleRow.position >= 0
        )
        return int(self.session.scalar(query) or 0)

    def _examples_query(
        self, project_id: str, *, split: str | None, is_valid: bool | None, source_id: str | None = None
    ) -> Select[Any]:
        query = select(ExampleRow).where(ExampleRow.project_id == project_id)
        if split:
            query = query.where(ExampleRow.split == split)
        if is_valid is not None:
            query = query.where(ExampleRow.is_valid.is_(is_valid))
        if source_id:
            query = query.where(ExampleRow.source_id == source_id)
        return query.order_by(ExampleRow.created_at, ExampleRow.request_key, ExampleRow.position, ExampleRow.id)

    def list_examples(
        self,
        project_id: str,
        *,
        split: str | None = None,
        is_valid: bool | None = None,
        limit: int | None = 50,
        offset: int = 0,
        exclude_split: str | None = None,
    ) -> tuple[list[Example], int]:
        query = self._examples_query(project_id, split=split, is_valid=is_valid)
        if exclude_split:
            query = query.where(ExampleRow.split != exclude_split)
        rows, total = _page(self.session, query, limit, offset)
        return [Example.model_validate(_row_values(row)) for row in rows], total

    def example_page(self, project_id: str, *, split: str | None = None, is_valid: bool | None = None,
                     limit: int = 50, offset: int = 0) -> list[Example]:
        """One page of `list_examples` without its count (the caller has it from `example_groups`)."""
        query = self._examples_query(project_id, split=split, is_valid=is_valid).limit(limit).offset(offset)
        return [Example.model_validate(_row_values(row)) for row in self.session.scalars(query)]

    def iter_examples(
        self,
        project_id: str,
        *,
        split: str | None = None,
        is_valid: bool | None = None,
        exclude_split: str | None = None,
        batch_size: int = 1000,
    ) -> Iterator[Example]:
        """Stream examples in a stable order with constant memory (server-side batches)."""
        query = self._examples_query(project_id, split=split, is_valid=is_valid)
        if exclude_split:
            query = query.where(ExampleRow.split != exclude_split)
        result = self.session.execute(query.execution_options(yield_per=batch_size))
        for row in result.scalars():
            yield Example.model_validate(_row_values(row))

    def update_examples(self, changes: Mapping[str, dict[str, Any]]) -> None:
        """Apply per-example column changes ({id: {column: value}}) in bulk."""
        if changes:
            self.session.execute(update(ExampleRow), [{"id": key, **values} for key, values in changes.items()])
            self.session.flush()

    def get_example(self, project_id: str, example_id: str) -> Example:
        row = self.session.get(ExampleRow, example_id)
        if row is None or row.project_id != project_id:
            raise NotFoundError(f"example '{example_id}' not found", example_id=example_id)
        return Example.model_validate(_row_values(row))

    def delete_example(self, project_id: str, example_id: str) -> None:
        self.get_example(project_id, example_id)
        self.session.execute(delete(ExampleRow).where(ExampleRow.id == example_id))

    def delete_examples(self, project_id: str, *, split: str | None = None, source_id: str | None = None) -> int:
        stmt = delete(ExampleRow).where(ExampleRow.project_id == project_id)
        if split:
            stmt = stmt.where(ExampleRow.split == split)
        if source_id:
            stmt = stmt.where(ExampleRow.source_id == source_id)
        result = self.session.execute(stmt)
        return int(getattr(result, "rowcount", 0) or 0)

    def example_totals(self, project_id: str, *, exclude_split: str | None = None) -> tuple[int, int, int]:
        """How many examples the project holds, how many are valid, and their summed token count."""
        query = select(func.count(), func.coalesce(func.sum(ExampleRow.token_count), 0),
                       func.coalesce(func.sum(case((ExampleRow.is_valid.is_(True), 1), else_=0)), 0)
                       ).where(ExampleRow.project_id == project_id)
        if exclude_split:
            query = query.where(ExampleRow.split != exclude_split)
        count, tokens, valid = self.session.execute(query).one()
        return int(count or 0), int(valid or 0), int(tokens or 0)

    def example_groups(self, project_id: str, *, split: str | None = None,
                       exclude_split: str | None = None) -> list[SplitGroup]:
        """Count and token figures of the project's examples per (split, is_valid), computed by the database."""
        tokens = ExampleRow.token_count
        query = (select(ExampleRow.split, ExampleRow.is_valid, func.count(), func.coalesce(func.sum(tokens), 0),
                        func.coalesce(func.min(tokens), 0), func.coalesce(func.max(tokens), 0))
                 .where(*self._split_filter(project_id, split, exclude_split))
                 .group_by(ExampleRow.split, ExampleRow.is_valid))
        return [SplitGroup(split, bool(valid), int(count), int(tokens), int(low), int(high))
                for split, valid, count, tokens, low, high in self.session.execute(query)]

    def example_error_lists(self, project_id: str, splits: Iterable[str]) -> Iterator[list[str]]:
        """The validation error codes of each invalid example of these splits (its codes are what make it invalid)."""
        wanted = sorted(set(splits))
        if not wanted:
            return
        query = (select(ExampleRow.validation_errors)
                 .where(ExampleRow.project_id == project_id, ExampleRow.split.in_(wanted),
                        ExampleRow.is_valid.is_(False)))
        yield from self.session.scalars(query.execution_options(yield_per=1000))

    @staticmethod
    def _split_filter(project_id: str, split: str | None, exclude_split: str | None) -> list[Any]:
        conditions: list[Any] = [ExampleRow.project_id == project_id]
        if split:
            conditions.append(ExampleRow.split == split)
        if exclude_split:
            conditions.append(ExampleRow.split != exclude_split)
        return conditions

    def count_examples(self, project_id: str, *, is_valid: bool | None = None) -> int:
        query = select(func.count()).where(ExampleRow.project_id == project_id)
        if is_valid is not None:
            query = query.where(ExampleRow.is_valid.is_(is_valid))
        return int(self.session.scalar(query) or 0)

    # jobs ---------------------------------------------------------------------
    def add_job(self, job: Job) -> Job:
        self.session.add(JobRow(**_to_row_values(job)))
        self.session.flush()
        return job

    def _job_row(self, job_id: str) -> JobRow:
        row = self.session.get(JobRow, job_id)
        if row is None:
            raise NotFoundError(f"job '{job_id}' not found", job_id=job_id)
        return row

    def get_job(self, job_id: str) -> Job:
        row = self._job_row(job_id)
        self.session.refresh(row)
        return Job.model_validate(_row_values(row))

    def cancel_requested(self, job_id: str) -> bool:
        """The job's cancel flag alone: the cheap read a running job makes at every step."""
        flag = self.session.scalar(select(JobRow.cancel_requested).where(JobRow.id == job_id))
        if flag is None:
            raise NotFoundError(f"job '{job_id}' not found", job_id=job_id)
        return bool(flag)

    def update_job(self, job_id: str, **values: Any) -> None:
        result = self.session.execute(update(JobRow).where(JobRow.id == job_id).values(**values))
        if not getattr(result, "rowcount", 1):
            raise NotFoundError(f"job '{job_id}' not found", job_id=job_id)

    def claim_job(self, job_id: str, *, stale_before: datetime) -> bool:
        """Atomically move a queued (or abandoned running) job to running; False if another took it."""
        now = utcnow()
        result = self.session.execute(
            update(JobRow)
            .where(
                JobRow.id == job_id,
                (JobRow.status == JobStatus.QUEUED.value)
                | ((JobRow.status == JobStatus.RUNNING.value) & (JobRow.heartbeat_at < stale_before)),
            )
            .values(
                status=JobStatus.RUNNING.value,
                started_at=func.coalesce(JobRow.started_at, now),
                heartbeat_at=now,
                attempts=JobRow.attempts + 1,
            )
        )
        return bool(getattr(result, "rowcount", 0))

    def list_jobs(
        self,
        *,
        project_id: str | None = None,
        type: str | None = None,
        status: str | None = None,
        limit: int | None = 50,
        offset: int = 0,
    ) -> tuple[list[Job], int]:
        query = select(JobRow).order_by(JobRow.created_at.desc(), JobRow.id)
        if project_id:
            query = query.where(JobRow.project_id == project_id)
        if type:
            query = query.where(JobRow.type == type)
        if status:
            query = query.where(JobRow.status == status)
        rows, total = _page(self.session, query, limit, offset)
        return [Job.model_validate(_row_values(row)) for row in rows], total

    def unfinished_jobs(self, project_id: str) -> list[Job]:
        """The project's queued and running jobs, oldest first."""
        rows = self.session.scalars(
            select(JobRow)
            .where(JobRow.project_id == project_id,
                   JobRow.status.in_((JobStatus.QUEUED.value, JobStatus.RUNNING.value)))
            .order_by(JobRow.created_at, JobRow.id)
        )
        return [Job.model_validate(_row_values(row)) for row in rows]

    def add_event(self, job_id: str, type: str, data: dict[str, Any]) -> JobEvent:
        seq = (self.session.scalar(select(func.max(JobEventRow.seq)).where(JobEventRow.job_id == job_id)) or 0) + 1
        event = JobEvent(seq=seq, job_id=job_id, type=type, data=data)
        self.session.add(JobEventRow(**_to_row_values(event)))
        self.session.flush()
        return event

    def job_progress(self, job_ids: Sequence[str]) -> dict[str, tuple[int, str]]:
        """Each existing job's last event seq (0 without events) and status, in one query."""
        last_seq = (select(func.coalesce(func.max(JobEventRow.seq), 0)).where(JobEventRow.job_id == JobRow.id)
                    .scalar_subquery())
        rows = self.session.execute(select(JobRow.id, last_seq, JobRow.status).where(JobRow.id.in_(list(job_ids))))
        return {job_id: (int(seq), status) for job_id, seq, status in rows}

    def events(self, job_id: str, *, after_seq: int = 0, limit: int = 1000) -> list[JobEvent]:
        rows = self.session.scalars(
            select(JobEventRow)
            .where(JobEventRow.job_id == job_id, JobEventRow.seq > after_seq)
            .order_by(JobEventRow.seq)
            .limit(limit)
        )
        return [JobEvent.model_validate(_row_values(row)) for row in rows]

    # fine-tunes ------------------------------------------------------------------
    def add_fine_tune(self, fine_tune: FineTune) -> FineTune:
        self.session.add(FineTuneRow(**_to_row_values(fine_tune)))
        self.session.flush()
        return fine_tune

    def _fine_tune_row(self, fine_tune_id: str) -> FineTuneRow:
        row = self.session.get(FineTuneRow, fine_tune_id)
        if row is None:
            raise NotFoundError(f"fine-tuning '{fine_tune_id}' not found", fine_tune_id=fine_tune_id)
        return row

    def get_fine_tune(self, fine_tune_id: str) -> FineTune:
        row = self._fine_tune_row(fine_tune_id)
        self.session.refresh(row)
        return FineTune.model_validate(_row_values(row))

    def save_fine_tune(self, fine_tune: FineTune) -> FineTune:
        fine_tune.updated_at = utcnow()
        row = self._fine_tune_row(fine_tune.id)
        for key, value in _to_row_values(fine_tune, exclude={"id", "created_at"}).items():
            setattr(row, key, value)
        self.session.flush()
        return fine_tune

    def update_fine_tune(self, fine_tune_id: str, **values: Any) -> None:
        result = self.session.execute(
            update(FineTuneRow).where(FineTuneRow.id == fine_tune_id).values(**values, updated_at=utcnow())
        )
        if not getattr(result, "rowcount", 1):
            raise NotFoundError(f"fine-tuning '{fine_tune_id}' not found", fine_tune_id=fine_tune_id)

    def delete_fine_tune(self, fine_tune_id: str) -> None:
        self.session.delete(self._fine_tune_row(fine_tune_id))
        self.session.flush()

    def list_fine_tunes(
        self,
        *,
        project_id: str | None = None,
        owner_id: str | None = None,
        statuses: Sequence[str] | None = None,
        limit: int | None = 50,
        offset: int = 0,
    ) -> tuple[list[FineTune], int]:
        query = select(FineTuneRow).order_by(FineTuneRow.created_at.desc(), FineTuneRow.id)
        if project_id:
            query = query.where(FineTuneRow.project_id == project_id)
        if owner_id:
            query = query.where(FineTuneRow.owner_id == owner_id)
        if statuses:
            query = query.where(FineTuneRow.status.in_(list(statuses)))
        rows, total = _page(self.session, query, limit, offset)
        return [FineTune.model_validate(_row_values(row)) for row in rows], total

    # trained models ----------------------------------------------------------------
    def add_model(self, model: TrainedModel) -> TrainedModel:
        """Insert `model`; for a fine-tune that already registered one, return that one instead."""
        if model.fine_tune_id is not None:
            existing = self.session.scalars(
                select(TrainedModelRow).where(TrainedModelRow.fine_tune_id == model.fine_tune_id)
            ).first()
            if existing is not None:
                return TrainedModel.model_validate(_row_values(existing))
        self.session.add(TrainedModelRow(**_to_row_values(model)))
        self.session.flush()
        return model

    def get_model(self, model_id: str) -> TrainedModel:
        row = self.session.get(TrainedModelRow, model_id)
        if row is None:
            raise NotFoundError(f"model '{model_id}' not found", model_id=model_id)
        return TrainedModel.model_validate(_row_values(row))

    def list_models(self, *, owner_id: str | None = None, project_id: str | None = None, limit: int | None = 50,
                    offset: int = 0) -> tuple[list[TrainedModel], int]:
        query = select(TrainedModelRow).order_by(TrainedModelRow.created_at.desc(), TrainedModelRow.id)
        if owner_id:
            query = query.where(TrainedModelRow.owner_id == owner_id)
        if project_id:
            query = query.where(TrainedModelRow.project_id == project_id)
        rows, total = _page(self.session, query, limit, offset)
        return [TrainedModel.model_validate(_row_values(row)) for row in rows], total

    # usage ---------------------------------------------------------------------------
    def owner_counts(self, owner_id: str | None, *, dataset_key: str, exclude_split: str) -> tuple[int, int, int]:
        """`owner_id`'s projects, datasets and fine-tunes (None: every row), counted in one statement.

        A project holds a dataset when `config[dataset_key]` is set or it has an example outside
        `exclude_split` (services/datasets.py); the counts read the owner indexes and the examples' index.
        """
        has_examples = exists().where(ExampleRow.project_id == ProjectRow.id, ExampleRow.split != exclude_split)
        # ->> (PostgreSQL) and json_extract (SQLite) read a JSON null and a missing key alike as SQL NULL
        is_dataset = or_(ProjectRow.config[dataset_key].as_string().is_not(None), has_examples)
        own_projects = [ProjectRow.owner_id == owner_id] if owner_id else []
        own_fine_tunes = [FineTuneRow.owner_id == owner_id] if owner_id else []
        projects, datasets, fine_tunes = self.session.execute(select(
            select(func.count()).select_from(ProjectRow).where(*own_projects).scalar_subquery(),
            select(func.count()).select_from(ProjectRow).where(*own_projects, is_dataset).scalar_subquery(),
            select(func.count()).select_from(FineTuneRow).where(*own_fine_tunes).scalar_subquery(),
        )).one()
        return int(projects), int(datasets), int(fine_tunes)

    # provider keys -------------------------------------------------------------------
    def _key_row(self, owner_id: str, provider: str) -> ProviderKeyRow | None:
        return self.session.scalars(
            select(ProviderKeyRow).where(ProviderKeyRow.owner_id == owner_id, ProviderKeyRow.provider == provider)
        ).first()

    def put_provider_key(self, owner_id: str, provider: str, encrypted_key: str,
                         masked: str) -> tuple[ProviderKey, bool]:
        """Insert or replace the key of (owner, provider); True when it was created."""
        row = self._key_row(owner_id, provider)
        created = row is None
        if row is None:
            key = ProviderKey(owner_id=owner_id, provider=provider, masked=masked)
            row = ProviderKeyRow(**_to_row_values(key), encrypted_key=encrypted_key)
            self.session.add(row)
        else:
            row.encrypted_key, row.masked, row.updated_at = encrypted_key, masked, utcnow()
        self.session.flush()
        return self._provider_key(row), created

    def encrypted_provider_key(self, owner_id: str, provider: str) -> str | None:
        row = self._key_row(owner_id, provider)
        return row.encrypted_key if row else None

    def list_provider_keys(self, owner_id: str) -> list[ProviderKey]:
        rows = self.session.scalars(
            select(ProviderKeyRow).where(ProviderKeyRow.owner_id == owner_id).order_by(ProviderKeyRow.provider)
        )
        return [self._provider_key(row) for row in rows]

    def delete_provider_key(self, owner_id: str, provider: str) -> bool:
        row = self._key_row(owner_id, provider)
        if row is None:
            return False
        self.session.delete(row)
        self.session.flush()
        return True

    @staticmethod
    def _provider_key(row: ProviderKeyRow) -> ProviderKey:
        values = _row_values(row)
        values.pop("encrypted_key")
        return ProviderKey.model_validate(values)

    # users ---------------------------------------------------------------------------
    def add_user(self, user: User, password_hash: str) -> User:
        """Insert `user`; ConflictError when its email or trigramme is taken (a concurrent sign-up included)."""
        self.session.add(UserRow(**_to_row_values(user), password_hash=password_hash))
        try:
            self.session.flush()
        except IntegrityError:
            raise ConflictError("this email or trigramme is already registered", error_code="USER_EXISTS") from None
        return user

    def _user_row(self, user_id: str) -> UserRow:
        row = self.session.get(UserRow, user_id)
        if row is None:
            raise NotFoundError(f"user '{user_id}' not found", user_id=user_id)
        return row

    @staticmethod
    def _user(row: UserRow) -> User:
        values = _row_values(row)
        values.pop("password_hash")
        return User.model_validate(values)

    def get_user(self, user_id: str) -> User:
        return self._user(self._user_row(user_id))

    def user_by(self, *, email: str | None = None, trigramme: str | None = None) -> User | None:
        """The user with this (normalised) email or trigramme, if any."""
        condition = UserRow.email == email if email is not None else UserRow.trigramme == trigramme
        row = self.session.scalars(select(UserRow).where(condition)).first()
        return self._user(row) if row else None

    def password_hash(self, user_id: str) -> str:
        return self._user_row(user_id).password_hash

    def save_user(self, user: User, *, password_hash: str | None = None) -> User:
        user.updated_at = utcnow()
        row = self._user_row(user.id)
        for key, value in _to_row_values(user, exclude={"id", "created_at"}).items():
            setattr(row, key, value)
        if password_hash is not None:
            row.password_hash = password_hash
        try:
            self.session.flush()
        except IntegrityError:
            raise ConflictError("this trigramme is already taken", error_code="TRIGRAMME_TAKEN") from None
        return user

    # sign-in sessions --------------------------------------------------------------------
    def add_session(self, auth_session: AuthSession, refresh_jti: str) -> AuthSession:
        self.session.add(AuthSessionRow(**_to_row_values(auth_session), refresh_jti=refresh_jti))
        self.session.flush()
        return auth_session

    def session_and_user(self, session_id: str) -> tuple[AuthSession, User] | None:
        """A session and its user in one query (every authenticated request asks), or None."""
        found = self.session.execute(select(AuthSessionRow, UserRow).join(UserRow, UserRow.id == AuthSessionRow.user_id)
                                     .where(AuthSessionRow.id == session_id)).first()
        if found is None:
            return None
        values = _row_values(found[0])
        values.pop("refresh_jti")
        return AuthSession.model_validate(values), self._user(found[1])

    def get_session(self, session_id: str) -> AuthSession:
        row = self.session.get(AuthSessionRow, session_id)
        if row is None:
            raise NotFoundError(f"session '{session_id}' not found", session_id=session_id)
        self.session.refresh(row)
        values = _row_values(row)
        values.pop("refresh_jti")
        return AuthSession.model_validate(values)

    def rotate_refresh(self, session_id: str, presented_jti: str, new_jti: str, *, expires_at: datetime) -> bool:
        """Swap the session's refresh token id, only if `presented_jti` is the current one of a live session.

        One UPDATE, so two refreshes racing with the same token cannot both win.
        """
        now = utcnow()
        result = self.session.execute(
            update(AuthSessionRow)
            .where(
                AuthSessionRow.id == session_id,
                AuthSessionRow.refresh_jti == presented_jti,
                AuthSessionRow.revoked_at.is_(None),
                AuthSessionRow.expires_at > now,
            )
            .values(refresh_jti=new_jti, expires_at=expires_at, last_used_at=now)
        )
        return bool(getattr(result, "rowcount", 0))

    def revoke_session(self, session_id: str, reason: str) -> None:
        """Mark the session revoked (kept for audit); a session already revoked keeps its first reason."""
        self.session.execute(
            update(AuthSessionRow)
            .where(AuthSessionRow.id == session_id, AuthSessionRow.revoked_at.is_(None))
            .values(revoked_at=utcnow(), revoked_reason=reason)
        )
