"""A job's heartbeat kept fresh while its work horse lives, so a stale heartbeat means a dead worker."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from finetune_core.domain import JobStatus, utcnow

if TYPE_CHECKING:
    from types import TracebackType

    from finetune_core.workspace import Workspace

log = logging.getLogger(__name__)
MAX_INTERVAL_S = 30.0
JOIN_TIMEOUT_S = 5.0


class LivenessHeartbeat:
    """Refreshes the job's heartbeat from a thread for as long as the block runs.

    Handlers heartbeat through `JobContext.progress`, but a long silent step (loading a model) would otherwise look
    abandoned, and the reaper would start the job a second time while the first still runs.
    """

    def __init__(self, workspace: Workspace, job_id: str, *, interval_s: float | None = None) -> None:
        self.workspace = workspace
        self.job_id = job_id
        stale_after_s = workspace.settings.job_stale_after_s
        self.interval_s = interval_s or max(0.1, min(MAX_INTERVAL_S, stale_after_s / 4))
        with workspace.unit_of_work() as uow:
            self.attempt = uow.jobs.get(job_id).attempts + 1  # the attempt this process's claim will make
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"finetune-heartbeat-{job_id}", daemon=True)

    def beat(self) -> bool:
        """Refresh the heartbeat if the job is running on this process's attempt; True if it was."""
        with self.workspace.unit_of_work() as uow:
            job = uow.jobs.get(self.job_id)
            if job.status is not JobStatus.RUNNING or job.attempts != self.attempt:
                return False
            uow.jobs.update(self.job_id, heartbeat_at=utcnow())
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.beat()
            except Exception:  # the database may be briefly unreachable: the next beat tries again
                log.warning("heartbeat of job %s failed", self.job_id, exc_info=True)

    def __enter__(self) -> LivenessHeartbeat:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._stop.set()
        # bounded: a beat stuck on an unreachable database must not hold the job's ending; a late one is harmless
        # since it only touches a job still running on this attempt
        self._thread.join(JOIN_TIMEOUT_S)
