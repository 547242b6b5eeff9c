"""Jobs: a project's list, one job (≡ the studio's path), cancel, and its events as Server-Sent Events."""

from __future__ import annotations

from typing import Any

from finetune_core.domain import Job
from finetune_core.services import jobs
from flask import Response
from flask.views import MethodView

from finetune_web.current import owned_job, owned_project, state, workspace
from finetune_web.openapi import ApiBlueprint
from finetune_web.pagination import Page, page
from finetune_web.schemas.bridge import schema_for
from finetune_web.schemas.jobs import JobCancelled, JobListArgs, JobOut
from finetune_web.sse import EVENT_STREAM, event_stream_response

blp = ApiBlueprint("jobs", __name__, url_prefix="/api", description="Background jobs of every kind")
STREAM_DOC = ("`text/event-stream`: `id:` the event's seq, `event:` log, progress, eval, checkpoint, complete or "
              "error, `data:` its JSON; resumes after `Last-Event-ID`; ends after the job's last event")


@blp.route("/projects/<project_id>/jobs")
class ProjectJobs(MethodView):
    @blp.arguments(schema_for(JobListArgs), location="query")
    @blp.response(200, schema_for(Page[JobOut]))
    def get(self, args: JobListArgs, project_id: str) -> dict[str, Any]:
        """The project's jobs, newest first (filters: type, status)"""
        project = owned_project(project_id)
        found, total = jobs.list_jobs(workspace(), project_id=project.id, type=args.type, status=args.status,
                                      limit=args.limit, offset=args.offset)
        return page(found, total, args)


@blp.route("/jobs/<job_id>", endpoint="job")
@blp.route("/studio/jobs/<job_id>", endpoint="studio_job")
class JobItem(MethodView):
    @blp.response(200, schema_for(JobOut))
    def get(self, job_id: str) -> Job:
        """One job: status, progress, result summary, error"""
        return owned_job(job_id)


@blp.route("/jobs/<job_id>/cancel")
class JobCancel(MethodView):
    @blp.response(200, schema_for(JobCancelled))
    def post(self, job_id: str) -> dict[str, Any]:
        """Cancel a job: a queued one ends at once, a running one at its next check; 409 when it has ended"""
        job = jobs.cancel_job(workspace(), owned_job(job_id).id)
        message = "cancelled" if job.status.finished else "cancel requested: the job stops at its next check"
        return {**job.model_dump(), "message": message}


@blp.route("/jobs/<job_id>/events/stream")
class JobEvents(MethodView):
    @blp.response(200, content_type=EVENT_STREAM, description=STREAM_DOC)
    def get(self, job_id: str) -> Response:
        """The job's events as Server-Sent Events, live until it ends"""
        return event_stream_response(workspace(), owned_job(job_id).id, state().feed)
