"""`finetune serve`: the API on gunicorn, a production WSGI server (127.0.0.1:8000 by default).

gevent workers by default: each connection is a greenlet, so the event streams of a few open dashboards
(and the chats' token streams and Socket.IO connections) do not take the threads that ordinary requests need;
a worker holds up to `--connections` of them. Jobs that the server runs itself go to native threads (see
`finetune_web.green`). `--worker-class gthread` gives the thread-per-connection model (`--threads` each).
Each worker builds its own app after the fork (the API with Socket.IO at /ws/socket.io, `create_wsgi_app`);
the workspace's database is created before, once.

gunicorn reads the request line (method, URL, version) and the headers before the app sees them,
within `REQUEST_LIMITS`: a request line of at most 8190 bytes (gunicorn's maximum: 0 would read one of
any length into memory), 100 headers of at most 8190 bytes each. What it refuses (414 over the line's
limit, 431 over the headers', 400 for a malformed request) answers the API's JSON error body, as
every other error does, not gunicorn's HTML page (`JsonErrorWorker`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from gunicorn import util
from gunicorn.app.base import BaseApplication
from gunicorn.http.errors import ForbiddenProxyRequest, LimitRequestHeaders, LimitRequestLine, ParseException
from gunicorn.workers.gthread import ThreadWorker

from finetune_web.settings import WebSettings

if TYPE_CHECKING:
    from finetune_core.jobs.schedule import IntervalScheduler
    from finetune_core.workspace import Workspace

REQUEST_LIMITS = {"limit_request_line": 8190, "limit_request_fields": 100, "limit_request_field_size": 8190}
# gunicorn's refusals of a request, the first that fits; any other error in gunicorn's hands is a 500
REFUSALS: tuple[tuple[type[Exception], int], ...] = (
    (LimitRequestLine, 414),
    (LimitRequestHeaders, 431),
    (ForbiddenProxyRequest, 403),
    (ParseException, 400),
)


def refusal_status(error: BaseException) -> int:
    return next((status for kind, status in REFUSALS if isinstance(error, kind)), 500)


def error_page(status: int, detail: str) -> bytes:
    """A whole HTTP response carrying the API's error body; the connection closes after it."""
    from finetune_web.errors import code_of, error_body  # loaded with the app, before any request

    body = json.dumps(error_body(detail, code_of(status))).encode()
    head = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "X-Content-Type-Options: nosniff\r\n\r\n")
    return head.encode("latin-1") + body


class JsonErrors:
    """Answers what gunicorn refuses itself (a worker's `handle_error`) in the API's JSON error body."""

    log: Any

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        status = refusal_status(exc)
        if status < 500:
            self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)
            detail = str(exc) or HTTPStatus(status).phrase
        else:
            self.log.exception("Error handling request %s", getattr(req, "uri", "(no URI read)"))
            detail = "internal server error"
        try:
            util.write_nonblock(client, error_page(status, detail))
        except Exception:  # the client is gone: nobody left to answer
            self.log.debug("Failed to send error message.")


class JsonErrorWorker(JsonErrors, ThreadWorker):  # type: ignore[misc]
    """gunicorn's gthread worker with the API's error body."""


# gunicorn imports it in the workers only when chosen, so gevent is not imported by every command
WORKER_CLASSES = {"gevent": "finetune_web.gevent_worker.JsonErrorGeventWorker", "gthread": JsonErrorWorker}


class ApiServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: WebSettings, options: dict[str, Any], *,
                 maintenance_every_s: Mapping[str, int] | None = None) -> None:
        self.settings = settings
        self.options = options
        self.maintenance_every_s = maintenance_every_s
        self.maintenance: IntervalScheduler | None = None
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from finetune_web.app import create_wsgi_app, open_workspace

        workspace = open_workspace(self.settings)
        self.maintenance = start_maintenance(self.settings, workspace, self.maintenance_every_s)
        return create_wsgi_app(self.settings, workspace=workspace)  # the API and its Socket.IO events, one port


def start_maintenance(settings: WebSettings, workspace: Workspace, every_s: Mapping[str, int] | None = None
                      ) -> IntervalScheduler | None:
    """Without REDIS_URL no `finetune worker` runs the maintenance schedule (cleanup, metrics): this server process
    does, on a thread of its own (each process of the server: the tasks are safe to run side by side). Under gevent
    the tasks run on a native thread, as jobs do. None with REDIS_URL (the worker schedules them on RQ)."""
    if settings.redis_url is not None:
        return None
    from finetune_core.services import maintenance

    from finetune_web import green

    pool = green.native_thread_pool(1) if green.patched() else None
    return maintenance.in_process_schedule(workspace, every_s, pool=pool).start()


def prepare_workspace(settings: WebSettings) -> None:
    """Create (or migrate) the workspace's database and its token secret here, before the fork: workers that
    all did it at once raced, and a worker that failed to boot stopped the whole server. A REDIS_URL no installed
    plugin runs jobs on is refused here too, rather than by every worker as it boots."""
    from finetune_web.app import job_runner, jwt_secret, open_workspace

    if settings.redis_url is not None:
        runner = job_runner(settings)  # UnknownPluginError, naming what to install, when none serves it
        if runner is not None:
            runner.shutdown(wait=False)
    with open_workspace(settings.model_copy(update={"redis_url": None})) as workspace:
        jwt_secret(settings, workspace)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1),
              help="Processes; with several, set FINETUNE_REDIS_URL so rate limits are shared.")
@click.option("--worker-class", "worker_class", type=click.Choice(sorted(WORKER_CLASSES)), default="gevent",
              show_default=True, help="gevent: one greenlet per connection; gthread: one thread per connection.")
@click.option("--connections", default=1000, show_default=True, type=click.IntRange(1),
              help="Open connections per gevent worker (event streams included).")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1),
              help="Threads per gthread worker (each open event stream holds one).")
@click.option("--local", "local_mode", is_flag=True, default=None,
              help="Local single-user mode: no authentication (FINETUNE_LOCAL_MODE).")
@click.option("--redis-url", envvar="REDIS_URL", default=None,
              help="Redis of the `finetune worker` processes: jobs go to them, rate limits are shared "
                   "(default: $REDIS_URL or $FINETUNE_REDIS_URL; none: jobs run in this server's processes).")
@click.option("--cleanup-every", type=click.IntRange(0), default=None, envvar="FINETUNE_CLEANUP_EVERY_S",
              help="Without Redis: seconds between the server's maintenance cleanups (default: a day; 0: never).")
@click.option("--metrics-every", type=click.IntRange(0), default=None, envvar="FINETUNE_METRICS_EVERY_S",
              help="Without Redis: seconds between the server's metrics collections (default: an hour; 0: never).")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, workers: int, worker_class: str, connections: int, threads: int,
          local_mode: bool | None, redis_url: str | None, cleanup_every: int | None, metrics_every: int | None) -> None:
    """Serve the REST API (OpenAPI at /api/openapi.json, docs at /api/docs)."""
    root = ctx.find_root().params
    workspace_path: Path | None = root.get("workspace_path")
    settings = WebSettings.from_env(workspace=workspace_path, database_url=root.get("database_url"),
                                    local_mode=local_mode, redis_url=redis_url)
    prepare_workspace(settings)
    click.echo(f"finetune API on http://{host}:{port} (workspace {settings.workspace.resolve()}, "
               f"{workers} {worker_class} worker{'s' if workers > 1 else ''})", err=True)
    ApiServer(settings, {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": WORKER_CLASSES[worker_class],
        "worker_connections": connections,
        "threads": threads,
        "accesslog": "-",
        "timeout": 120,
        # longer than clients keep idle connections (httpx: 5 s), so a client never reuses one the server has
        # just closed (a "connection reset" on its next request); gunicorn's default is 2 s
        "keepalive": 75,
        **REQUEST_LIMITS,
    }, maintenance_every_s=maintenance_intervals(cleanup_every, metrics_every)).run()


def maintenance_intervals(cleanup_every: int | None, metrics_every: int | None) -> dict[str, int]:
    """The intervals given (the maintenance module's defaults stand for the others)."""
    given = {"cleanup": cleanup_every, "metrics": metrics_every}
    return {name: seconds for name, seconds in given.items() if seconds is not None}
