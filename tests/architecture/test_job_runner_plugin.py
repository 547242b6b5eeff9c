"""Apps never import each other: the web app gets the worker's RQ runner from the core's registry.

The worker's plugin registers a JobRunnerFactory for Redis URLs (`finetune_register_job_runners`); the web app
asks `finetune_core.job_runners.job_runner_for(REDIS_URL)`. Without such a plugin, the app refuses to start.
(import-linter's `packages` contract, in `nox -s lint`, checks that no import crosses between the apps.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from finetune_core.errors import UnknownPluginError
from finetune_core.job_runners import job_runner_for
from finetune_core.plugins import Registry, registries

REDIS_URL = "redis://:s3cret@127.0.0.1:1/0"  # nothing listens there: a runner connects only when used


def test_the_worker_plugin_registers_the_rq_runner_for_redis_urls() -> None:
    from finetune_worker.runner import RqRunner

    factory = registries().job_runners.get("rq")
    assert registries().job_runners.owner("rq") == "worker"
    assert {"redis", "rediss", "unix"} <= set(factory.schemes)
    runner = job_runner_for(REDIS_URL)
    try:
        assert isinstance(runner, RqRunner)
    finally:
        runner.shutdown()


def test_a_queue_url_no_plugin_serves_is_refused_without_showing_the_url() -> None:
    with pytest.raises(UnknownPluginError) as refused:
        job_runner_for(REDIS_URL, factories=[])
    assert "'redis'" in refused.value.message and "none" in refused.value.message
    assert "s3cret" not in str(refused.value)
    with pytest.raises(UnknownPluginError, match="'amqp'"):
        job_runner_for("amqp://127.0.0.1/")  # the rq runner serves Redis URLs only


def test_the_web_app_refuses_to_start_on_redis_when_no_plugin_runs_jobs_there(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from finetune_web import create_app
    from finetune_web.settings import WebSettings

    monkeypatch.setattr(registries(), "job_runners", Registry("job runner"))  # as if finetune-worker were absent
    with pytest.raises(UnknownPluginError) as refused:
        create_app(WebSettings(workspace=tmp_path, rate_limits=False, redis_url=REDIS_URL))
    assert "REDIS_URL is set" in refused.value.message and "install finetune-worker" in refused.value.message
    assert "s3cret" not in str(refused.value)
    assert not any(tmp_path.iterdir())  # refused before the workspace was opened


def test_finetune_serve_refuses_such_a_redis_url_before_it_forks_its_workers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from finetune_web.serve import prepare_workspace
    from finetune_web.settings import WebSettings

    monkeypatch.setattr(registries(), "job_runners", Registry("job runner"))  # as if finetune-worker were absent
    with pytest.raises(UnknownPluginError, match="REDIS_URL is set"):
        prepare_workspace(WebSettings(workspace=tmp_path, rate_limits=False, redis_url=REDIS_URL))
    assert not any(tmp_path.iterdir())  # refused before the workspace was made
