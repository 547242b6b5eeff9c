"""Cancel: the core's flag first (the job stops itself, cleanly), rq's stop command for a job that does not."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from finetune_core.domain import Job, JobStatus, utcnow
from finetune_core.services import jobs as jobs_service
from redis import Redis
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import JobStatus as RqStatus
from rq.serializers import JSONSerializer

from finetune_worker.rq_jobs import WAITING, rq_job, rq_status

if TYPE_CHECKING:
    from finetune_core.workspace import Workspace

ENDED = frozenset({RqStatus.STOPPED, RqStatus.FAILED, RqStatus.FINISHED, RqStatus.CANCELED})
POLL_S = 0.1


def stop_running(connection: Redis, job_id: str) -> bool:
    """Send rq's stop command to the worker running `job_id` (it kills the work horse); False when none runs it."""
    if rq_status(connection, job_id) is not RqStatus.STARTED:
        return False
    try:
        send_stop_job_command(connection, job_id, serializer=JSONSerializer)
    except (NoSuchJobError, InvalidJobOperation):  # it ended in between
        return False
    return True


def cancel_job(workspace: Workspace, connection: Redis, job_id: str, *, grace_s: float = 5.0,
               stop_wait_s: float = 10.0) -> Job:
    """Cancel a job wherever it runs; raises JobAlreadyFinishedError for a finished one.

    A queued job ends at once (and leaves its queue). A running one gets `grace_s` to notice the flag; after that
    its work horse is stopped and, once rq confirms, the job is recorded `cancelled` here since nothing else will.
    """
    job = jobs_service.cancel_job(workspace, job_id)
    if job.status.finished:
        _drop_waiting(connection, job_id)
        return job
    if _wait_until(lambda: jobs_service.get_job(workspace, job_id).status.finished, grace_s):
        return jobs_service.get_job(workspace, job_id)
    if stop_running(connection, job_id) and _wait_until(lambda: rq_status(connection, job_id) in ENDED, stop_wait_s):
        _record_stopped(workspace, job_id)
    return jobs_service.get_job(workspace, job_id)


def _drop_waiting(connection: Redis, job_id: str) -> None:
    job = rq_job(connection, job_id)
    if job is not None and job.get_status(refresh=False) in WAITING:
        job.cancel()


def _record_stopped(workspace: Workspace, job_id: str) -> None:
    with workspace.unit_of_work() as uow:
        if uow.jobs.get(job_id).status is not JobStatus.RUNNING:  # it ended on its own just before the stop
            return
        uow.jobs.update(job_id, status=JobStatus.CANCELLED.value, finished_at=utcnow())
        uow.jobs.add_event(job_id, "log", {"message": "cancelled", "by": "rq stop command"})


def _wait_until(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)
