"""Job types for the worker tests, registered on import: workers load this module with `--import kits.worker_jobs`."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from finetune_core.jobs import JobContext, register_job_type


def whereabouts() -> dict[str, Any]:
    """Which process ran the job, and how it was started (a spawned horse runs `python -c`)."""
    return {"pid": os.getpid(), "ppid": os.getppid(), "worker": os.environ.get("RQ_WORKER_ID"), "argv": sys.argv,
            "torch_imported": "torch" in sys.modules}


def sleepy(context: JobContext, *, seconds: float = 0.0) -> dict[str, Any]:
    context.progress(0, 1, "napping", force=True)
    time.sleep(seconds)
    return whereabouts()


def stepped(context: JobContext, *, steps: int, step_s: float) -> dict[str, Any]:
    """Resumable: each finished step is recorded in the database (a `step` event) and skipped by a rerun."""
    with context.workspace.unit_of_work() as uow:
        done = {event.data["n"] for event in uow.jobs.events(context.job_id) if event.type == "step"}
    for n in range(steps):
        if n in done:
            continue
        time.sleep(step_s)
        context.event("step", n=n, pid=os.getpid())
        context.progress(n + 1, steps, force=True)
    return whereabouts()


def cooperative(context: JobContext) -> dict[str, Any]:
    """Runs until cancelled, looking at the cancel flag all along."""
    while True:
        context.progress(1, 2, force=True)
        time.sleep(0.05)


def stubborn(context: JobContext, *, seconds: float) -> dict[str, Any]:
    """Never looks at the cancel flag: only rq's stop command ends it early."""
    time.sleep(seconds)
    return whereabouts()


for _name in ("sleepy", "stepped", "cooperative", "stubborn"):
    register_job_type(f"worker_test_{_name}", f"{__name__}:{_name}")
