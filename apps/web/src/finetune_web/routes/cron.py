"""Crealia's cron jobs: `GET /api/cron/cleanup` and `GET /api/cron/metrics`, for a scheduler outside the server.

The bearer is the server's CRON_SECRET (`FINETUNE_CRON_SECRET`), not a user's access token: these views skip the
app's JWT check (`cron_secret_auth`) and compare the bearer with the secret in constant time. Any other bearer,
none, or a server with no secret set: 401. The worker (or `finetune serve` without Redis) runs the same tasks
on its own schedule (services/maintenance.py).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any, TypeVar

from finetune_core.services import maintenance
from flask import request
from flask.views import MethodView

from finetune_web.auth import PUBLIC
from finetune_web.current import workspace
from finetune_web.errors import ApiError
from finetune_web.openapi import ApiBlueprint
from finetune_web.schemas.bridge import schema_for
from finetune_web.schemas.cron import CleanupOut, MetricsOut

F = TypeVar("F", bound=Callable[..., Any])

blp = ApiBlueprint("cron", __name__, url_prefix="/api/cron",
                   description="Maintenance for an outside scheduler (bearer: the server's CRON_SECRET)")


def cron_secret_auth(view: F) -> F:
    """Skip the app's JWT check (as `finetune_web.auth.public` does): the view checks the CRON_SECRET bearer."""
    setattr(view, PUBLIC, True)
    return view


def require_cron_secret() -> None:
    """401 unless the bearer is the configured cron secret (compared in constant time); always 401 without one."""
    expected = workspace().settings.cron_secret
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if expected and scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(),
                                                                        expected.encode()):
        return
    raise ApiError(401, "INVALID_CRON_SECRET", "the cron routes need Authorization: Bearer <CRON_SECRET>",
                   headers={"WWW-Authenticate": "Bearer"})


@blp.route("/cleanup")
class Cleanup(MethodView):
    @cron_secret_auth
    @blp.response(200, schema_for(CleanupOut))
    def get(self) -> CleanupOut:
        """Remove expired sessions, orphaned files, abandoned uploads and old job events; finish interrupted erasures

        Bearer: the server's CRON_SECRET (401 otherwise). Conservative: nothing changed within the last hour is
        removed, nor any file a row still names. `cleaned` is the sum of `details`.
        """
        require_cron_secret()
        return CleanupOut.of(maintenance.cleanup(workspace()))


@blp.route("/metrics")
class CronMetrics(MethodView):
    @cron_secret_auth
    @blp.response(200, schema_for(MetricsOut))
    def get(self) -> MetricsOut:
        """The service's figures: users (all, and signed in within 30 days), payments, active chats, pending jobs

        Bearer: the server's CRON_SECRET (401 otherwise).
        """
        require_cron_secret()
        return MetricsOut.of(maintenance.metrics(workspace()))
