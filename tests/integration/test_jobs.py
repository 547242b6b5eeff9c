"""Jobs: outcome recording, events, cooperative cancel, finished-job conflicts."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from finetune_core import FinetuneError, InvalidInputError, JobAlreadyFinishedError, JobStatus, Workspace
from finetune_core.jobs import InProcessRunner, JobContext, register_job_type
from finetune_core.services import jobs
from finetune_core.testing import open_test_workspace

started = threading.Event()


def counting_job(context: JobContext, *, steps: int) -> dict[str, Any]:
    for step in range(steps):
        context.progress(step, steps, f"step {step}", force=True)
    return {"steps": steps}


def failing_job(context: JobContext) -> dict[str, Any]:
    raise FinetuneError("the input made no sense")


def crashing_job(context: JobContext) -> dict[str, Any]:
    raise RuntimeError("bug")


def endless_job(context: JobContext) -> dict[str, Any]:
    started.set()
    while True:
        context.progress(1, 2, force=True)
        time.sleep(0.01)


for name in ("counting_job", "failing_job", "crashing_job", "endless_job"):
    register_job_type(f"test_{name}", f"{__name__}:{name}")


def test_success_records_summary_progress_and_events(finetune_workspace: Workspace) -> None:
    job = jobs.enqueue(finetune_workspace, "test_counting_job", project_id=None, steps=3)
    assert job.status is JobStatus.SUCCESS
    assert job.result_summary == {"steps": 3}
    assert job.progress_pct == 100.0
    kinds = [event.type for event in jobs.events(finetune_workspace, job.id)]
    assert kinds[0] == "log" and kinds[-1] == "complete"
    assert kinds.count("progress") == 3


@pytest.mark.parametrize(
    ("type_", "message"),
    [("test_failing_job", "the input made no sense"), ("test_crashing_job", "RuntimeError: bug")],
)
def test_failures_are_recorded_with_their_message(finetune_workspace: Workspace, type_: str, message: str) -> None:
    job = jobs.enqueue(finetune_workspace, type_, project_id=None)
    assert job.status is JobStatus.FAILED
    assert job.error_message == message
    last = jobs.events(finetune_workspace, job.id)[-1]
    assert (last.type, last.data["message"]) == ("error", message)


def test_cancel_stops_a_running_job_at_its_next_check(tmp_path: Path) -> None:
    started.clear()
    workspace = open_test_workspace(tmp_path, runner=InProcessRunner(1))
    try:
        job = jobs.enqueue(workspace, "test_endless_job", project_id=None)
        assert started.wait(60)
        jobs.cancel_job(workspace, job.id)
        finished = jobs.wait_for(workspace, job.id, timeout_s=60)
        assert finished.status is JobStatus.CANCELLED
        with pytest.raises(JobAlreadyFinishedError):
            jobs.cancel_job(workspace, job.id)
    finally:
        workspace.close()


def test_unknown_job_type_is_refused_before_anything_is_stored(finetune_workspace: Workspace) -> None:
    with pytest.raises(InvalidInputError):
        jobs.enqueue(finetune_workspace, "no_such_type", project_id=None)
    assert jobs.list_jobs(finetune_workspace)[1] == 0
