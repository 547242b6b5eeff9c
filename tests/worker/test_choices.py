"""The worker's choices and pieces that need no Redis: worker class, CUDA guard, runner choice, CLI, heartbeat."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import kits.worker_jobs  # noqa: F401 - registers the test job types
import pytest
from finetune_core import Workspace
from finetune_core.domain import utcnow
from finetune_core.jobs import InProcessRunner
from finetune_core.services import jobs
from finetune_worker import RqRunner, runner_from_env
from finetune_worker.heartbeat import LivenessHeartbeat
from finetune_worker.worker import refuse_if_cuda_initialised, worker_class_for
from rq import SpawnWorker, Worker


def test_the_heartbeat_refreshes_only_the_attempt_this_process_claimed(finetune_workspace: Workspace) -> None:
    workspace = finetune_workspace
    job = jobs.new_job("worker_test_sleepy", project_id=None)
    with workspace.unit_of_work() as uow:
        uow.jobs.add(job)
    job_id = job.id
    heartbeat = LivenessHeartbeat(workspace, job_id, interval_s=60)  # beaten by hand here
    assert heartbeat.beat() is False  # not claimed yet
    with workspace.unit_of_work() as uow:
        assert uow.jobs.claim(job_id, stale_before=utcnow())
        uow.jobs.update(job_id, heartbeat_at=utcnow() - timedelta(seconds=5))
    assert heartbeat.beat() is True
    assert jobs.get_job(workspace, job_id).heartbeat_at > utcnow() - timedelta(seconds=1)  # type: ignore[operator]
    with workspace.unit_of_work() as uow:
        uow.jobs.update(job_id, attempts=2)  # another worker took it over
    assert heartbeat.beat() is False


def test_the_gpu_queue_gets_the_spawning_worker_class() -> None:
    assert worker_class_for(["gpu"]) is SpawnWorker
    assert worker_class_for(["default", "gpu"]) is SpawnWorker
    assert worker_class_for(["default"]) is Worker


def test_a_worker_refuses_to_start_in_a_process_that_initialised_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(cuda=SimpleNamespace(is_initialized=lambda: True)))
    with pytest.raises(RuntimeError, match="CUDA"):
        refuse_if_cuda_initialised()


def test_without_redis_url_jobs_run_in_process() -> None:
    in_process = runner_from_env({})
    assert isinstance(in_process, InProcessRunner)
    in_process.shutdown()
    queued = runner_from_env({"REDIS_URL": "redis://127.0.0.1:1/0"})  # connects lazily: nothing listens there
    assert isinstance(queued, RqRunner)
    queued.shutdown()
    with pytest.raises(ValueError):
        RqRunner()


def test_the_worker_process_loads_neither_torch_nor_rq_before_working() -> None:
    # `finetune worker` runs in the CLI's process: what the CLI imports, every work horse forked from it would have
    probe = "import sys, finetune_core.cli; print(sorted({'torch', 'rq', 'redis'} & set(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_the_plugin_adds_finetune_worker_which_needs_redis(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from click.testing import CliRunner
    from finetune_core.cli import cli

    assert "worker" in cli.commands
    monkeypatch.delenv("REDIS_URL", raising=False)
    result = CliRunner().invoke(cli, ["--workspace", str(tmp_path), "worker", "--burst"])
    assert result.exit_code == 2
    assert "REDIS_URL" in result.output
