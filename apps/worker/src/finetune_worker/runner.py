"""The RQ job runner: each core job becomes one rq job with the same id, on the queue its `queue` field names."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from finetune_core.domain import Job
from finetune_core.jobs.runner import InProcessRunner, JobRunner
from redis import Redis
from rq import Queue, Retry
from rq.job import JobStatus as RqStatus
from rq.serializers import JSONSerializer

from finetune_worker.rq_jobs import WAITING, rq_job

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort
    from finetune_core.settings import Settings
    from finetune_core.workspace import Workspace

JOB_FUNCTION = "finetune_worker.tasks.run_job"  # by dotted path: the enqueuing process never imports the worker side
QUEUES = ("default", "gpu")
RETRIES = 3
ENQUEUE_LOCK_S = 30


def redis_safe_url(database_url: str) -> str | None:
    """The database URL to put in a job's arguments: None when it holds a password, which must not sit in Redis;
    the work horse then reads FINETUNE_DATABASE_URL, as every worker host sharing the database has it."""
    from sqlalchemy.engine import make_url

    return None if make_url(database_url).password else database_url


@runtime_checkable
class QueueWorkspace(Protocol):
    """What an rq job's arguments are made of: the workspace's database URL and files root (`Workspace` has them)."""

    settings: Settings
    root: Path
    database_url: str


class RqRunner:
    """Hands jobs to `finetune worker` processes through Redis; progress, events and cancel stay in the database.

    Give a `redis_url`, or a `connection` to share (it is then left open on shutdown).
    """

    def __init__(self, redis_url: str | None = None, *, connection: Redis | None = None,
                 default_queue: str = "default", job_timeout_s: int = -1) -> None:
        if (redis_url is None) == (connection is None):
            raise ValueError("RqRunner needs a redis_url or a connection (one of them)")
        self.connection: Redis = connection if connection is not None else Redis.from_url(str(redis_url))
        self._owns_connection = connection is None
        self.default_queue = default_queue
        self.job_timeout_s = job_timeout_s  # -1: none; a training may take hours and ends through cancel

    def queue(self, name: str) -> Queue:
        return Queue(name, connection=self.connection, serializer=JSONSerializer)

    def submit(self, workspace: WorkspacePort, job: Job) -> None:
        if not isinstance(workspace, QueueWorkspace):  # a work horse opens the database by URL: the port lacks it
            raise TypeError(f"RqRunner needs a workspace with a database_url (a Workspace), not {type(workspace)}")
        self.enqueue(workspace, job)

    def enqueue(self, workspace: QueueWorkspace, job: Job, *, revive: bool = False) -> bool:
        """Enqueue `job` unless its rq job is waiting (or running); True if this call enqueued it.

        `revive`: the core job was abandoned (stale heartbeat), so an rq job still marked started is a dead
        worker's and gets replaced; so does a retry rq scheduled for later (a worker that saw its work horse die
        before dying itself): no scheduler may be left to enqueue it, and the job may be resumed now.
        """
        lock = f"finetune:enqueue:{job.id}"
        if not self.connection.set(lock, os.getpid(), nx=True, ex=ENQUEUE_LOCK_S):
            return False  # another process is enqueuing this very job right now
        try:
            existing = rq_job(self.connection, job.id)
            if existing is not None:
                status = existing.get_status(refresh=False)
                if not revive and (status in WAITING or status is RqStatus.STARTED):
                    return False
                if revive and status in WAITING - {RqStatus.SCHEDULED}:
                    return False
                existing.delete()  # finished, failed, stopped or dead: its id is free for the new run
            self._enqueue_call(workspace, job)
            return True
        finally:
            self.connection.delete(lock)

    def _enqueue_call(self, workspace: QueueWorkspace, job: Job) -> None:
        # A retry (the work horse died, or the database was unreachable) comes back just after the core sees the
        # job as abandoned, so it can claim the job again and resume it instead of finding it held.
        retry_after_s = int(workspace.settings.job_stale_after_s) + 1
        self.queue(job.queue or self.default_queue).enqueue_call(
            JOB_FUNCTION,
            args=(redis_safe_url(workspace.database_url), str(workspace.root), job.id),
            job_id=job.id,
            timeout=self.job_timeout_s,
            retry=Retry(max=RETRIES, interval=retry_after_s),
            # not the default (the call with its arguments): rq logs it, and a database URL may hold a password
            description=f"finetune {job.type} job {job.id}",
        )

    def cancel(self, workspace: Workspace, job_id: str, *, grace_s: float = 5.0) -> Job:
        """Cancel through the core's flag, then rq's stop command if the job is still running after `grace_s`."""
        from finetune_worker.cancel import cancel_job

        return cancel_job(workspace, self.connection, job_id, grace_s=grace_s)

    def shutdown(self, wait: bool = True) -> None:
        if self._owns_connection:
            self.connection.close()


def runner_from_env(environ: Mapping[str, str] | None = None) -> JobRunner:
    """An RqRunner on $REDIS_URL when it is set, else the core's in-process runner."""
    url = (os.environ if environ is None else environ).get("REDIS_URL")
    return RqRunner(url) if url else InProcessRunner()
