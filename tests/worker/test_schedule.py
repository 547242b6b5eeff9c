"""The maintenance schedule on RQ (finetune_worker.schedule) with a real redis-server and `finetune worker` processes:
scheduled once whatever the number of workers, run by a worker and repeated by rq, put back when lost."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import kits.worker_jobs  # noqa: F401 - registers the test job types here too
import pytest
from finetune_core.domain import AuthSession, JobStatus, User, new_id, utcnow
from finetune_core.services import jobs, maintenance
from finetune_core.workspace import Workspace
from kits.workers import Workers, wait_until

redis = pytest.importorskip("redis")
pytest.importorskip("rq")
from finetune_worker import RqRunner  # noqa: E402
from finetune_worker.rq_jobs import rq_job, rq_status  # noqa: E402
from finetune_worker.schedule import EVERY_META, REPEATS, ensure_schedule, schedule_id  # noqa: E402
from rq import Worker  # noqa: E402
from rq.job import JobStatus as RqStatus  # noqa: E402
from rq.registry import ScheduledJobRegistry  # noqa: E402
from rq.serializers import JSONSerializer  # noqa: E402

TASKS = sorted(maintenance.TASKS)


@pytest.fixture
def workspace(workspace_on_each_backend: Workspace) -> Workspace:
    return workspace_on_each_backend


@pytest.fixture
def connection(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        client.close()


def ids_of(workspace: Workspace) -> dict[str, str]:
    return {task: schedule_id(task, workspace.root, workspace.settings.database_url) for task in TASKS}


def all_scheduled(connection: redis.Redis, ids: dict[str, str]) -> bool:
    return all(rq_status(connection, job_id) is RqStatus.SCHEDULED for job_id in ids.values())


def runs(connection: redis.Redis, job_id: str) -> int:
    """How many times rq repeated the job so far (each success schedules it again)."""
    job = rq_job(connection, job_id)
    return 0 if job is None or job.repeats_left is None else REPEATS - job.repeats_left


@pytest.mark.parametrize("workspace_on_each_backend", ["sqlite"], indirect=True)
def test_workers_schedule_each_task_once_between_them(workspace: Workspace, redis_url: str, workers: Workers,
                                                      connection: redis.Redis) -> None:
    for _ in range(2):
        workers.start(workspace.root, redis_url)
    ids = ids_of(workspace)
    wait_until(lambda: Worker.count(connection=connection) == 2 and all_scheduled(connection, ids), 60,
               "both workers to listen, the tasks scheduled")
    registry = ScheduledJobRegistry("default", connection=connection, serializer=JSONSerializer)
    assert sorted(registry.get_job_ids()) == sorted(ids.values()), workers.output()  # one job per task, not two
    for task, job_id in ids.items():
        job = rq_job(connection, job_id)
        assert job is not None
        assert (job.meta[EVERY_META], job.repeats_left) == (maintenance.DEFAULT_EVERY_S[task], REPEATS)
        due_in = (registry.get_scheduled_time(job_id) - datetime.now(UTC)).total_seconds()
        assert maintenance.FIRST_RUN_AFTER_S - 60 < due_in <= maintenance.FIRST_RUN_AFTER_S  # a while after start


def test_a_worker_runs_the_scheduled_tasks_and_rq_repeats_them(workspace: Workspace, redis_url: str,
                                                               workers: Workers, connection: redis.Redis) -> None:
    with workspace.unit_of_work() as uow:
        user = uow.users.add(User(email="scheduled@example.com"), "not a real hash")
        expired = uow.auth_sessions.add(AuthSession(user_id=user.id, expires_at=utcnow() - timedelta(days=2)),
                                        new_id())
    orphan = workspace.files.local_path(f"fine_tunes/{new_id()}/train.jsonl")
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"{}\n")
    then = time.time() - 7200
    os.utime(orphan, (then, then))
    workers.env.update(FINETUNE_CLEANUP_EVERY_S="1", FINETUNE_METRICS_EVERY_S="1")  # `--cleanup-every` and friends

    workers.start(workspace.root, redis_url, database_url=workspace.settings.database_url)

    def session_gone() -> bool:
        with workspace.unit_of_work() as uow:
            return not uow.auth_sessions.of_user(user.id)

    wait_until(lambda: session_gone() and not orphan.exists(), 60, f"the cleanup to run (session {expired.id})")
    ids = ids_of(workspace)
    wait_until(lambda: min(runs(connection, job_id) for job_id in ids.values()) >= 2, 60, "each task to run twice")
    metrics = rq_job(connection, ids["metrics"])
    assert metrics is not None
    latest = metrics.latest_result()
    assert latest is not None and latest.return_value["total_users"] == 1, workers.output()
    assert metrics.meta[EVERY_META] == 1


@pytest.mark.parametrize("workspace_on_each_backend", ["sqlite"], indirect=True)
def test_a_lost_schedule_is_put_back(workspace: Workspace, redis_url: str, workers: Workers,
                                     connection: redis.Redis) -> None:
    workers.start(workspace.root, redis_url)  # its reaper looks every 0.5 s here
    ids = ids_of(workspace)
    wait_until(lambda: all_scheduled(connection, ids), 60, "the tasks scheduled")
    lost = rq_job(connection, ids["cleanup"])
    assert lost is not None
    lost.delete()  # Redis lost it, or someone removed it
    wait_until(lambda: all_scheduled(connection, ids), 60, "the reaper to schedule the cleanup again")


@pytest.mark.parametrize("workspace_on_each_backend", ["sqlite"], indirect=True)
def test_a_burst_worker_schedules_nothing(workspace: Workspace, redis_url: str, workers: Workers,
                                          connection: redis.Redis) -> None:
    """A batch run, not a service: it leaves no schedule behind (it has a job to run, as burst workers do)."""
    workspace.runner = RqRunner(connection=connection)
    job = jobs.enqueue(workspace, "worker_test_sleepy", project_id=None)
    workers.run_burst(workspace.root, redis_url)
    assert jobs.get_job(workspace, job.id).status is JobStatus.SUCCESS, workers.output()
    assert all(rq_job(connection, job_id) is None for job_id in ids_of(workspace).values())


@pytest.mark.parametrize("workspace_on_each_backend", ["sqlite"], indirect=True)
def test_ensure_schedule_keeps_a_schedule_and_replaces_what_changed_or_ended(workspace: Workspace,
                                                                            connection: redis.Redis) -> None:
    root, ids = workspace.root, ids_of(workspace)
    assert ensure_schedule(connection, root, None, {"cleanup": 100, "metrics": 50}) == ["cleanup", "metrics"]
    assert ensure_schedule(connection, root, None, {"cleanup": 100, "metrics": 50}) == []  # kept as it is
    assert ensure_schedule(connection, root, None, {"cleanup": 200}) == ["cleanup"]  # another interval
    cleanup = rq_job(connection, ids["cleanup"])
    assert cleanup is not None and cleanup.meta[EVERY_META] == 200
    cleanup.set_status(RqStatus.FAILED)  # a run failed: rq repeats successes only
    assert ensure_schedule(connection, root, None, {"cleanup": 200}) == ["cleanup"]
    assert rq_status(connection, ids["cleanup"]) is RqStatus.SCHEDULED
    assert ensure_schedule(connection, root, None, {"metrics": 0}) == []  # turned off: unscheduled
    assert rq_job(connection, ids["metrics"]) is None
    other = schedule_id("cleanup", root.parent / "another", None)
    assert other != ids["cleanup"]  # one schedule per workspace
    with pytest.raises(ValueError, match="unknown maintenance task"):
        ensure_schedule(connection, root, None, {"vacuum": 60})
