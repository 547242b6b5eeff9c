"""`finetune worker` processes on a real redis-server: two workers sharing jobs, cancel, dead workers, gpu queue."""

from __future__ import annotations

import os
import signal
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import kits.worker_jobs  # noqa: F401 - registers the test job types here too (enqueue checks the type)
import pytest
from finetune_core import JobStatus, Workspace
from finetune_core.domain import utcnow
from finetune_core.services import jobs
from finetune_core.testing import open_test_workspace
from kits.workers import PROCESS_WAIT_S, STALE_AFTER_S, Workers, wait_until

redis = pytest.importorskip("redis")
pytest.importorskip("rq")
from finetune_worker import RqRunner, cancel_job  # noqa: E402
from finetune_worker.rq_jobs import rq_status  # noqa: E402
from rq import Worker  # noqa: E402
from rq.job import JobStatus as RqStatus  # noqa: E402


@pytest.fixture
def workspace(tmp_path: Path, redis_url: str) -> Iterator[Workspace]:
    """SQLite in a folder the worker processes share."""
    opened = open_test_workspace(tmp_path / "ws", runner=RqRunner(redis_url), job_stale_after_s=STALE_AFTER_S)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_workspace(request: pytest.FixtureRequest, tmp_path: Path, redis_url: str) -> Iterator[Workspace]:
    """A workspace on SQLite (one host) or PostgreSQL (many hosts)."""
    database_url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    opened = open_test_workspace(tmp_path / "ws", runner=RqRunner(redis_url), database_url=database_url,
                                 job_stale_after_s=STALE_AFTER_S)
    try:
        yield opened
    finally:
        opened.close()


def connection_to(workspace: Workspace) -> redis.Redis:
    runner = workspace.runner
    assert isinstance(runner, RqRunner)
    return runner.connection


def wait_for_status(workspace: Workspace, job_id: str, status: JobStatus, timeout_s: float = 20.0) -> None:
    wait_until(lambda: jobs.get_job(workspace, job_id).status is status, timeout_s, f"job {job_id} {status.value}")


def test_a_burst_worker_runs_what_the_core_enqueued(workspace: Workspace, redis_url: str, workers: Workers) -> None:
    queued = [jobs.enqueue(workspace, "worker_test_sleepy", project_id=None).id for _ in range(3)]
    workers.run_burst(workspace.root, redis_url)
    for job_id in queued:
        job = jobs.get_job(workspace, job_id)
        assert job.status is JobStatus.SUCCESS, workers.output()
        assert job.result_summary["argv"][0].endswith("finetune")  # a forked work horse of `finetune worker`
        assert [event.type for event in jobs.events(workspace, job_id)] == ["log", "progress", "complete"]


def test_two_workers_split_the_jobs_and_none_runs_twice(shared_workspace: Workspace, redis_url: str,
                                                        workers: Workers) -> None:
    workspace = shared_workspace
    names = [f"split-{side}-{uuid.uuid4().hex[:6]}" for side in "ab"]
    started = [workers.start(workspace.root, redis_url, database_url=workspace.settings.database_url, name=name)
               for name in names]
    connection = connection_to(workspace)
    wait_until(lambda: Worker.count(connection=connection) == 2, 20, "both workers to listen")
    queued = [jobs.enqueue(workspace, "worker_test_sleepy", project_id=None, seconds=0.2).id for _ in range(20)]
    for job_id in queued:
        wait_for_status(workspace, job_id, JobStatus.SUCCESS, 30)
    done = [jobs.get_job(workspace, job_id) for job_id in queued]
    assert [job.attempts for job in done] == [1] * 20
    starts = [sum(event.type == "log" and "started" in event.data["message"] for event in jobs.events(workspace, j))
              for j in queued]
    assert starts == [1] * 20
    by_worker = Counter(job.result_summary["worker"] for job in done)
    assert set(by_worker) == set(names) and sum(by_worker.values()) == 20, by_worker
    for process in started:
        workers.stop(process)


def test_cancel_stops_a_job_that_watches_its_flag(workspace: Workspace, redis_url: str, workers: Workers) -> None:
    workers.start(workspace.root, redis_url)
    job = jobs.enqueue(workspace, "worker_test_cooperative", project_id=None)
    wait_for_status(workspace, job.id, JobStatus.RUNNING)
    cancelled = cancel_job(workspace, connection_to(workspace), job.id, grace_s=60)  # a bound, not a pace
    assert cancelled.status is JobStatus.CANCELLED
    # the job records its end, then its work horse returns to rq: wait for rq's verdict
    connection = connection_to(workspace)
    wait_until(lambda: rq_status(connection, job.id) not in (RqStatus.QUEUED, RqStatus.STARTED), 60,
               "rq to see the job end")
    assert rq_status(connection, job.id) is RqStatus.FINISHED  # it ended itself: no stop was needed


def test_cancel_stops_a_job_that_ignores_its_flag_with_the_stop_command(workspace: Workspace, redis_url: str,
                                                                         workers: Workers) -> None:
    worker = workers.start(workspace.root, redis_url)
    job = jobs.enqueue(workspace, "worker_test_stubborn", project_id=None, seconds=600)  # never ends by itself here
    wait_for_status(workspace, job.id, JobStatus.RUNNING)
    connection = connection_to(workspace)
    wait_until(lambda: rq_status(connection, job.id) is RqStatus.STARTED, 60, "rq to mark the job started")
    cancelled = cancel_job(workspace, connection, job.id, grace_s=0.5, stop_wait_s=120)  # a bound, not a pace
    assert cancelled.status is JobStatus.CANCELLED and cancelled.cancel_requested
    assert rq_status(connection, job.id) is RqStatus.STOPPED
    assert jobs.events(workspace, job.id)[-1].data == {"message": "cancelled", "by": "rq stop command"}
    after = jobs.enqueue(workspace, "worker_test_sleepy", project_id=None)  # the worker itself lives on
    wait_for_status(workspace, after.id, JobStatus.SUCCESS)
    assert worker.poll() is None


STEPS = 6


class SteppedJob:
    """A resumable job of STEPS steps, each recorded as a `step` event with the pid of the process that did it."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.id = jobs.enqueue(workspace, "worker_test_stepped", project_id=None, steps=STEPS, step_s=0.4).id

    def steps(self) -> list[dict[str, int]]:
        return [event.data for event in jobs.events(self.workspace, self.id) if event.type == "step"]

    def wait_for_stale_heartbeat(self) -> None:
        wait_until(lambda: utcnow().timestamp() - jobs.get_job(self.workspace, self.id).heartbeat_at.timestamp()  # type: ignore[union-attr]
                   > STALE_AFTER_S, 10, "the heartbeat to go stale")


def test_a_job_whose_worker_is_killed_is_finished_by_the_next_with_nothing_done_twice(
        workspace: Workspace, redis_url: str, workers: Workers) -> None:
    job = SteppedJob(workspace)
    first = workers.start(workspace.root, redis_url)
    wait_until(lambda: len(job.steps()) >= 2, 20, "two steps done")
    # the host dies: the worker with its reaper and scheduler, and its work horse (rq gives it a group of its own)
    os.kill(job.steps()[0]["pid"], signal.SIGKILL)
    workers.kill(first, signal.SIGKILL)
    left = jobs.get_job(workspace, job.id)
    assert left.status is JobStatus.RUNNING and len(job.steps()) < STEPS
    job.wait_for_stale_heartbeat()

    workers.run_burst(workspace.root, redis_url)  # its reaper re-enqueues the abandoned job, then it runs it

    finished = jobs.get_job(workspace, job.id)
    assert (finished.status, finished.attempts) == (JobStatus.SUCCESS, 2), workers.output()
    done = job.steps()
    assert sorted(event["n"] for event in done) == list(range(STEPS))  # every step once: none lost, none twice
    by_process = Counter(event["pid"] for event in done)
    assert len(by_process) == 2
    assert finished.result_summary["pid"] in by_process


def test_a_job_whose_worker_saw_its_work_horse_die_before_dying_itself_is_finished_by_the_next(
        workspace: Workspace, redis_url: str, workers: Workers) -> None:
    """The other order of the host dying: the worker outlives its work horse long enough for rq to schedule a
    retry (for when the heartbeat is stale), then dies with its scheduler. The next worker resumes the job."""
    job = SteppedJob(workspace)
    first = workers.start(workspace.root, redis_url)
    wait_until(lambda: len(job.steps()) >= 2, 20, "two steps done")
    os.kill(job.steps()[0]["pid"], signal.SIGKILL)
    connection = redis.Redis.from_url(redis_url)
    wait_until(lambda: rq_status(connection, job.id) is RqStatus.SCHEDULED, 20, "rq to schedule the retry")
    workers.kill(first, signal.SIGKILL)
    job.wait_for_stale_heartbeat()

    workers.run_burst(workspace.root, redis_url)  # its reaper re-enqueues the job now: no scheduler is left

    finished = jobs.get_job(workspace, job.id)
    assert (finished.status, finished.attempts) == (JobStatus.SUCCESS, 2), workers.output()
    assert sorted(event["n"] for event in job.steps()) == list(range(STEPS))


def test_the_gpu_queue_runs_jobs_in_spawned_work_horses(workspace: Workspace, redis_url: str,
                                                        workers: Workers) -> None:
    gpu = jobs.enqueue(workspace, "worker_test_sleepy", project_id=None, queue="gpu")
    default = jobs.enqueue(workspace, "worker_test_sleepy", project_id=None)
    worker = workers.start(workspace.root, redis_url, queues="gpu", burst=True)
    assert worker.wait(PROCESS_WAIT_S) == 0, workers.output()
    ran = jobs.get_job(workspace, gpu.id)
    assert ran.status is JobStatus.SUCCESS, workers.output()
    assert ran.result_summary["argv"] == ["-c"]  # a fresh interpreter (rq's SpawnWorker), not a fork
    assert ran.result_summary["ppid"] == worker.pid and not ran.result_summary["torch_imported"]
    assert jobs.get_job(workspace, default.id).status is JobStatus.QUEUED  # not this worker's queue


def test_a_work_horse_that_outlives_its_worker_keeps_its_job(workspace: Workspace, redis_url: str,
                                                              workers: Workers) -> None:
    # silent for twice the stale time: only the work horse's own heartbeat shows it is alive
    job = jobs.enqueue(workspace, "worker_test_stubborn", project_id=None, seconds=2 * STALE_AFTER_S)
    name = f"first-{uuid.uuid4().hex[:6]}"
    first = workers.start(workspace.root, redis_url, name=name)
    wait_for_status(workspace, job.id, JobStatus.RUNNING)
    workers.kill(first, signal.SIGKILL)  # the worker's group only: its horse runs on, an orphan
    workers.start(workspace.root, redis_url, reap_interval_s=0.2)  # a reaper looking all along
    wait_for_status(workspace, job.id, JobStatus.SUCCESS)
    finished = jobs.get_job(workspace, job.id)
    assert finished.attempts == 1, workers.output()
    assert finished.result_summary["worker"] == name

