"""Job runners: where queued jobs get executed. In-process threads are the embedded default."""

from __future__ import annotations

import threading
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from finetune_core.domain import Job
from finetune_core.ports import JobRunner as JobRunner  # the protocol lives with the port; its runners live here

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort


class InProcessRunner:
    """Runs jobs on a small thread pool of this process; no Redis needed.

    `pool` replaces the standard thread pool (a server under gevent gives one of native threads).
    """

    def __init__(self, threads: int = 2, *, pool: Executor | None = None) -> None:
        self._pool = pool or ThreadPoolExecutor(max_workers=threads, thread_name_prefix="finetune-job")
        self._futures: dict[str, Future[object]] = {}
        self._lock = threading.Lock()

    def submit(self, workspace: WorkspacePort, job: Job) -> None:
        from finetune_core.jobs.execute import execute_job

        future: Future[object] = self._pool.submit(execute_job, workspace, job.id)
        with self._lock:
            self._futures[job.id] = future

    def wait(self, job_id: str, timeout: float | None = None) -> None:
        """Block until a job submitted here has finished (handy for scripts and tests)."""
        with self._lock:
            future = self._futures.get(job_id)
        if future is not None:
            future.result(timeout=timeout)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=not wait)


class InlineRunner:
    """Runs each job synchronously inside `submit` (deterministic; used by the CLI and tests)."""

    def submit(self, workspace: WorkspacePort, job: Job) -> None:
        from finetune_core.jobs.execute import execute_job

        execute_job(workspace, job.id)

    def shutdown(self, wait: bool = True) -> None:
        return None
