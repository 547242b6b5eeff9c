"""Reading a batch generation's state in tests: examples stored once, open batches, the orphaned job, its events."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from finetune_core import Workspace
from finetune_core.domain import Job, JobStatus
from finetune_core.services import batch_generation
from finetune_core.services import jobs as jobs_service
from finetune_core.services.batch_generation import BatchStore
from kits.chat_completions import generated


def assert_exactly_once(ws: Workspace, project_id: str) -> Counter[str]:
    """Every (request, position) stored at most once; the examples per request key."""
    examples = generated(ws, project_id)
    pairs = Counter((example.request_key, example.position) for example in examples)
    assert [pair for pair, count in pairs.items() if count > 1] == []
    return Counter(str(example.request_key) for example in examples if example.position >= 0)


def open_entries(ws: Workspace, project_id: str) -> list[dict[str, Any]]:
    """The batches of the project's generation still kept (sent, not yet stored)."""
    return BatchStore(ws, project_id, "gen:").load()


def orphaned_job(ws: Workspace, project_id: str) -> Job:
    """The one generation job left RUNNING (its process was killed)."""
    [job] = [job for job in jobs_service.list_jobs(ws, project_id=project_id, type="dataset_generate")[0]
             if job.status is JobStatus.RUNNING]
    return job


def messages(ws: Workspace, job_id: str) -> list[str]:
    """The messages of a job's events, in order."""
    return [str(event.data.get("message")) for event in jobs_service.events(ws, job_id)]


class WorkerDied(BaseException):
    """Escapes every handler, as a killed worker would stop everything."""


def die_at_first_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker dies at the first wait between polls (after the batch id was stored and polled once)."""
    real_sleep = batch_generation._sleep
    died: list[bool] = []

    async def sleep(seconds: float) -> None:
        if not died:
            died.append(True)
            raise WorkerDied
        await real_sleep(seconds)

    monkeypatch.setattr(batch_generation, "_sleep", sleep)
