"""Use cases on fine-tunings: create (checked, then run as a job), follow, cancel, update, delete.

One fine-tuning at a time per project: creating another while one is queued or running is a
ConflictError. The trainer named by the fine-tuning runs inside the `fine_tune` job (see
`finetune_core.training`); its events are that job's event log, the training stream.

The trainers' option `method` is the training objective (`sft`, the default, or `dpo`). A `dpo` fine-tuning
trains on the ranked preference pairs of the project's train split: one without any is refused when it is
created, for every trainer, before a key is asked for, a file uploaded or a job queued (InvalidInputError
`NO_PREFERENCE_PAIRS`, with the `dpo` exporter's own account of what it found).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finetune_core.domain import FineTune, FineTuneStatus, Project, TaskType, TrainedModel
from finetune_core.errors import (
    ConflictError,
    FinetuneError,
    InvalidInputError,
    JobAlreadyFinishedError,
    JobCancelledError,
    MissingApiKeyError,
    NoPreferencePairsError,
)
from finetune_core.export.base import ExportOptions
from finetune_core.services import billing, trainers
from finetune_core.services import jobs as jobs_service
from finetune_core.services.exports import export_dataset, exported_examples
from finetune_core.services.keys import resolve_key
from finetune_core.training.base import DatasetWriter, FineTuneRequest, Trainer, TrainingRun

if TYPE_CHECKING:
    from finetune_core.jobs.context import JobContext
    from finetune_core.ports import WorkspacePort

ACTIVE = tuple(status.value for status in FineTuneStatus if not status.finished)
OBJECTIVE_OPTION = "method"  # the trainers' option naming the training objective: sft (default) or dpo
PREFERENCE_OBJECTIVE = "dpo"
PREFERENCE_EXPORT = "dpo"  # the exporter whose rows a DPO run trains on (the hosted ones upload the same pairs)


def trainer_class(workspace: WorkspacePort, name: str) -> type[Trainer]:
    trainer: type[Trainer] = workspace.plugins.trainers.get(name)
    return trainer


def _require_key(workspace: WorkspacePort, trainer: type[Trainer], owner_id: str | None) -> str | None:
    if trainer.key_provider is None:
        return None
    key = resolve_key(workspace, trainer.key_provider, owner_id=owner_id)
    if key is None:
        spec = workspace.plugins.providers.get(trainer.key_provider) \
            if trainer.key_provider in workspace.plugins.providers else None
        where = f" or set {spec.env_var}" if spec is not None and spec.env_var else ""
        raise MissingApiKeyError(f"no {trainer.label or trainer.name} API key: store one with `finetune keys set "
                                 f"{trainer.key_provider}`{where}", provider=trainer.key_provider)
    return key


_NAME_MAX: int = next(rule.max_length for rule in FineTune.model_fields["name"].metadata if hasattr(rule, "max_length"))


def _default_name(project_name: str, base_model: str) -> str:
    """"<project> on <base model>", cut to the longest name a fine-tuning may have (both may be long)."""
    return f"{project_name} on {base_model}"[:_NAME_MAX]


def create_fine_tune(workspace: WorkspacePort, project_id: str, *, trainer: str, base_model: str,
                     method: str | None = None, hyperparameters: dict[str, Any] | None = None,
                     options: dict[str, Any] | None = None, name: str | None = None,
                     description: str | None = None, owner_id: str | None = None) -> FineTune:
    """Check the request, store the fine-tuning (queued) with its job, and start the job."""
    trainer_type = trainer_class(workspace, trainer)
    request = trainer_type.check(FineTuneRequest(
        trainer=trainer, base_model=base_model, method=method, hyperparameters=hyperparameters or {},
        options=options or {}, name=name, description=description))
    with workspace.unit_of_work() as uow:
        project = uow.projects.find(project_id)
        owner = owner_id if owner_id is not None else project.owner_id
    if request.options.get(OBJECTIVE_OPTION) == PREFERENCE_OBJECTIVE:
        require_preference_pairs(workspace, project)
    if trainer_type.closed_to_new_jobs:  # before asking for a key the provider would not use
        trainers.refuse(workspace, trainer_type, owner, trainer_type.closed_to_new_jobs)
    key = _require_key(workspace, trainer_type, owner)
    refused = trainer_type.refusal(key, request)  # before anything is uploaded
    if refused:
        trainers.refuse(workspace, trainer_type, owner, refused)
    fine_tune = FineTune(
        project_id=project.id, owner_id=owner, name=request.name or _default_name(project.name, request.base_model),
        description=request.description, trainer=trainer, method=request.method, base_model=request.base_model,
        hyperparameters=request.hyperparameters, options=request.options)
    job = jobs_service.new_job("fine_tune", project_id=project.id, queue=trainer_type.queue,
                               fine_tune_id=fine_tune.id)
    fine_tune.job_id = job.id
    with workspace.unit_of_work() as uow:
        billing.enforce(workspace, uow, owner, "max_fine_tunings", "monthly_training_minutes")
        uow.projects.lock(project.id)  # two concurrent creates cannot both see "nothing running"
        active, _ = uow.fine_tunes.search(project_id=project.id, statuses=ACTIVE, limit=1)
        if active:
            raise ConflictError("A training job is already running for this project",
                                fine_tune_id=active[0].id, status=active[0].status.value)
        if not uow.examples.count(project.id, is_valid=True):
            raise InvalidInputError("the project's dataset has no valid examples yet: generate or upload a "
                                    "dataset first", project_id=project.id)
        uow.jobs.add(job)
        uow.fine_tunes.add(fine_tune)
    jobs_service.submit(workspace, job)
    return get_fine_tune(workspace, fine_tune.id)


def require_preference_pairs(workspace: WorkspacePort, project: Project, split: str = "train") -> None:
    """NoPreferencePairsError (409 `NO_PREFERENCE_PAIRS`) when the project's `split` has no ranked, untied
    preference pair.

    The `dpo` exporter decides, stopped at the first row it would write: what a DPO run trains on and what this
    check accepts never disagree. A project of another task type is told so first.
    """
    exporter = workspace.plugins.exporters.get(PREFERENCE_EXPORT)
    options = ExportOptions(system_prompt=project.config.system_prompt, include_metadata=False)
    try:
        with workspace.unit_of_work() as uow:
            records = exporter.records(exported_examples(uow, project.id, split), options)
            next(records, None)  # the exporter raises once it has seen every example and written none
            close = getattr(records, "close", None)
            if close is not None:
                close()
    except NoPreferencePairsError as exc:
        task = "" if project.task_type is TaskType.PREFERENCE else (
            f"project '{project.name}' is a {project.task_type.value} project, and the option method='dpo' trains "
            f"on ranked preference pairs (create a project with task type 'preference'): ")
        raise NoPreferencePairsError(f"cannot fine-tune with method 'dpo': {task}{exc.message}",
                                     **{**exc.context, "project_id": project.id,
                                        "task_type": project.task_type.value, "split": split}) from None


def dataset_writer(workspace: WorkspacePort, project_id: str) -> DatasetWriter:
    """What a run's `dataset_file` exports with: the project's valid examples of a split, without metadata."""

    def write(split: str, format: str, out: Path) -> int:
        return export_dataset(workspace, project_id, format, out=out, split=split, include_metadata=False).count

    return write


def fine_tune_job(context: JobContext, *, project_id: str, fine_tune_id: str) -> dict[str, Any]:
    """Run (or resume) one fine-tuning with its trainer; the fine-tuning's status follows the outcome."""
    workspace = context.workspace
    with workspace.unit_of_work() as uow:
        fine_tune = uow.fine_tunes.get(fine_tune_id)
        project = uow.projects.get(project_id)
    if fine_tune.status.finished:
        return _summary(fine_tune, 0.0)
    trainer_type = trainer_class(workspace, fine_tune.trainer)
    run = TrainingRun(workspace, fine_tune, project, context=context, api_key=None,
                      write_dataset=dataset_writer(workspace, project.id))
    started = time.monotonic()
    trainer: Trainer | None = None
    try:
        run.api_key = _require_key(workspace, trainer_type, fine_tune.owner_id)  # the key may be gone since
        trainer = trainer_type(fine_tune.options)
        trainer.train(run)
    except JobCancelledError:
        try:
            if trainer is not None:
                trainer.cancel(run)
        finally:
            run.set_status(FineTuneStatus.CANCELLED, "cancelled")
        raise
    except FinetuneError as exc:
        _fail(run, exc.message)
        raise
    except Exception as exc:
        _fail(run, f"{type(exc).__name__}: {str(exc)[:500]}")
        raise
    if run.fine_tune.status is not FineTuneStatus.COMPLETED:
        run.report(progress=100.0)
        run.set_status(FineTuneStatus.COMPLETED, "training completed")
    return _summary(run.fine_tune, time.monotonic() - started)


def _fail(run: TrainingRun, message: str) -> None:
    with run.workspace.unit_of_work() as uow:
        uow.fine_tunes.update(run.fine_tune.id, error_message=message)
    run.set_status(FineTuneStatus.ERROR, message)


def _summary(fine_tune: FineTune, seconds: float) -> dict[str, Any]:
    metrics = fine_tune.metrics
    return {"status": "success" if fine_tune.status is FineTuneStatus.COMPLETED else fine_tune.status.value,
            "fine_tune_id": fine_tune.id, "model_id": fine_tune.model_id, "external_id": fine_tune.external_id,
            "duration_seconds": round(seconds, 3), "final_train_loss": metrics.get("train_loss"),
            "final_valid_loss": metrics.get("valid_loss"), "metrics": metrics}


def get_fine_tune(workspace: WorkspacePort, fine_tune_id: str) -> FineTune:
    with workspace.unit_of_work() as uow:
        return uow.fine_tunes.get(fine_tune_id)


def list_fine_tunes(workspace: WorkspacePort, *, project_id: str | None = None, owner_id: str | None = None,
                    limit: int | None = 50, offset: int = 0) -> tuple[list[FineTune], int]:
    with workspace.unit_of_work() as uow:
        if project_id is not None:
            project_id = uow.projects.find(project_id).id
        return uow.fine_tunes.search(project_id=project_id, owner_id=owner_id, limit=limit, offset=offset)


def latest_fine_tune(workspace: WorkspacePort, project_id: str) -> FineTune | None:
    items, _ = list_fine_tunes(workspace, project_id=project_id, limit=1)
    return items[0] if items else None


def update_fine_tune(workspace: WorkspacePort, fine_tune_id: str, *, name: str | None = None,
                     description: str | None = None) -> FineTune:
    with workspace.unit_of_work() as uow:
        fine_tune = uow.fine_tunes.get(fine_tune_id)
        if name is not None:
            fine_tune.name = name
        if description is not None:
            fine_tune.description = description
        return uow.fine_tunes.save(FineTune.model_validate(fine_tune.model_dump()))


def cancel_fine_tune(workspace: WorkspacePort, fine_tune_id: str) -> FineTune:
    """Ask the running trainer to stop (it cancels the remote job too); a queued one ends at once."""
    fine_tune = get_fine_tune(workspace, fine_tune_id)
    if fine_tune.status.finished:
        raise JobAlreadyFinishedError(f"fine-tuning '{fine_tune_id}' already ended with status "
                                      f"'{fine_tune.status.value}'", fine_tune_id=fine_tune_id)
    if fine_tune.job_id is not None:
        try:
            job = jobs_service.cancel_job(workspace, fine_tune.job_id)
        except JobAlreadyFinishedError:
            job = jobs_service.get_job(workspace, fine_tune.job_id)
        if job.status.finished:  # never started (or its worker is gone): nothing will report back
            with workspace.unit_of_work() as uow:
                current = uow.fine_tunes.get(fine_tune_id)
                if not current.status.finished:
                    uow.fine_tunes.update(fine_tune_id, status=FineTuneStatus.CANCELLED.value)
    return get_fine_tune(workspace, fine_tune_id)


def delete_fine_tune(workspace: WorkspacePort, fine_tune_id: str) -> None:
    """Remove a finished fine-tuning and its files; the model it registered stays."""
    fine_tune = get_fine_tune(workspace, fine_tune_id)
    if not fine_tune.status.finished:
        raise ConflictError("the fine-tuning is still running: cancel it first", fine_tune_id=fine_tune_id)
    with workspace.unit_of_work() as uow:
        uow.fine_tunes.delete(fine_tune_id)
    workspace.files.delete_prefix(f"fine_tunes/{fine_tune_id}")


def wait_for(workspace: WorkspacePort, fine_tune_id: str, *, timeout_s: float = 3600.0) -> FineTune:
    fine_tune = get_fine_tune(workspace, fine_tune_id)
    if fine_tune.job_id is not None:
        jobs_service.wait_for(workspace, fine_tune.job_id, timeout_s=timeout_s)
    return get_fine_tune(workspace, fine_tune_id)


def get_model(workspace: WorkspacePort, model_id: str) -> TrainedModel:
    with workspace.unit_of_work() as uow:
        return uow.models.get(model_id)


def list_models(workspace: WorkspacePort, *, owner_id: str | None = None, project_id: str | None = None,
                limit: int | None = 50, offset: int = 0) -> tuple[list[TrainedModel], int]:
    with workspace.unit_of_work() as uow:
        return uow.models.search(owner_id=owner_id, project_id=project_id, limit=limit, offset=offset)
