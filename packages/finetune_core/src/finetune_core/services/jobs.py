"""Use cases on jobs: enqueue, look up, list, cancel, wait."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from finetune_core.domain import Job, JobEvent, JobStatus, utcnow
from finetune_core.errors import InvalidInputError, JobAlreadyFinishedError
from finetune_core.jobs.handlers import handler_for
from finetune_core.services import billing, pipeline_order

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort


SECRET_PARAMS = frozenset({"api_key", "password", "secret", "secret_key"})


def _secret_path(value: Any, path: str = "") -> str | None:
    """Where a parameter that looks like a secret sits in `value`, if anywhere."""
    if isinstance(value, dict):
        for key, item in value.items():
            if str(key).lower() in SECRET_PARAMS and item:
                return f"{path}{key}"
            found = _secret_path(item, f"{path}{key}.")
            if found:
                return found
    return None


def new_job(type: str, *, project_id: str | None, queue: str = "default", **params: Any) -> Job:
    """A queued job, not stored yet (for callers that store it with other rows in one transaction)."""
    handler_for(type)  # refuse an unknown type before anything is stored
    secret = _secret_path(params)
    if secret is not None:  # job parameters are stored and shown: a key there would leak
        raise InvalidInputError(f"'{secret}' cannot be a job parameter: store API keys with `finetune keys set` "
                                f"(WorkspacePort.set_key) or set the provider's environment variable", parameter=secret)
    if project_id is not None:
        params = {"project_id": project_id, **params}
    return Job(type=type, project_id=project_id, queue=queue, params=params)


def submit(workspace: WorkspacePort, job: Job) -> Job:
    """Hand a stored job to the workspace's runner."""
    workspace.runner.submit(workspace, job)
    return get_job(workspace, job.id)


def enqueue(workspace: WorkspacePort, type: str, *, project_id: str | None, queue: str = "default",
            **params: Any) -> Job:
    """Store a queued job and hand it to the workspace's runner; its handler gets `project_id` too.

    PipelineBusyError (409) when an earlier step of the project is unfinished (services/pipeline_order.py).
    """
    job = new_job(type, project_id=project_id, queue=queue, **params)
    with workspace.unit_of_work() as uow:
        pipeline_order.ensure_job_ready(uow, job)
        billing.enforce_job(workspace, uow, job)
        uow.jobs.add(job)
    return submit(workspace, job)


def get_job(workspace: WorkspacePort, job_id: str) -> Job:
    with workspace.unit_of_work() as uow:
        return uow.jobs.get(job_id)


def list_jobs(
    workspace: WorkspacePort,
    *,
    project_id: str | None = None,
    type: str | None = None,
    status: str | None = None,
    limit: int | None = 50,
    offset: int = 0,
) -> tuple[list[Job], int]:
    with workspace.unit_of_work() as uow:
        return uow.jobs.search(project_id=project_id, type=type, status=status, limit=limit, offset=offset)


def cancel_job(workspace: WorkspacePort, job_id: str) -> Job:
    """Set the cancel flag; a queued job ends at once, a running one at its next check.

    An abandoned pipeline step (running, its heartbeat stale: no worker left to see the flag) ends at once too,
    or it would hold up the later steps of its project for good; it holds nothing outside the database, unlike
    a fine-tuning whose revived job must still cancel its remote run.
    """
    stale_before = utcnow() - timedelta(seconds=workspace.settings.job_stale_after_s)
    with workspace.unit_of_work() as uow:
        job = uow.jobs.get(job_id)
        if job.status.finished:
            raise JobAlreadyFinishedError(
                f"job '{job_id}' already ended with status '{job.status.value}'", job_id=job_id
            )
        values: dict[str, Any] = {"cancel_requested": True}
        abandoned = (job.type in pipeline_order.STEPS and job.heartbeat_at is not None
                     and job.heartbeat_at < stale_before)
        if job.status is JobStatus.QUEUED or abandoned:
            values.update(status=JobStatus.CANCELLED.value, finished_at=utcnow())
        uow.jobs.update(job_id, **values)
        uow.jobs.add_event(job_id, "log", {"message": "cancel requested"})
        return uow.jobs.get(job_id)


def events(workspace: WorkspacePort, job_id: str, *, after_seq: int = 0) -> list[JobEvent]:
    with workspace.unit_of_work() as uow:
        uow.jobs.get(job_id)
        return uow.jobs.events(job_id, after_seq=after_seq)


class JobProgress(NamedTuple):
    """Where a job stands, for whoever follows many jobs at once: its last event and whether it has ended."""

    last_seq: int
    finished: bool


PROGRESS_BATCH = 500  # job ids per query: well under every database's limit of bound parameters


def progress(workspace: WorkspacePort, job_ids: Iterable[str]) -> dict[str, JobProgress]:
    """The progress of each job that exists among `job_ids` (a deleted one is absent), in one query per 500."""
    ids = sorted(set(job_ids))
    found: dict[str, JobProgress] = {}
    with workspace.unit_of_work() as uow:
        for start in range(0, len(ids), PROGRESS_BATCH):
            for job_id, (last_seq, status) in uow.jobs.progress(ids[start:start + PROGRESS_BATCH]).items():
                found[job_id] = JobProgress(last_seq, JobStatus(status).finished)
    return found


def wait_for(workspace: WorkspacePort, job_id: str, *, timeout_s: float = 3600.0, poll_s: float = 0.2) -> Job:
    """Poll the database until the job has finished (works whichever process runs it)."""
    deadline = time.monotonic() + timeout_s
    while True:
        job = get_job(workspace, job_id)
        if job.status.finished:
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"job '{job_id}' still {job.status.value} after {timeout_s:.0f}s")
        time.sleep(poll_s)
