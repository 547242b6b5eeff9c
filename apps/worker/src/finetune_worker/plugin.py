"""The worker's plugin, found through the `finetune` entry point `worker`: it adds `finetune worker`, and registers
the `rq` job runner, which apps given a Redis URL get from the core (`finetune_core.job_runners.job_runner_for`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finetune_core.hookspecs import Register, hookimpl
from finetune_core.job_runners import JobRunnerFactory

if TYPE_CHECKING:
    from finetune_core.jobs.runner import JobRunner

REDIS_SCHEMES = ("redis", "rediss", "unix")  # what redis-py's Redis.from_url accepts


@hookimpl
def finetune_register_commands(cli: Any) -> None:
    from finetune_worker.cli import worker

    cli.add_command(worker)


def rq_runner(redis_url: str) -> JobRunner:
    from finetune_worker.runner import RqRunner  # rq and redis load only when a runner is made

    return RqRunner(redis_url)


@hookimpl
def finetune_register_job_runners(register: Register) -> None:
    register(JobRunnerFactory(name="rq", schemes=REDIS_SCHEMES, create=rq_runner,
                              description="RQ queues on Redis, served by `finetune worker` processes"))
