"""An in-process schedule: tasks run every so many seconds on a daemon thread of this process.

What a long-running process that has no queue workers uses (`finetune serve` without Redis runs the maintenance
tasks of services/maintenance.py on one); with Redis, the worker schedules the same tasks on RQ instead. Nothing
starts one by itself: a process that wants one calls `start()`, and `stop()` ends it.

    scheduler = IntervalScheduler(workspace, [ScheduledTask("metrics", 3600, maintenance.metrics)]).start()
    ...
    scheduler.stop()
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort

log = logging.getLogger(__name__)
STOP_WAIT_S = 30.0  # how long `stop` waits for a task that is running to end


@dataclass(frozen=True)
class ScheduledTask:
    """`run(workspace)` every `every_s` seconds; 0 (or less) turns it off."""

    name: str
    every_s: float
    run: Callable[[WorkspacePort], object]


class IntervalScheduler:
    """Runs each task `first_run_in_s` after `start` (at most its interval), then every `every_s` after each run
    ended; a task that raises is logged and runs again at its next time.

    The waits are on the scheduler's thread; the tasks run there too, or on `pool` when given (a server under
    gevent gives one of native threads, as it does for its jobs, so a task holding the CPU stalls no request).
    `runs` counts each task's completed runs (failed ones included).
    """

    def __init__(self, workspace: WorkspacePort, tasks: Sequence[ScheduledTask], *, first_run_in_s: float = 0.0,
                 pool: Executor | None = None, name: str = "finetune-schedule") -> None:
        self.workspace = workspace
        self.tasks = [task for task in tasks if task.every_s > 0]
        self.first_run_in_s = max(0.0, first_run_in_s)
        self.pool = pool
        self.runs: dict[str, int] = {task.name: 0 for task in self.tasks}
        self._due: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> IntervalScheduler:
        """Start the thread (a scheduler without tasks starts none); returns the scheduler."""
        now = time.monotonic()
        self._due = {task.name: now + min(self.first_run_in_s, task.every_s) for task in self.tasks}
        if self.tasks:
            self._thread.start()
        return self

    def stop(self, timeout_s: float = STOP_WAIT_S) -> None:
        """Stop before the next run (a run under way ends first, within `timeout_s`)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    def run_due(self) -> float:
        """Run the tasks that are due; the seconds until the next one is."""
        for task in self.tasks:
            if self._stop.is_set():
                break
            if time.monotonic() >= self._due[task.name]:
                self._run(task)
                self._due[task.name] = time.monotonic() + task.every_s
        return max(0.0, min(self._due.values()) - time.monotonic())

    def _run(self, task: ScheduledTask) -> None:
        try:
            if self.pool is not None:
                self.pool.submit(task.run, self.workspace).result()
            else:
                task.run(self.workspace)
        except Exception:  # a database briefly away, a bug: the next run tries again
            log.exception("scheduled task %s failed", task.name)
        self.runs[task.name] += 1

    def _loop(self) -> None:
        delay = max(0.0, min(self._due.values()) - time.monotonic())
        while not self._stop.wait(delay):
            delay = self.run_due()
