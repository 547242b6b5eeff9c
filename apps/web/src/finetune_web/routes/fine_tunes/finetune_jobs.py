"""Fine-tune jobs (dualqueryintelligence's `/api/finetune`): the same fine-tunings, in its shape.

`PATCH /api/finetune/{id}/status` is for workers and admins: a worker presents the server's
WORKER_TOKEN as its bearer (no account needed), an admin their access token; the owner gets 403.
"""

from __future__ import annotations

import functools
import hmac
from typing import Any

from finetune_core.domain import FineTune
from finetune_core.services import fine_tunes, sessions, training_runs, users
from flask import g, request
from flask.views import MethodView
from flask_jwt_extended import get_jwt, verify_jwt_in_request

from finetune_web.auth import PUBLIC, SESSION_CLAIM
from finetune_web.current import Caller, caller, owned_project, state, workspace
from finetune_web.errors import ApiError
from finetune_web.openapi import ApiBlueprint
from finetune_web.pagination import ListArgs, Page, page
from finetune_web.routes.fine_tunes.training import start_run
from finetune_web.schemas.bridge import schema_for
from finetune_web.schemas.finetune_jobs import (
    FinetuneJobCreate,
    FinetuneJobOut,
    FinetuneStatusQuery,
    FinetuneStatusUpdate,
)

blp = ApiBlueprint("finetune", __name__, url_prefix="/api/finetune",
                   description="Fine-tune jobs (dualqueryintelligence); status reports from workers")


def _worker_bearer() -> bool:
    """Whether the request's bearer is the configured WORKER_TOKEN (compared in constant time)."""
    expected = state().settings.worker_token
    header = request.headers.get("Authorization", "")
    if not expected or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header.removeprefix("Bearer ").strip().encode(), expected.encode())


def _signed_in() -> Caller:
    """The caller behind an access token (or the local user), checked as `finetune_web.auth` does."""
    if state().settings.local_mode:
        return Caller(users.local_user(workspace()), None, local=True)
    verify_jwt_in_request()
    claims = get_jwt()
    user, session = sessions.check_access(workspace(), str(claims.get(SESSION_CLAIM, "")), str(claims["sub"]))
    return Caller(user, session)


def reporter_may_update(finetune_id: str) -> FineTune:
    """The fine-tuning, if a worker or an admin asks (see `reporter_first`); 404 for someone else's, 403 for its
    plain owner."""
    if g.worker:
        return training_runs.owned_fine_tune(workspace(), finetune_id, None)
    who: Caller = g.caller
    if who.user.is_admin:
        return training_runs.owned_fine_tune(workspace(), finetune_id, None)
    training_runs.owned_fine_tune(workspace(), finetune_id, who.owner_id)
    raise ApiError(403, "FORBIDDEN", "only workers (with the WORKER_TOKEN bearer) and admins report the status "
                   "of a fine-tuning", fine_tune_id=finetune_id)


def reporter_first(view: Any) -> Any:
    """Authenticate the reporter, a worker (its bearer) or a signed-in user, before the arguments are read, as
    `authenticate` does for other routes, which passes this one by (it stays documented as bearer): a stranger
    gets 401, never a 422."""

    @functools.wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        g.worker = _worker_bearer()
        if not g.worker:
            g.caller = _signed_in()
        return view(*args, **kwargs)

    setattr(checked, PUBLIC, True)
    return checked


@blp.route("")
class FinetuneJobs(MethodView):
    @blp.arguments(schema_for(ListArgs), location="query")
    @blp.response(200, schema_for(Page[FinetuneJobOut]))
    def get(self, args: ListArgs) -> dict[str, Any]:
        """The caller's fine-tune jobs, newest first"""
        found, total = fine_tunes.list_fine_tunes(workspace(), owner_id=caller().owner_id, limit=args.limit,
                                                  offset=args.offset)
        return page([FinetuneJobOut.of(fine_tune) for fine_tune in found], total, args)

    @blp.arguments(schema_for(FinetuneJobCreate))
    @blp.response(201, schema_for(FinetuneJobOut))
    def post(self, body: FinetuneJobCreate) -> FinetuneJobOut:
        """Start a fine-tune job on a dataset (default trainer: local); 404 for an unknown dataset"""
        project = owned_project(body.dataset_id)
        fine_tune = start_run(project.id, trainer=body.trainer, base_model=body.base_model, method=body.method,
                              hyperparameters=body.hyperparameters, options=body.options, name=body.name)
        return FinetuneJobOut.of(fine_tune)


@blp.route("/<finetune_id>")
class FinetuneJobItem(MethodView):
    @blp.response(200, schema_for(FinetuneJobOut))
    def get(self, finetune_id: str) -> FinetuneJobOut:
        """One fine-tune job"""
        return FinetuneJobOut.of(training_runs.owned_fine_tune(workspace(), finetune_id, caller().owner_id))


@blp.route("/<finetune_id>/status")
class FinetuneJobStatus(MethodView):
    @reporter_first
    @blp.arguments(schema_for(FinetuneStatusQuery), location="query")
    @blp.arguments(schema_for(FinetuneStatusUpdate), required=False)
    @blp.response(200, schema_for(FinetuneJobOut))
    def patch(self, query: FinetuneStatusUpdate, body: FinetuneStatusUpdate, finetune_id: str) -> FinetuneJobOut:
        """Report a fine-tune job's status, progress, current step and logs (workers and admins only)

        As query arguments or a JSON body. Bearer: the server's WORKER_TOKEN, or an admin's access token
        (403 for the plain owner). 400 NO_CHANGES when nothing is given.
        """
        fine_tune = reporter_may_update(finetune_id)
        given = {**query.model_dump(exclude_unset=True), **body.model_dump(exclude_unset=True)}
        report = FinetuneStatusUpdate.model_validate(given)
        return FinetuneJobOut.of(training_runs.report_status(
            workspace(), fine_tune.id, status=report.status_update, progress=report.progress,
            current_step=report.current_step, logs=report.logs))
