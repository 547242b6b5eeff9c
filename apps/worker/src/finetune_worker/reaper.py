"""The reaper: finds the jobs no worker will finish (their worker died, or their rq job was lost) and re-enqueues them.

The core's `claim_job` takes a running job back only once its heartbeat is stale, so a second run never overlaps a
live one, and the handlers resume with only the missing work. Each pass also puts the maintenance schedule back if
it was lost (finetune_worker.schedule).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from datetime import timedelta
from multiprocessing import get_context
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finetune_core.domain import Job, JobStatus, utcnow
from finetune_core.services import jobs as jobs_service
from finetune_core.workspace import Workspace

from finetune_worker.logs import log_to_stderr
from finetune_worker.runner import RqRunner
from finetune_worker.schedule import ensure_schedule

if TYPE_CHECKING:
    from redis import Redis

log = logging.getLogger(__name__)


def abandoned_jobs(workspace: Workspace) -> list[Job]:
    """Running jobs with a stale heartbeat, and jobs queued for longer than that (their rq job may be lost)."""
    stale_before = utcnow() - timedelta(seconds=workspace.settings.job_stale_after_s)
    running, _ = jobs_service.list_jobs(workspace, status=JobStatus.RUNNING.value, limit=None)
    queued, _ = jobs_service.list_jobs(workspace, status=JobStatus.QUEUED.value, limit=None)
    return ([job for job in running if job.heartbeat_at is not None and job.heartbeat_at < stale_before]
            + [job for job in queued if job.created_at < stale_before])


def reap(workspace: Workspace, runner: RqRunner) -> list[str]:
    """Re-enqueue the abandoned jobs whose rq job is missing, ended or dead; returns their ids."""
    revived = []
    for job in abandoned_jobs(workspace):
        if runner.enqueue(workspace, job, revive=job.status is JobStatus.RUNNING):
            log.info("re-enqueued %s job %s (%s) on queue %s", job.type, job.id, job.status.value, job.queue)
            revived.append(job.id)
    return revived


def reap_once(root: Path, database_url: str | None, connection: Redis) -> list[str]:
    """One pass on the workspace at `root`; its database connections are closed before this returns."""
    runner = RqRunner(connection=connection)
    with Workspace.open(root, database_url=database_url, runner=runner) as workspace:
        return reap(workspace, runner)


def reap_forever(root: Path, database_url: str | None, redis_url: str, interval_s: float, parent_pid: int,
                 schedule: tuple[dict[str, int], str] | None = None) -> None:
    """A pass every `interval_s` until the worker that started this process is gone; `schedule`, (the maintenance
    intervals, their queue), is ensured at each pass too."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C reaches the whole group: the worker ends this process
    log_to_stderr()
    runner = RqRunner(redis_url)
    with Workspace.open(root, database_url=database_url, runner=runner) as workspace:
        while os.getppid() == parent_pid:
            try:
                reap(workspace, runner)
                if schedule is not None:
                    ensure_schedule(runner.connection, root, database_url, schedule[0], queue=schedule[1])
            except Exception:  # Redis or the database may be briefly unreachable: the next pass tries again
                log.exception("reaper pass failed")
            time.sleep(interval_s)


def start_reaper(root: Path, database_url: str | None, redis_url: str, interval_s: float,
                 schedule: tuple[dict[str, int], str] | None = None) -> BaseProcess:
    """Run `reap_forever` in a spawned process: the worker that forks work horses keeps no threads or connections."""
    args: tuple[Any, ...] = (root, database_url, redis_url, interval_s, os.getpid(), schedule)
    process = get_context("spawn").Process(
        target=reap_forever, args=args,
        name="finetune-reaper", daemon=True,
    )
    process.start()
    return process
