"""The maintenance schedule on RQ: the core's cleanup and metrics (services/maintenance.py), repeated by rq itself.

Each task is one rq job with a fixed id per workspace, scheduled with rq's `Queue.enqueue_in` and a `Repeat`: when
it is due, the scheduler of a worker (`Worker.work(with_scheduler=True)`, one per queue at a time, whatever the
number of workers) moves it to its queue; a worker runs it, and on success rq schedules the same job again for an
interval later. A fixed id keeps one schedule per task however many workers start: `ensure_schedule` (each
`finetune worker` at start, and its reaper at every pass) schedules a task only when its job is missing, ended
(a run failed, or Redis lost it) or set to another interval, never while it is waiting or running.

(rq's `CronScheduler` was left aside: it runs as a process of its own, with no guard against a second one in each
worker, and it enqueues with rq's default pickle serializer, which the JSON workers here cannot read.)
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from finetune_core.services import maintenance
from finetune_core.workspace import Workspace
from redis import Redis
from rq import Queue, Repeat, get_current_job
from rq.job import JobStatus as RqStatus
from rq.serializers import JSONSerializer

from finetune_worker.rq_jobs import WAITING, rq_job
from finetune_worker.runner import RqRunner, redis_safe_url

TASK_FUNCTION = "finetune_worker.schedule.run_task"  # by dotted path, as the runner's jobs
REPEATS = 1_000_000_000  # Repeat's count: for good (a century of runs a second)
SCHEDULE_LOCK_S = 30
TASK_TIMEOUT_S = 3600  # a cleanup walks the whole file store
RESULT_TTL_S = 7 * 24 * 3600  # the last results stay readable in Redis (`Job.results()`)
EVERY_META = "finetune_every_s"

log = logging.getLogger(__name__)


def schedule_id(task: str, root: Path | str, database_url: str | None) -> str:
    """The rq job id of `task` for the workspace at `root` (on `database_url`): the same from every worker."""
    digest = hashlib.sha256(f"{database_url or ''}\n{Path(root).resolve()}".encode()).hexdigest()[:16]
    return f"finetune-maintenance-{task}-{digest}"


def schedule_queue(queues: Sequence[str]) -> str:
    """The queue the schedule goes to: `default` when served here, else the first one."""
    return "default" if "default" in queues or not queues else queues[0]


def ensure_schedule(connection: Redis, root: Path | str, database_url: str | None, every_s: Mapping[str, int], *,
                    queue: str = "default", first_run_in_s: int = maintenance.FIRST_RUN_AFTER_S) -> list[str]:
    """Schedule each maintenance task every `every_s[task]` seconds (0: unscheduled) unless it is already; its first
    run `first_run_in_s` from now (at most its interval). Returns the tasks this call (re)scheduled."""
    root = Path(root).resolve()  # the work horse may not start where this process did
    scheduled = []
    for task, every in every_s.items():
        if task not in maintenance.TASKS:
            raise ValueError(f"unknown maintenance task '{task}' (known: {', '.join(maintenance.TASKS)})")
        job_id = schedule_id(task, root, database_url)
        lock = f"finetune:schedule:{job_id}"
        if not connection.set(lock, os.getpid(), nx=True, ex=SCHEDULE_LOCK_S):
            continue  # another worker is at it right now
        try:
            if _schedule(connection, job_id, task, every, root, database_url, queue, first_run_in_s):
                scheduled.append(task)
        finally:
            connection.delete(lock)
    return scheduled


def _schedule(connection: Redis, job_id: str, task: str, every: int, root: Path | str, database_url: str | None,
              queue: str, first_run_in_s: int) -> bool:
    existing = rq_job(connection, job_id)
    if existing is not None:
        status = existing.get_status(refresh=False)
        if status is RqStatus.STARTED:
            return False  # running: it repeats itself when done (a changed interval is applied after)
        if status in WAITING and existing.meta.get(EVERY_META) == every:
            return False
        existing.delete()  # ended, lost its repeats, or another interval: this call replaces it
    if every <= 0:
        return False
    Queue(queue, connection=connection, serializer=JSONSerializer).enqueue_in(
        timedelta(seconds=min(first_run_in_s, every)), TASK_FUNCTION,
        args=(redis_safe_url(_database_url(root, database_url)), str(root), task),
        job_id=job_id, repeat=Repeat(times=REPEATS, interval=every), meta={EVERY_META: every},
        job_timeout=TASK_TIMEOUT_S, result_ttl=RESULT_TTL_S, failure_ttl=RESULT_TTL_S,
        description=f"finetune maintenance: {task} every {every} s",
    )
    log.info("scheduled the maintenance task %s every %d s on queue %s", task, every, queue)
    return True


def _database_url(root: Path | str, database_url: str | None) -> str:
    """The URL the work horse opens: the given one, else the workspace's own SQLite file (as `Workspace` makes it)."""
    if database_url:
        return database_url
    from finetune_core.storage.database import sqlite_url
    from finetune_core.workspace import DATABASE_FILE

    return sqlite_url(Path(root) / DATABASE_FILE)


def run_task(database_url: str | None, files_root: str, task: str) -> dict[str, Any]:
    """The rq job function (JSON arguments): run the maintenance task on the workspace; its result.

    `database_url` None: the one in FINETUNE_DATABASE_URL (a URL with a password is never put in Redis).
    """
    current = get_current_job()
    runner = RqRunner(connection=current.connection) if current is not None else None  # jobs it makes: to the queues
    workspace = Workspace.open(files_root, database_url=database_url, runner=runner)
    try:
        return maintenance.run_task(workspace, task)
    finally:
        workspace.close()
