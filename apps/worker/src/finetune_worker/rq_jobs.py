"""The rq job that carries a core job (same id), read from Redis: shared by the runner and cancel.

Its own module so that `cancel` needs nothing from `runner` (which calls `cancel` for `RqRunner.cancel`): no cycle.
"""

from __future__ import annotations

from redis import Redis
from rq.exceptions import NoSuchJobError
from rq.job import Job as RqJob
from rq.job import JobStatus as RqStatus
from rq.serializers import JSONSerializer

WAITING = frozenset({RqStatus.QUEUED, RqStatus.SCHEDULED, RqStatus.DEFERRED})


def rq_job(connection: Redis, job_id: str) -> RqJob | None:
    """The rq job carrying core job `job_id`, if Redis still has it."""
    try:
        return RqJob.fetch(job_id, connection=connection, serializer=JSONSerializer)
    except NoSuchJobError:
        return None


def rq_status(connection: Redis, job_id: str) -> RqStatus | None:
    job = rq_job(connection, job_id)
    return None if job is None else job.get_status(refresh=False)
