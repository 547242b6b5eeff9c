"""The worker process: an rq worker on the chosen queues, a reaper beside it, the core's job functions in its horses."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from finetune_core.services.maintenance import DEFAULT_EVERY_S
from redis import Redis
from rq import SpawnWorker, Worker
from rq.serializers import JSONSerializer

from finetune_worker.logs import log_to_stderr
from finetune_worker.reaper import reap_once, start_reaper
from finetune_worker.schedule import ensure_schedule, schedule_queue
from finetune_worker.tasks import import_job_modules

GPU_QUEUE = "gpu"
REAPER_STOP_S = 5.0


@dataclass
class WorkerOptions:
    root: Path  # the workspace the reaper watches (jobs themselves carry their database URL and files root)
    redis_url: str
    queues: Sequence[str] = ("default",)
    database_url: str | None = None
    burst: bool = False
    name: str | None = None
    reap_interval_s: float = 30.0
    imports: Sequence[str] = field(default_factory=tuple)
    # seconds between the maintenance tasks' runs (cleanup, metrics; 0: never), scheduled on RQ unless `burst`
    maintenance_every_s: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_EVERY_S))


def worker_class_for(queues: Sequence[str]) -> type[Worker]:
    """SpawnWorker when the gpu queue is served: each work horse is a fresh interpreter, never a fork.

    CUDA cannot be used in a process forked from one that initialised it; the plain Worker forks a horse per job.
    """
    return SpawnWorker if GPU_QUEUE in queues else Worker


def refuse_if_cuda_initialised() -> None:
    """Stop before working if this process has initialised CUDA: whatever it forks could not use the GPU."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        raise RuntimeError("CUDA is initialised in the worker process; its work horses must start without it")


def run_worker(options: WorkerOptions) -> bool:
    """Work the queues (until stopped, or until they are empty with `burst`); True if any job ran."""
    log_to_stderr()
    if options.database_url:  # for work horses of jobs whose URL (with a password) was kept out of Redis
        os.environ["FINETUNE_DATABASE_URL"] = options.database_url
    import_job_modules(options.imports)
    refuse_if_cuda_initialised()
    connection = Redis.from_url(options.redis_url)
    try:
        reap_once(options.root, options.database_url, connection)  # a burst worker finishes what dead ones left
        schedule = None if options.burst else (dict(options.maintenance_every_s), schedule_queue(options.queues))
        if schedule is not None:
            ensure_schedule(connection, options.root, options.database_url, schedule[0], queue=schedule[1])
        reaper = None if options.burst else start_reaper(options.root, options.database_url, options.redis_url,
                                                         options.reap_interval_s, schedule)
        try:
            worker = worker_class_for(options.queues)(list(options.queues), name=options.name, connection=connection,
                                                      serializer=JSONSerializer)
            return worker.work(burst=options.burst, with_scheduler=True)  # the scheduler brings retries back
        finally:
            if reaper is not None:
                reaper.terminate()
                reaper.join(REAPER_STOP_S)
    finally:
        connection.close()
