"""What a running job uses to report progress and events and to notice a cancel request."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from finetune_core.domain import utcnow
from finetune_core.errors import JobCancelledError

if TYPE_CHECKING:
    from finetune_core.workspace import Workspace


class JobContext:
    """Progress, events and the cancel flag all live in the database, so any process can read them."""

    def __init__(self, workspace: Workspace, job_id: str, *, min_interval_s: float = 0.25) -> None:
        self.workspace = workspace
        self.job_id = job_id
        self._min_interval_s = min_interval_s
        self._last_write = 0.0
        self._last_pct = -1.0

    def progress(self, done: float, total: float, message: str | None = None, *, force: bool = False) -> None:
        """Record progress (throttled), refresh the heartbeat, and raise if a cancel was requested."""
        pct = round(100.0 * done / total, 2) if total else 100.0
        now = time.monotonic()
        if not force and now - self._last_write < self._min_interval_s and pct < 100.0:
            return
        self._last_write = now
        with self.workspace.unit_of_work() as repo:
            repo.update_job(self.job_id, progress_pct=min(pct, 100.0), heartbeat_at=utcnow())
            if pct != self._last_pct:
                data: dict[str, Any] = {"done": done, "total": total, "progress_pct": pct}
                if message:
                    data["message"] = message
                repo.add_event(self.job_id, "progress", data)
            cancel = repo.get_job(self.job_id).cancel_requested
        self._last_pct = pct
        if cancel:
            raise JobCancelledError("the job was cancelled", job_id=self.job_id)

    def event(self, type: str, **data: Any) -> None:
        with self.workspace.unit_of_work() as repo:
            repo.add_event(self.job_id, type, data)

    def log(self, message: str, **data: Any) -> None:
        self.event("log", message=message, **data)

    def check_cancel(self) -> None:
        with self.workspace.unit_of_work() as repo:
            repo.update_job(self.job_id, heartbeat_at=utcnow())
            cancel = repo.get_job(self.job_id).cancel_requested
        if cancel:
            raise JobCancelledError("the job was cancelled", job_id=self.job_id)
