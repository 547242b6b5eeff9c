"""Projects: the aggregate every source, chunk, example, job and fine-tune belongs to."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select, update

from finetune_core.domain import Project, utcnow
from finetune_core.errors import NotFoundError
from finetune_core.storage.repositories.base import AggregateRepository
from finetune_core.storage.rows import affected, row_values
from finetune_core.storage.tables import ChunkRow, ExampleRow, JobRow, ProjectRow, SourceRow


class ProjectRepository(AggregateRepository[Project, ProjectRow]):
    model, row_type, label, id_name = Project, ProjectRow, "project", "project_id"

    def find(self, ref: str) -> Project:
        """A project by id, or by name when no id matches (the CLI's `--project NAME`)."""
        row = self.session.get(ProjectRow, ref)
        if row is None:
            row = self.session.scalars(
                select(ProjectRow).where(ProjectRow.name == ref).order_by(ProjectRow.created_at)
            ).first()
        if row is None:
            raise NotFoundError(f"project '{ref}' not found", project=ref)
        return Project.model_validate(row_values(row))

    def search(
        self, *, status: str | None = None, owner_id: str | None = None, limit: int | None = 50, offset: int = 0
    ) -> tuple[list[Project], int]:
        query = select(ProjectRow).order_by(ProjectRow.created_at.desc(), ProjectRow.id)
        if status:
            query = query.where(ProjectRow.status == status)
        if owner_id:
            query = query.where(ProjectRow.owner_id == owner_id)
        return self._page(query, limit, offset)

    def lock(self, project_id: str) -> None:
        """Hold the project's row for writing until the transaction ends: check-then-insert steps on one
        project (quota, idempotent uploads) then run one at a time, across threads and processes.

        An UPDATE rather than SELECT ... FOR UPDATE because it locks on both backends: a row lock on
        PostgreSQL, the database's write lock on SQLite (taken before anything is read, so the checks see
        every committed upload).
        """
        result = self.session.execute(
            update(ProjectRow).where(ProjectRow.id == project_id).values(updated_at=utcnow())
        )
        if not affected(result):
            raise NotFoundError(f"project '{project_id}' not found", project_id=project_id)

    def counts(self, project_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
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

    def delete_of(self, owner_id: str) -> None:
        """Delete the owner's projects; their sources, chunks, examples, jobs and fine-tunes go by cascade."""
        self.session.execute(delete(ProjectRow).where(ProjectRow.owner_id == owner_id))
