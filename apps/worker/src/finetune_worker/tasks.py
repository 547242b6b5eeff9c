"""What the work horse runs: the core's job by id, as `execute_job_in` does, with a liveness heartbeat."""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Iterable

from finetune_core.domain import JobStatus
from finetune_core.jobs.execute import execute_job
from finetune_core.workspace import Workspace
from rq import get_current_job

from finetune_worker.heartbeat import LivenessHeartbeat
from finetune_worker.runner import RqRunner

log = logging.getLogger(__name__)
IMPORTS_ENV = "FINETUNE_WORKER_IMPORTS"


def import_job_modules(modules: Iterable[str] = ()) -> list[str]:
    """Import `modules` and those in $FINETUNE_WORKER_IMPORTS (e.g. ones registering job types).

    The list goes back into the environment: a spawned work horse starts a fresh interpreter and imports them again.
    """
    names = [*modules, *os.environ.get(IMPORTS_ENV, "").split(",")]
    wanted = list(dict.fromkeys(name.strip() for name in names if name.strip()))
    if wanted:
        os.environ[IMPORTS_ENV] = ",".join(wanted)
    for name in wanted:
        importlib.import_module(name)
    return wanted


def run_job(database_url: str | None, files_root: str, job_id: str) -> str:
    """The rq job function (JSON-serialisable arguments only); returns the job's final status.

    `database_url` None: the one in FINETUNE_DATABASE_URL (a URL with a password is never put in Redis).
    """
    import_job_modules()
    current = get_current_job()
    # jobs this one submits go to the queues too, not to threads of this short-lived process
    runner = RqRunner(connection=current.connection) if current is not None else None
    workspace = Workspace.open(files_root, database_url=database_url, runner=runner)
    try:
        with LivenessHeartbeat(workspace, job_id):
            status = execute_job(workspace, job_id)
        if status is JobStatus.RUNNING:
            log.info("job %s is held by another worker", job_id)
        return status.value
    finally:
        workspace.close()
