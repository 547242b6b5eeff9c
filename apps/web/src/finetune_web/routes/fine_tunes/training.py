"""Training (finetuneflow §8): start, status, the log stream and cancel of a project's training run.

A project's run is its latest fine-tuning (`run_id` is the fine-tuning's id, shown whole at
/api/fine-tunings/{run_id}); `job_id` is the background job that drives it. The stream is that
job's event log as Server-Sent Events under finetuneflow's names:

    log         {step, train_loss, learning_rate, epoch}      a training step (other metrics beside)
    progress    {progress_pct, message}                       progress, and every line without metrics
    eval        {step, eval_loss, perplexity}
    checkpoint  {step, path}
    complete    {status: "success", duration_seconds, final_train_loss}
    error       {status: "failed", error}                     {status: "cancelled", ...} for a cancelled run

It answers 200 at once, before any run too: it follows the latest run when it opens, or the
first one to start, and ends after that run's last event. `id:` is the event's position in the
run's log, so `Last-Event-ID` resumes after what was seen; a comment every 15 s keeps it open.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from finetune_core.domain import FineTune, JobEvent
from finetune_core.errors import NotFoundError
from finetune_core.services import fine_tunes, jobs, training_runs
from flask import Response
from flask.views import MethodView

from finetune_web.current import caller, origin, owned_project, state, workspace
from finetune_web.errors import ApiError
from finetune_web.openapi import ApiBlueprint
from finetune_web.optional import LOCAL_GPU_HINT
from finetune_web.schemas.bridge import schema_for
from finetune_web.schemas.training import (
    DEFAULT_TRAINER,
    JOB_STATUS,
    TrainCancelled,
    TrainStartBody,
    TrainStarted,
    TrainStatusOut,
)
from finetune_web.sse import EVENT_STREAM, event_stream_response, format_event, last_event_id

if TYPE_CHECKING:
    from finetune_core.workspace import Workspace

blp = ApiBlueprint("training", __name__, url_prefix="/api/projects",
                   description="A project's training run (finetuneflow): start, status, log stream, cancel")
STREAM_DOC = ("`text/event-stream` of the latest run: `event:` log, progress, eval, checkpoint, complete or error "
              "(finetuneflow's payloads), `id:` its position, resumed after `Last-Event-ID`; open before any run, "
              "ended after the run's last event")


def start_run(project_id: str, *, trainer: str, **request: Any) -> FineTune:
    """Start a fine-tuning for the caller; 501 when the default `local` trainer's plugin is not installed."""
    if trainer == DEFAULT_TRAINER and trainer not in workspace().plugins.trainers:
        raise ApiError(501, "PLUGIN_NOT_INSTALLED", f"local training is not available on this server: {LOCAL_GPU_HINT}",
                       trainer=trainer)
    return training_runs.start_training(workspace(), project_id, trainer=trainer, owner_id=caller().owner_id,
                                        origin=origin(), **request)


class LatestRun:
    """The job the stream follows: the project's latest run when first asked, else the first one to start."""

    def __init__(self, workspace: Workspace, project_id: str) -> None:
        self.workspace, self.project_id = workspace, project_id
        self.job_id: str | None = None

    def __call__(self) -> str | None:
        if self.job_id is None:
            found = fine_tunes.latest_fine_tune(self.workspace, self.project_id)
            self.job_id = found.job_id if found else None
        return self.job_id


class FinetuneflowEvents:
    """Turns the stream of a run's job events into finetuneflow's events (see the module doc)."""

    def __init__(self, workspace: Workspace, run: LatestRun, after_seq: int) -> None:
        self.workspace, self.run, self.after_seq = workspace, run, after_seq
        self.progress_pct: float | None = None  # the last one sent; None: not known yet

    def translate(self, chunks: Iterable[str] | Iterable[bytes]) -> Iterator[str]:
        """`sse.job_events`' text with each event rewritten; comments pass as they are."""
        try:
            for piece in chunks:
                chunk = piece.decode() if isinstance(piece, bytes) else piece
                event = self._parsed(chunk)
                if event is None:
                    yield chunk
                    continue
                name, data = self.finetuneflow(event)
                yield format_event(event.model_copy(update={"type": name, "data": data}))
        except NotFoundError:  # the project went away before its first run
            return
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    def _parsed(self, chunk: str) -> JobEvent | None:
        fields = dict(line.split(": ", 1) for line in chunk.splitlines() if ": " in line and not line.startswith(":"))
        if "event" not in fields:
            return None
        return JobEvent(seq=int(fields["id"]), job_id=self.run.job_id or "", type=fields["event"],
                        data=json.loads(fields["data"]))

    def finetuneflow(self, event: JobEvent) -> tuple[str, dict[str, Any]]:
        data = event.data
        if event.type == "progress":
            self.progress_pct = float(data.get("progress_pct") or 0.0)
            return "progress", {"progress_pct": self.progress_pct, "message": data.get("message") or
                                f"{self.progress_pct:g}%"}
        if event.type == "log" and "step" in data and "message" not in data:
            point = {key: value for key, value in data.items() if key not in ("step", "train_loss")}
            return "log", {"step": data["step"], "train_loss": data.get("train_loss"),
                           "learning_rate": data.get("learning_rate"), "epoch": data.get("epoch"), **point}
        if event.type == "log" and data.get("status") == "cancelled":
            return "error", {"status": "cancelled", "error": data.get("message") or "Training job cancelled"}
        if event.type == "log":
            return "progress", {"progress_pct": self._progress_before(), "message": data.get("message", "")}
        if event.type == "complete":
            summary = data.get("result_summary") or {}
            return "complete", {"status": "success", "duration_seconds": summary.get("duration_seconds"),
                                "final_train_loss": summary.get("final_train_loss"),
                                "final_eval_loss": summary.get("final_valid_loss"), "model_id": summary.get("model_id")}
        if event.type == "error":
            return "error", {"status": "failed", "error": data.get("message") or "training failed"}
        return event.type, data  # eval, checkpoint: already finetuneflow's

    def _progress_before(self) -> float:
        """The progress at this point: the last one sent, or on a resumed stream the last one recorded before."""
        if self.progress_pct is None:
            self.progress_pct, after = 0.0, 0
            while self.run.job_id and after < self.after_seq:
                batch = jobs.events(self.workspace, self.run.job_id, after_seq=after)
                for event in batch:
                    if event.seq > self.after_seq:
                        return self.progress_pct
                    if event.type == "progress":
                        self.progress_pct = float(event.data.get("progress_pct") or 0.0)
                after = batch[-1].seq if batch else self.after_seq
        return self.progress_pct


@blp.route("/<project_id>/train/start")
class TrainStart(MethodView):
    @blp.arguments(schema_for(TrainStartBody), required=False)
    @blp.response(202, schema_for(TrainStarted))
    def post(self, body: TrainStartBody, project_id: str) -> dict[str, Any]:
        """Start training the project's dataset; 409 TRAINING_ALREADY_RUNNING while a run is active

        Defaults: the `local` trainer and the project's `base_model_id`; 401 API_KEY_MISSING when a hosted
        trainer's key is missing, 400 when the dataset has no valid example yet.
        """
        project = owned_project(project_id)
        fine_tune = start_run(project.id, trainer=body.trainer, base_model=body.base_model, method=body.method,
                              hyperparameters=body.hyperparams, options=body.options, name=body.name,
                              description=body.description)
        job = jobs.get_job(workspace(), fine_tune.job_id or "")
        return {"job_id": job.id, "run_id": fine_tune.id, "status": job.status,
                "message": f"Training job enqueued on {job.queue}_queue"}


@blp.route("/<project_id>/train/status")
class TrainStatus(MethodView):
    @blp.response(200, schema_for(TrainStatusOut))
    def get(self, project_id: str) -> TrainStatusOut:
        """The project's current or last training run; 404 NO_TRAINING_RUN before its first"""
        return TrainStatusOut.of(training_runs.latest_run(workspace(), owned_project(project_id).id))


@blp.route("/<project_id>/train/logs/stream")
class TrainLogs(MethodView):
    @blp.response(200, content_type=EVENT_STREAM, description=STREAM_DOC)
    def get(self, project_id: str) -> Response:
        """The training log of the latest run as Server-Sent Events, live until the run ends"""
        project = owned_project(project_id)
        run = LatestRun(workspace(), project.id)
        response = event_stream_response(workspace(), run, state().feed)
        response.response = FinetuneflowEvents(workspace(), run, last_event_id()).translate(response.response)
        return response


@blp.route("/<project_id>/train/cancel")
class TrainCancel(MethodView):
    @blp.response(200, schema_for(TrainCancelled))
    def post(self, project_id: str) -> TrainCancelled:
        """Cancel the project's training run; 409 JOB_ALREADY_FINISHED once it has ended"""
        run = training_runs.latest_run(workspace(), owned_project(project_id).id)
        cancelled = training_runs.cancel_training(workspace(), run.id)
        ended = cancelled.status.finished
        return TrainCancelled(run_id=cancelled.id, job_id=cancelled.job_id, status=JOB_STATUS[cancelled.status],
                              cancel_requested=True, message="Training job cancelled" if ended else
                              "cancel requested: the training stops at its next check")
