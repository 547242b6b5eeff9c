"""Run one job by id: claim it, call its handler, record the outcome. Safe to call from any process."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from finetune_core.domain import JobStatus, utcnow
from finetune_core.errors import FinetuneError, JobCancelledError, NothingProducedError
from finetune_core.jobs.context import JobContext
from finetune_core.jobs.handlers import job_type_for

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort

log = logging.getLogger(__name__)
MAX_ERROR_CHARS = 500  # the full traceback goes to the log; the job keeps a readable line


def execute_job(workspace: WorkspacePort, job_id: str) -> JobStatus:
    """Run the job unless another worker holds it; returns its final status."""
    stale_before = utcnow() - timedelta(seconds=workspace.settings.job_stale_after_s)
    with workspace.unit_of_work() as uow:
        job = uow.jobs.get(job_id)
        if job.status.finished:
            return job.status
        if job.cancel_requested:
            uow.jobs.update(job_id, status=JobStatus.CANCELLED.value, finished_at=utcnow())
            return JobStatus.CANCELLED
        if not uow.jobs.claim(job_id, stale_before=stale_before):
            return uow.jobs.get(job_id).status
        uow.jobs.add_event(job_id, "log", {"message": f"{job.type} started", "attempt": job.attempts + 1})

    context = JobContext(workspace, job_id)
    status = JobStatus.SUCCESS
    summary: dict[str, object] = {}
    error: str | None = None
    try:
        job_type = job_type_for(job.type, workspace.plugins.job_types)
        if job_type.check is not None:
            job_type.check(workspace, job)  # the pipeline order: an earlier step may have started since it was queued
        summary = job_type.handler(context, **job.params)
    except JobCancelledError:
        status = JobStatus.CANCELLED
    except NothingProducedError as exc:  # it ran, made nothing: failed, with the counts that say so
        status, error, summary = JobStatus.FAILED, exc.message, exc.summary
    except FinetuneError as exc:
        status, error = JobStatus.FAILED, exc.message
    except Exception as exc:  # a job must end recorded, whatever the bug
        log.exception("job %s (%s) crashed", job_id, job.type)
        status, error = JobStatus.FAILED, f"{type(exc).__name__}: {str(exc)[:MAX_ERROR_CHARS]}"
    context.flush()  # its last events come before the outcome's
    _record_outcome(workspace, job_id, status, summary, error)
    return status


def _record_outcome(workspace: WorkspacePort, job_id: str, status: JobStatus, summary: dict[str, object],
                    error: str | None) -> None:
    """The job's final row and last event; a summary's `message` (a partial result says so) goes in the event."""
    with workspace.unit_of_work() as uow:
        values: dict[str, object] = {"status": status.value, "finished_at": utcnow(), "error_message": error}
        if status is JobStatus.SUCCESS:
            values.update(progress_pct=100.0, result_summary=summary)
        elif summary:
            values.update(result_summary=summary)
        uow.jobs.update(job_id, **values)
        if status is JobStatus.SUCCESS:
            message = summary.get("message")
            uow.jobs.add_event(job_id, "complete", {"result_summary": summary,
                                                **({"message": message} if isinstance(message, str) else {})})
        elif status is JobStatus.FAILED:
            uow.jobs.add_event(job_id, "error", {"message": error, **({"result_summary": summary} if summary else {})})
        else:
            uow.jobs.add_event(job_id, "log", {"message": "cancelled"})
