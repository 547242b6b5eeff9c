"""Jobs and their events: the record of every pipeline step, training and export that runs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update

from finetune_core.domain import Job, JobEvent, JobStatus, utcnow
from finetune_core.errors import NotFoundError
from finetune_core.storage.repositories.base import AggregateRepository
from finetune_core.storage.rows import affected, row_values, to_row_values
from finetune_core.storage.tables import JobEventRow, JobRow


class JobRepository(AggregateRepository[Job, JobRow]):
    model, row_type, label, id_name, fresh_reads = Job, JobRow, "job", "job_id", True

    def cancel_requested(self, job_id: str) -> bool:
        """The job's cancel flag alone: the cheap read a running job makes at every step."""
        flag = self.session.scalar(select(JobRow.cancel_requested).where(JobRow.id == job_id))
        if flag is None:
            raise NotFoundError(f"job '{job_id}' not found", job_id=job_id)
        return bool(flag)

    def update(self, job_id: str, **values: Any) -> None:
        if not affected(self.session.execute(update(JobRow).where(JobRow.id == job_id).values(**values))):
            raise NotFoundError(f"job '{job_id}' not found", job_id=job_id)

    def claim(self, job_id: str, *, stale_before: datetime) -> bool:
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
        return bool(affected(result))

    def search(
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
        return self._page(query, limit, offset)

    def unfinished(self, project_id: str) -> list[Job]:
        """The project's queued and running jobs, oldest first."""
        rows = self.session.scalars(
            select(JobRow)
            .where(JobRow.project_id == project_id,
                   JobRow.status.in_((JobStatus.QUEUED.value, JobStatus.RUNNING.value)))
            .order_by(JobRow.created_at, JobRow.id)
        )
        return [self._model(row) for row in rows]

    def add_event(self, job_id: str, type: str, data: dict[str, Any]) -> JobEvent:
        seq = (self.session.scalar(select(func.max(JobEventRow.seq)).where(JobEventRow.job_id == job_id)) or 0) + 1
        event = JobEvent(seq=seq, job_id=job_id, type=type, data=data)
        self.session.add(JobEventRow(**to_row_values(event)))
        self.session.flush()
        return event

    def progress(self, job_ids: Sequence[str]) -> dict[str, tuple[int, str]]:
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
        return [JobEvent.model_validate(row_values(row)) for row in rows]

    def count_in(self, statuses: Sequence[str]) -> int:
        """How many jobs have one of `statuses`."""
        return int(self.session.scalar(select(func.count()).select_from(JobRow)
                                       .where(JobRow.status.in_(list(statuses)))) or 0)

    def delete_events_of_finished(self, before: datetime) -> int:
        """Delete the events of the jobs that finished before `before` (one that ended without a finish time: made
        before it), all written before it too; how many went. Jobs still queued or running keep all theirs."""
        finished = [status.value for status in JobStatus if status.finished]
        old_jobs = select(JobRow.id).where(JobRow.status.in_(finished),
                                           func.coalesce(JobRow.finished_at, JobRow.created_at) < before)
        result = self.session.execute(
            delete(JobEventRow)
            .where(JobEventRow.job_id.in_(old_jobs), JobEventRow.created_at < before)
            .execution_options(synchronize_session=False)
        )
        return affected(result)
