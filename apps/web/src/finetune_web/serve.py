"""`finetune serve`: the API on gunicorn, a production WSGI server (127.0.0.1:8000 by default).

gthread workers, so a Server-Sent Events stream holds a thread, not a whole worker (and is not
killed by the worker timeout). Each worker builds its own app after the fork.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from gunicorn.app.base import BaseApplication

from finetune_web.settings import WebSettings


class ApiServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: WebSettings, options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from finetune_web.app import create_app

        return create_app(self.settings)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1),
              help="Processes; with several, set FINETUNE_REDIS_URL so rate limits are shared.")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1),
              help="Threads per worker (each open event stream holds one).")
@click.option("--local", "local_mode", is_flag=True, default=None,
              help="Local single-user mode: no authentication (FINETUNE_LOCAL_MODE).")
@click.option("--redis-url", envvar="REDIS_URL", default=None,
              help="Redis of the `finetune worker` processes: jobs go to them, rate limits are shared "
                   "(default: $REDIS_URL or $FINETUNE_REDIS_URL; none: jobs run in this server's processes).")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, workers: int, threads: int, local_mode: bool | None,
          redis_url: str | None) -> None:
    """Serve the REST API (OpenAPI at /api/openapi.json, docs at /api/docs)."""
    root = ctx.find_root().params
    workspace_path: Path | None = root.get("workspace_path")
    settings = WebSettings.from_env(workspace=workspace_path, database_url=root.get("database_url"),
                                    local_mode=local_mode, redis_url=redis_url)
    click.echo(f"finetune API on http://{host}:{port} (workspace {settings.workspace.resolve()})", err=True)
    ApiServer(settings, {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "accesslog": "-",
        "timeout": 120,
        # longer than clients keep idle connections (httpx: 5 s), so a client never reuses one the server has
        # just closed (a "connection reset" on its next request); gunicorn's default is 2 s
        "keepalive": 75,
    }).run()
