"""What a running job uses to report progress and events and to notice a cancel request."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from finetune_core.domain import utcnow
from finetune_core.errors import JobCancelledError

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort
    from finetune_core.storage.unit_of_work import UnitOfWork

T = TypeVar("T")


class JobContext:
    """Progress, events and the cancel flag all live in the database, so any process can read them.

    `log` events, the many, are written in small batches (every EVENT_FLUSH_S, or before anything else
    this context writes, so their order holds); other events (checkpoint, eval, ...) at once. The
    heartbeat is refreshed at most every HEARTBEAT_S. A job logging every training step then costs one
    cheap read per step (the cancel flag), not two writes; a worker that dies loses its last half second
    of log lines at most, never a checkpoint's record.

    A job may report from two threads (generation writes its results and progress off the event loop while
    the loop reads the cancel flag): the writes take one lock, so events keep their order and their numbers.
    """

    EVENT_FLUSH_S = 0.5
    EVENT_BATCH = 64
    HEARTBEAT_S = 5.0
    CANCEL_POLL_S = 0.5

    def __init__(self, workspace: WorkspacePort, job_id: str, *, min_interval_s: float = 0.25) -> None:
        self.workspace = workspace
        self.job_id = job_id
        self._min_interval_s = min_interval_s
        self._last_write = 0.0
        self._last_pct = -1.0
        self._events: list[tuple[str, dict[str, Any]]] = []
        self._last_flush = time.monotonic()
        self._last_heartbeat = 0.0
        self._lock = threading.RLock()

    def progress(self, done: float, total: float, message: str | None = None, *, force: bool = False) -> None:
        """Record progress (throttled), refresh the heartbeat, and raise if a cancel was requested."""
        with self._lock:
            pct = round(100.0 * done / total, 2) if total else 100.0
            now = time.monotonic()
            if not force and now - self._last_write < self._min_interval_s and pct < 100.0:
                return
            self._last_write = now
            with self.workspace.unit_of_work() as uow:
                self._write_events(uow)
                uow.jobs.update(self.job_id, progress_pct=min(pct, 100.0), heartbeat_at=utcnow())
                self._last_heartbeat = now
                if pct != self._last_pct:
                    data: dict[str, Any] = {"done": done, "total": total, "progress_pct": pct}
                    if message:
                        data["message"] = message
                    uow.jobs.add_event(self.job_id, "progress", data)
                cancel = uow.jobs.cancel_requested(self.job_id)
            self._last_pct = pct
            if cancel:
                raise JobCancelledError("the job was cancelled", job_id=self.job_id)

    def event(self, type: str, **data: Any) -> None:
        """Add an event to the job's log, in order: a `log` within EVENT_FLUSH_S, any other at once."""
        with self._lock:
            self._events.append((type, data))
            if (type != "log" or len(self._events) >= self.EVENT_BATCH
                    or time.monotonic() - self._last_flush >= self.EVENT_FLUSH_S):
                self.flush()

    def log(self, message: str, **data: Any) -> None:
        self.event("log", message=message, **data)

    def flush(self) -> None:
        """Write the events not written yet (the runner calls it when the job ends)."""
        with self._lock:
            if self._events:
                with self.workspace.unit_of_work() as uow:
                    self._write_events(uow)
            self._last_flush = time.monotonic()

    def _write_events(self, uow: UnitOfWork) -> None:
        events, self._events = self._events, []
        for type, data in events:
            uow.jobs.add_event(self.job_id, type, data)
        self._last_flush = time.monotonic()

    def check_cancel(self) -> None:
        """Raise JobCancelledError if a cancel was requested; refresh the heartbeat now and then."""
        with self._lock:
            now = time.monotonic()
            due = bool(self._events) and now - self._last_flush >= self.EVENT_FLUSH_S
            beat = now - self._last_heartbeat >= self.HEARTBEAT_S
            with self.workspace.unit_of_work() as uow:
                if due:
                    self._write_events(uow)
                if beat:
                    uow.jobs.update(self.job_id, heartbeat_at=utcnow())
                    self._last_heartbeat = now
                cancel = uow.jobs.cancel_requested(self.job_id)
            if cancel:
                raise JobCancelledError("the job was cancelled", job_id=self.job_id)

    async def cancellable(self, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` while reading the cancel flag every CANCEL_POLL_S: a cancel request cancels it and raises
        JobCancelledError.

        Asynchronous work may wait on the network for minutes with nothing arriving (a server that never
        answers), so it cannot rely on `progress` alone to notice a cancel; cancelling its task cancels the
        requests in flight, whose clients close their connections. The heartbeat is kept fresh meanwhile.
        """
        task = asyncio.ensure_future(work)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self.CANCEL_POLL_S)
                if done:
                    return task.result()
                self.check_cancel()
        finally:
            if not task.done():
                task.cancel()
                await asyncio.wait({task})  # its own cleanup (stored results flushed, clients closed) runs first
                if not task.cancelled():
                    task.exception()  # retrieved: whatever it raised while stopping, the job is cancelled
