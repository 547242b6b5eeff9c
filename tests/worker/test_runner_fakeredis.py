"""RqRunner, the reaper and cancel on fakeredis, jobs run by rq's in-process SimpleWorker."""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import kits.worker_jobs  # noqa: F401 - registers the test job types
import pytest
from finetune_core import JobStatus, Workspace
from finetune_core.domain import utcnow
from finetune_core.services import jobs
from finetune_core.testing import open_test_workspace

fakeredis = pytest.importorskip("fakeredis")
from finetune_worker import RqRunner, cancel_job, reap, stop_running  # noqa: E402
from finetune_worker.rq_jobs import rq_job, rq_status  # noqa: E402
from finetune_worker.runner import JOB_FUNCTION  # noqa: E402
from rq import Queue, SimpleWorker  # noqa: E402
from rq.job import JobStatus as RqStatus  # noqa: E402
from rq.serializers import JSONSerializer  # noqa: E402


@pytest.fixture
def connection() -> Any:
    return fakeredis.FakeRedis()


@pytest.fixture
def runner(connection: Any) -> RqRunner:
    return RqRunner(connection=connection)


@pytest.fixture
def workspace(tmp_path: Path, runner: RqRunner, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    # the work horse opens its own workspace, with the settings of its environment
    monkeypatch.setenv("FINETUNE_JOB_STALE_AFTER_S", "2")
    opened = open_test_workspace(tmp_path / "ws", runner=runner)
    try:
        yield opened
    finally:
        opened.close()


def work(connection: Any, *queues: str) -> None:
    SimpleWorker(list(queues or ["default"]), connection=connection, serializer=JSONSerializer).work(burst=True)


def queued_ids(connection: Any, name: str) -> list[str]:
    return Queue(name, connection=connection, serializer=JSONSerializer).get_job_ids()


def store(workspace: Workspace, **values: Any) -> str:
    """A job stored as if its enqueuing process had died before telling Redis."""
    job = jobs.new_job("worker_test_sleepy", project_id=None).model_copy(update=values)
    with workspace.unit_of_work() as uow:
        uow.jobs.add(job)
    return job.id


def test_submit_enqueues_the_core_function_by_dotted_path_with_json_arguments(workspace: Workspace,
                                                                               connection: Any) -> None:
    job = jobs.enqueue(workspace, "worker_test_sleepy", project_id=None)
    assert job.status is JobStatus.QUEUED
    raw = connection.hget(f"rq:job:{job.id}", "data")
    func, instance, args, kwargs = json.loads(zlib.decompress(raw))  # JSON on the wire, no pickle
    assert (func, instance, kwargs) == (JOB_FUNCTION, None, {})
    assert args == [workspace.database_url, str(workspace.root), job.id]  # no password in it: passed as it is
    queued = rq_job(connection, job.id)
    assert queued is not None and queued.id == job.id
    assert (queued.timeout, queued.retries_left, queued.retry_intervals) == (-1, 3, [3])
    assert workspace.database_url not in (queued.description or "")


def test_the_queue_is_the_one_the_job_names(workspace: Workspace, connection: Any) -> None:
    gpu = jobs.enqueue(workspace, "worker_test_sleepy", project_id=None, queue="gpu")
    default = jobs.enqueue(workspace, "worker_test_sleepy", project_id=None)
    assert queued_ids(connection, "gpu") == [gpu.id]
    assert queued_ids(connection, "default") == [default.id]


def test_a_job_is_enqueued_at_most_once(workspace: Workspace, runner: RqRunner, connection: Any) -> None:
    job = jobs.enqueue(workspace, "worker_test_sleepy", project_id=None)
    runner.submit(workspace, job)
    assert runner.enqueue(workspace, job) is False
    assert queued_ids(connection, "default") == [job.id]


def test_a_started_rq_job_is_replaced_only_when_reviving_and_an_ended_one_always(workspace: Workspace,
                                                                               runner: RqRunner,
                                                                               connection: Any) -> None:
    job = jobs.enqueue(workspace, "worker_test_sleepy", project_id=None)
    queue = runner.queue("default")
    dead = rq_job(connection, job.id)
    assert dead is not None
    queue.remove(dead)
    dead.set_status(RqStatus.STARTED)  # what a worker killed mid-job leaves behind
    assert runner.enqueue(workspace, job) is False
    assert runner.enqueue(workspace, job, revive=True) is True
    assert queued_ids(connection, "default") == [job.id]
    finished = rq_job(connection, job.id)
    assert finished is not None
    queue.remove(finished)
    finished.set_status(RqStatus.FINISHED)
    assert runner.enqueue(workspace, job) is True
    assert rq_status(connection, job.id) is RqStatus.QUEUED


def test_a_worker_runs_the_job_and_the_core_records_progress_and_events(workspace: Workspace,
                                                                         connection: Any) -> None:
    job = jobs.enqueue(workspace, "worker_test_sleepy", project_id=None)
    work(connection)
    done = jobs.get_job(workspace, job.id)
    assert done.status is JobStatus.SUCCESS and done.attempts == 1
    assert done.result_summary["pid"] == os.getpid()  # SimpleWorker: this very process
    kinds = [event.type for event in jobs.events(workspace, job.id)]
    assert kinds[0] == "log" and "progress" in kinds and kinds[-1] == "complete"
    finished = rq_job(connection, job.id)
    assert finished is not None and finished.return_value() == "success"


def test_the_reaper_enqueues_queued_jobs_whose_rq_job_is_lost(workspace: Workspace, runner: RqRunner,
                                                              connection: Any) -> None:
    lost = store(workspace, created_at=utcnow() - timedelta(seconds=10))
    recent = store(workspace)  # its enqueuer may still be on its way to Redis
    assert reap(workspace, runner) == [lost]
    assert reap(workspace, runner) == []  # waiting in its queue now
    assert queued_ids(connection, "default") == [lost]
    work(connection)
    assert jobs.get_job(workspace, lost).status is JobStatus.SUCCESS
    assert jobs.get_job(workspace, recent).status is JobStatus.QUEUED


def test_the_reaper_revives_running_jobs_whose_heartbeat_is_stale(workspace: Workspace, runner: RqRunner,
                                                                  connection: Any) -> None:
    long_ago = utcnow() - timedelta(seconds=10)
    dead = store(workspace, status=JobStatus.RUNNING, attempts=1, started_at=long_ago, heartbeat_at=long_ago)
    alive = store(workspace, status=JobStatus.RUNNING, attempts=1, started_at=long_ago, heartbeat_at=utcnow())
    assert rq_job(connection, dead) is None  # its worker, and its rq job, are gone
    assert reap(workspace, runner) == [dead]
    work(connection)
    revived = jobs.get_job(workspace, dead)
    assert (revived.status, revived.attempts) == (JobStatus.SUCCESS, 2)
    assert jobs.get_job(workspace, alive).status is JobStatus.RUNNING
    assert rq_job(connection, alive) is None


def test_cancel_of_a_queued_job_ends_it_and_takes_it_off_its_queue(workspace: Workspace, connection: Any) -> None:
    job = jobs.enqueue(workspace, "worker_test_sleepy", project_id=None)
    assert cancel_job(workspace, connection, job.id).status is JobStatus.CANCELLED
    assert rq_status(connection, job.id) is RqStatus.CANCELED
    assert queued_ids(connection, "default") == []


def test_stop_running_sends_nothing_when_no_worker_runs_the_job(workspace: Workspace, connection: Any) -> None:
    assert stop_running(connection, "no-such-job") is False
    job = jobs.enqueue(workspace, "worker_test_sleepy", project_id=None)
    assert stop_running(connection, job.id) is False
    work(connection)
    assert stop_running(connection, job.id) is False


def test_a_database_url_with_a_password_is_kept_out_of_redis() -> None:
    from finetune_worker.runner import redis_safe_url

    assert redis_safe_url("postgresql+psycopg://app:s3cret@db:5432/finetune") is None
    assert redis_safe_url("postgresql+psycopg://app@db:5432/finetune") == "postgresql+psycopg://app@db:5432/finetune"
    assert redis_safe_url("sqlite:////srv/ws/finetune.db") == "sqlite:////srv/ws/finetune.db"
