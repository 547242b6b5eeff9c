"""Fine-tunings as remote callers start, find, cancel and report them, on top of `fine_tunes`.

    fine_tune = training_runs.start_training(workspace, project_id, trainer="local", method="lora",
                                             owner_id=user_id)       # base model: the project's
    training_runs.report_status(workspace, fine_tune.id, status=FineTuneStatus.TRAINING, progress=40,
                                current_step="Epoch 2/5")            # a worker's word on it

`start_training` is `fine_tunes.create_fine_tune` for requests from outside the machine: the base
model defaults to the project's, a hosted trainer's `base_url` option is checked like any URL the
server is asked to call and the base model is one the caller may have loaded (`model_access`: by default
the caller is a web client), and the one-run-per-project conflict says TRAINING_ALREADY_RUNNING.
A worker's report (status, progress, current step, log line) is stored with the fine-tuning and
recorded in its job's event log, so the training stream shows it too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finetune_core.domain import FineTune, FineTuneStatus, utcnow
from finetune_core.errors import ConflictError, InvalidInputError, NotFoundError
from finetune_core.services import fine_tunes
from finetune_core.services.model_access import Origin, check_base_model, check_model_url

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort

REPORT = "status_report"  # the key of `FineTune.state` that keeps the last report of a worker
STEP_LABELS = {FineTuneStatus.QUEUED: "Queued", FineTuneStatus.PREPARING: "Preparing",
               FineTuneStatus.TRAINING: "Training", FineTuneStatus.COMPLETED: "Completed",
               FineTuneStatus.CANCELLED: "Cancelled", FineTuneStatus.ERROR: "Failed"}


def start_training(workspace: WorkspacePort, project_id: str, *, trainer: str, base_model: str | None = None,
                   method: str | None = None, hyperparameters: dict[str, Any] | None = None,
                   options: dict[str, Any] | None = None, name: str | None = None,
                   description: str | None = None, owner_id: str | None = None,
                   origin: Origin = Origin.REMOTE) -> FineTune:
    """Check and start a fine-tuning of the project's dataset; see the module doc."""
    if base_model is None:
        with workspace.unit_of_work() as uow:
            base_model = uow.projects.get(project_id).base_model_id
        if not base_model:
            raise InvalidInputError("no base model: give one, or set the project's base model first",
                                    error_code="BASE_MODEL_REQUIRED", project_id=project_id)
    base_model = check_base_model(workspace, base_model, origin=origin, owner_id=owner_id)
    base_url = (options or {}).get("base_url")
    if isinstance(base_url, str):  # the trainer sends the caller's key there
        check_model_url(workspace.settings, base_url, origin)
    try:
        return fine_tunes.create_fine_tune(
            workspace, project_id, trainer=trainer, base_model=base_model, method=method,
            hyperparameters=hyperparameters, options=options, name=name, description=description, owner_id=owner_id)
    except ConflictError as exc:
        if "fine_tune_id" not in exc.context:
            raise
        raise ConflictError(exc.message, error_code="TRAINING_ALREADY_RUNNING", **exc.context) from None


def owned_fine_tune(workspace: WorkspacePort, fine_tune_id: str, owner_id: str | None) -> FineTune:
    """The fine-tuning if `owner_id` may see it (None: the local single user, who sees all); else NotFoundError."""
    fine_tune = fine_tunes.get_fine_tune(workspace, fine_tune_id)  # NotFoundError when there is none
    if owner_id is not None and fine_tune.owner_id != owner_id:
        raise NotFoundError(f"fine-tuning '{fine_tune_id}' not found", fine_tune_id=fine_tune_id)
    return fine_tune


def latest_run(workspace: WorkspacePort, project_id: str) -> FineTune:
    """The project's most recent fine-tuning, or NotFoundError NO_TRAINING_RUN before its first."""
    found = fine_tunes.latest_fine_tune(workspace, project_id)
    if found is None:
        raise NotFoundError("the project has no training run yet: start one first", error_code="NO_TRAINING_RUN",
                            project_id=project_id)
    return found


def cancel_training(workspace: WorkspacePort, fine_tune_id: str, *, reason: str | None = None) -> FineTune:
    """`fine_tunes.cancel_fine_tune`, keeping the caller's reason as the error message (fintune-platform)."""
    fine_tune = fine_tunes.cancel_fine_tune(workspace, fine_tune_id)
    values: dict[str, Any] = {"error_message": reason} if reason else {}
    if fine_tune.status.finished and fine_tune.completed_at is None:  # ended before it started
        values["completed_at"] = utcnow()
    if not values:
        return fine_tune
    with workspace.unit_of_work() as uow:
        uow.fine_tunes.update(fine_tune_id, **values)
        return uow.fine_tunes.get(fine_tune_id)


def report_status(workspace: WorkspacePort, fine_tune_id: str, *, status: FineTuneStatus | None = None,
                  progress: float | None = None, current_step: str | None = None,
                  logs: str | None = None) -> FineTune:
    """Store what a worker says about a fine-tuning and add it to its job's event log.

    Only the fine-tuning changes: a trainer still running goes on reporting over it.
    """
    if status is None and progress is None and current_step is None and logs is None:
        raise InvalidInputError("nothing to report: give a status, a progress, a current step or logs",
                                error_code="NO_CHANGES", fine_tune_id=fine_tune_id)
    with workspace.unit_of_work() as uow:
        fine_tune = uow.fine_tunes.get(fine_tune_id)
        now_status = status or fine_tune.status
        values: dict[str, Any] = {"status": now_status.value}
        if now_status is not FineTuneStatus.QUEUED and fine_tune.started_at is None:
            values["started_at"] = utcnow()
        if status is not None:
            values["completed_at"] = (fine_tune.completed_at or utcnow()) if status.finished else None
        if progress is not None:
            values["progress"] = max(0.0, min(100.0, progress))
        given = {key: value for key, value in (("current_step", current_step), ("logs", logs)) if value is not None}
        last = fine_tune.state.get(REPORT) or {}
        kept = last if last.get("status") == now_status.value else {}  # a new status: the old step is over
        report = {**kept, **given, "status": now_status.value}
        values["state"] = {**fine_tune.state, REPORT: report}
        uow.fine_tunes.update(fine_tune_id, **values)
        if fine_tune.job_id is not None:
            message = logs or current_step or f"status: {now_status.value}"
            event: dict[str, Any] = {"message": message, "status": now_status.value, "reported": True, **given}
            if progress is not None:
                uow.jobs.add_event(fine_tune.job_id, "progress", {**event, "progress_pct": values["progress"]})
            else:
                uow.jobs.add_event(fine_tune.job_id, "log", event)
        return uow.fine_tunes.get(fine_tune_id)


def status_line(fine_tune: FineTune) -> tuple[str, str | None]:
    """(current step, last log line): a worker's last report while its status holds, else from the metrics."""
    report = fine_tune.state.get(REPORT) or {}
    fresh = report.get("status") == fine_tune.status.value
    step, total = fine_tune.metrics.get("step"), fine_tune.metrics.get("total_steps")
    derived = STEP_LABELS[fine_tune.status]
    if fine_tune.status is FineTuneStatus.TRAINING and step is not None:
        derived = f"Step {step}/{total}" if total else f"Step {step}"
    current = report.get("current_step") if fresh else None
    logs = report.get("logs") if fresh else None
    return str(current or derived), logs or fine_tune.error_message
