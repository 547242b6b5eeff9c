"""The app factory: `create_app(settings)` gives a Flask app over one Workspace.

Request path: CORS preflight → rate limit → authentication (`finetune_web.auth`) → the route,
which validates its input, calls one core service and shapes the answer; every error becomes the
one error body (`finetune_web.errors`). Bodies hold at most `max_json_bytes` (413 beyond) unless
their route says otherwise (uploads, bulk pairs); every response carries `X-Content-Type-Options:
nosniff`, so a browser never reads one as another type than it says (stored user files as HTML).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finetune_core.errors import UnknownPluginError
from finetune_core.job_runners import job_runner_for
from finetune_core.jobs.runner import InProcessRunner, JobRunner
from finetune_core.keys.cipher import workspace_secret
from finetune_core.settings import Settings as CoreSettings
from finetune_core.workspace import Workspace
from flask import Flask, Request, Response
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wsgi import LimitedStream

from finetune_web import green
from finetune_web.auth import authenticate, init_jwt
from finetune_web.cors import install_cors
from finetune_web.current import EXTENSION, AppState
from finetune_web.docs_assets import install_docs_assets
from finetune_web.errors import register_error_handlers
from finetune_web.event_feed import EventFeed
from finetune_web.openapi import ApiFlask, api_config, make_api
from finetune_web.ratelimit import install_rate_limits, limiter_for
from finetune_web.routes import BLUEPRINTS
from finetune_web.settings import WebSettings

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication

JWT_SECRET_FOLDER = "web"  # <workspace>/web/secret.key: the token-signing secret when none is set


def job_runner(settings: WebSettings) -> JobRunner | None:
    """Queue workers when REDIS_URL is set (the runner an installed plugin registers for it: finetune-worker's
    RQ runner); else this process's threads: native ones under gevent (see `green`), None leaves the workspace's own.

    Raises UnknownPluginError, at start-up, when REDIS_URL is set but no installed plugin runs jobs on Redis.
    """
    if settings.redis_url is not None:
        try:
            return job_runner_for(settings.redis_url)
        except UnknownPluginError as exc:
            raise UnknownPluginError(
                f"REDIS_URL is set, so jobs are to go to queue workers, but {exc.message}: install finetune-worker "
                "(its plugin registers the RQ runner), or unset REDIS_URL to run jobs in this process",
                **exc.context,
            ) from None
    if green.patched():
        threads = CoreSettings.from_env().job_threads
        return InProcessRunner(threads, pool=green.native_thread_pool(threads))
    return None


def open_workspace(settings: WebSettings) -> Workspace:
    return Workspace.open(settings.workspace, database_url=settings.database_url, runner=job_runner(settings))


def jwt_secret(settings: WebSettings, workspace: Workspace) -> str:
    """The configured secret, else one made once and kept in the workspace (every worker reads the same)."""
    if settings.jwt_secret:
        return settings.jwt_secret
    folder = workspace.root / JWT_SECRET_FOLDER
    folder.mkdir(mode=0o700, exist_ok=True)
    return workspace_secret(folder)


class ApiRequest(Request):
    """Flask's request, refusing a streamed (chunked) body over the limit with 413 where werkzeug would cut it short."""

    def get_data(self, *args: Any, **kwargs: Any) -> Any:
        data = super().get_data(*args, **kwargs)
        stream = self.stream  # a body without Content-Length: werkzeug reads max_content_length of it, and stops
        if (self.content_length is None and isinstance(stream, LimitedStream) and stream.is_exhausted
                and self.environ["wsgi.input"].read(1)):
            raise RequestEntityTooLarge()
        return data


def no_sniffing(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def create_app(settings: WebSettings | None = None, *, workspace: Workspace | None = None) -> Flask:
    """The API; `workspace` lets a caller (a test) bring its own, else one is opened from the settings."""
    settings = settings or WebSettings.from_env()
    app = ApiFlask("finetune_web")
    app.request_class = ApiRequest
    if settings.proxy_hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops)  # type: ignore[method-assign]
    opened = workspace or open_workspace(settings)
    state = AppState(settings, opened, limiter_for(settings), EventFeed(opened))
    app.extensions[EXTENSION] = state
    app.config.update(api_config(settings))
    app.config["MAX_CONTENT_LENGTH"] = settings.max_json_bytes  # routes that take more raise it for themselves
    app.json.sort_keys = False  # type: ignore[attr-defined]
    register_error_handlers(app)
    init_jwt(app, settings, jwt_secret(settings, state.workspace))
    install_cors(app, settings.cors_origins)
    install_rate_limits(app, state.limiter)
    app.before_request(authenticate)
    make_api(app, BLUEPRINTS)
    install_docs_assets(app)
    app.after_request(no_sniffing)  # registered last: runs first of the app's hooks (a failing one stops the rest)
    return app


def create_wsgi_app(settings: WebSettings | None = None, *, workspace: Workspace | None = None) -> WSGIApplication:
    """What `finetune serve` runs: the API, with its Socket.IO events (`finetune_web.realtime`) at /ws/socket.io on
    the same port. Built in each worker after gevent patched it, so the server's async mode matches the worker's."""
    from finetune_web import realtime

    return realtime.wrap(create_app(settings, workspace=workspace))
