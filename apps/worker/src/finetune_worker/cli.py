"""`finetune worker`: added to the core's CLI by this package's plugin."""

from __future__ import annotations

import click
from finetune_core.cli.common import state
from finetune_core.services import maintenance


@click.command("worker")
@click.option("--queues", default="default", show_default=True,
              help="Queues to serve, comma-separated, in priority order: default, gpu (GPU hosts).")
@click.option("--redis-url", envvar="REDIS_URL", default=None, help="Redis to take jobs from (default: $REDIS_URL).")
@click.option("--burst", is_flag=True, help="Run the jobs queued now, then exit.")
@click.option("--name", default=None, help="Worker name, unique among running workers (default: random).")
@click.option("--import", "imports", multiple=True, metavar="MODULE",
              help="Import MODULE first, here and in every work horse (e.g. one registering job types).")
@click.option("--reap-interval", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="Seconds between looks for jobs whose worker died.")
@click.option("--cleanup-every", type=click.IntRange(0), default=maintenance.CLEANUP_EVERY_S, show_default=True,
              envvar="FINETUNE_CLEANUP_EVERY_S", help="Seconds between the scheduled maintenance cleanups (0: never; "
                                                      "scheduled once on Redis for all workers; not with --burst).")
@click.option("--metrics-every", type=click.IntRange(0), default=maintenance.METRICS_EVERY_S, show_default=True,
              envvar="FINETUNE_METRICS_EVERY_S", help="Seconds between the scheduled metrics collections (0: never).")
def worker(queues: str, redis_url: str | None, burst: bool, name: str | None, imports: tuple[str, ...],
           reap_interval: float, cleanup_every: int, metrics_every: int) -> None:
    """Run the jobs of the RQ queues: `default`, and `gpu` for local training."""
    if not redis_url:
        raise click.UsageError("finetune worker needs Redis: give --redis-url or set REDIS_URL "
                               "(without it, jobs run in the process that starts them)")
    names = [queue.strip() for queue in queues.split(",") if queue.strip()]
    if not names:
        raise click.UsageError("--queues names no queue")
    from finetune_worker.worker import WorkerOptions, run_worker

    cli_state = state()
    run_worker(WorkerOptions(root=cli_state.workspace_path, database_url=cli_state.database_url,
                             redis_url=redis_url, queues=names, burst=burst, name=name,
                             reap_interval_s=reap_interval, imports=imports,
                             maintenance_every_s={maintenance.CLEANUP: cleanup_every,
                                                  maintenance.METRICS: metrics_every}))
