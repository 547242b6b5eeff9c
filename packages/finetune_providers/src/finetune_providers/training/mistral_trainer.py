"""Mistral fine-tuning (`mistral`): a Mistral model fine-tuned on the project's dataset.

Mistral lists its fine-tuning API as deprecated, with no replacement (late 2026): a new job is refused before
anything is sent (409 PROVIDER_FINE_TUNING_UNAVAILABLE, naming the trainers that would take the dataset), while
jobs made before keep being followed, cancelled and registered as models.

Wire format (https://docs.mistral.ai/api/#tag/fine-tuning):

    POST /files                        multipart: purpose=fine-tune, file       -> {"id": "<uuid>"}
    POST /fine_tuning/jobs             {model, training_files: [{file_id, weight}], validation_files: [id],
                                        hyperparameters, suffix, auto_start: false}
    GET  /fine_tuning/jobs?model=&suffix=&page_size=                            (finding a job again)
    GET  /fine_tuning/jobs/{id}        status, fine_tuned_model, checkpoints [{metrics, step_number}], events
    POST /fine_tuning/jobs/{id}/start  once the job is VALIDATED
    POST /fine_tuning/jobs/{id}/cancel

The job is created with `auto_start: false` so that its id is stored before anything is billed;
it is started once Mistral has validated the files. Method `supervised`; hyperparameters
`training_steps` or `epochs` (alias `n_epochs`), `learning_rate`, `weight_decay`, `warmup_fraction`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from finetune_core.domain import FineTuneStatus
from finetune_core.training import TrainingRun
from pydantic import BaseModel, ConfigDict, Field

from finetune_providers.training._hosted import (
    Checkpoint,
    HostedTrainer,
    MetricPoint,
    RemoteJob,
    Update,
    Updates,
    UploadedFiles,
    id_of,
    integer,
    items_of,
    number,
)
from finetune_providers.training._http import HostedApi

STATUSES: dict[str, FineTuneStatus | None] = {
    "QUEUED": FineTuneStatus.PREPARING,
    "VALIDATING": FineTuneStatus.PREPARING,
    "VALIDATED": FineTuneStatus.PREPARING,
    "STARTED": FineTuneStatus.PREPARING,
    "RUNNING": FineTuneStatus.TRAINING,
    "SUCCESS": FineTuneStatus.COMPLETED,
    "FAILED": FineTuneStatus.ERROR,
    "FAILED_VALIDATION": FineTuneStatus.ERROR,
    "CANCELLED": FineTuneStatus.CANCELLED,
    "CANCELLATION_REQUESTED": None,  # not over yet: the poll goes on until CANCELLED
}
ERROR_KEYS = ("error", "message", "reason", "detail")


class MistralHyperparameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    training_steps: int | None = Field(None, ge=1)
    epochs: float | None = Field(None, gt=0)
    learning_rate: float | None = Field(None, gt=0)
    weight_decay: float | None = Field(None, ge=0)
    warmup_fraction: float | None = Field(None, ge=0, le=1)


class MistralTrainer(HostedTrainer):
    name: ClassVar[str] = "mistral"
    label: ClassVar[str] = "Mistral"
    key_provider: ClassVar[str | None] = "mistral"
    methods: ClassVar[tuple[str, ...]] = ("supervised",)
    default_method: ClassVar[str | None] = "supervised"
    export_format: ClassVar[str] = "mistral"
    default_base_url: ClassVar[str] = "https://api.mistral.ai/v1"
    hyperparameters_model: ClassVar[type[BaseModel]] = MistralHyperparameters
    hyperparameter_aliases: ClassVar[Mapping[str, str]] = {"n_epochs": "epochs"}
    suffix_max_chars: ClassVar[int] = 18
    closed_to_new_jobs: ClassVar[str | None] = (
        "Mistral lists its fine-tuning API as deprecated, with no replacement (docs.mistral.ai)")

    def create_job(self, api: HostedApi, run: TrainingRun, files: UploadedFiles) -> str:
        body: dict[str, Any] = {
            "model": run.fine_tune.base_model,
            "training_files": [{"file_id": files.train, "weight": 1}],
            "hyperparameters": dict(run.fine_tune.hyperparameters),
            "auto_start": False,
        }
        if files.validation:
            body["validation_files"] = [files.validation]
        if self.settings.suffix:
            body["suffix"] = self.settings.suffix
        return id_of(api.post("fine_tuning/jobs", json=body, retry=False), self.label, "job")

    def find_job(self, api: HostedApi, run: TrainingRun, files: UploadedFiles) -> str | None:
        params: dict[str, Any] = {"model": run.fine_tune.base_model, "page_size": 100}
        if self.settings.suffix:
            params["suffix"] = self.settings.suffix
        for job in items_of(api.get("fine_tuning/jobs", params=params)):
            if files.train in (job.get("training_files") or []):  # our upload: no other job trains on it
                return str(job["id"])
        return None

    def get_job(self, api: HostedApi, job_id: str) -> RemoteJob:
        data = api.get(f"fine_tuning/jobs/{job_id}")
        raw = str(data.get("status") or "unknown")
        status = STATUSES.get(raw)
        hyperparameters = data.get("hyperparameters") or {}
        return RemoteJob(id=job_id, raw_status=raw, status=status, model_id=data.get("fine_tuned_model"),
                         error=_failure(data) if status is FineTuneStatus.ERROR else None,
                         total_steps=integer(hyperparameters.get("training_steps")), data=data)

    def advance(self, api: HostedApi, run: TrainingRun, job: RemoteJob) -> None:
        if job.raw_status == "VALIDATED":
            # not retried blindly: a start that did go through shows on the next poll (no longer VALIDATED)
            api.post(f"fine_tuning/jobs/{job.id}/start", retry=False)
            run.event("log", message=f"{self.label}: job {job.id} validated and started")

    def updates(self, api: HostedApi, run: TrainingRun, job: RemoteJob) -> Updates:
        items: list[Update] = []
        checkpoints = sorted(items_of(job.data.get("checkpoints")), key=lambda c: integer(c.get("step_number")) or 0)
        for checkpoint in checkpoints:
            step = integer(checkpoint.get("step_number"))
            if step is None:
                continue
            metrics = checkpoint.get("metrics") or {}
            point = MetricPoint(step=step, train_loss=number(metrics.get("train_loss")),
                                valid_loss=number(metrics.get("valid_loss")), total_steps=job.total_steps)
            items.append(point)
            data = {"step": step, "train_loss": point.train_loss, "valid_loss": point.valid_loss,
                    "created_at": checkpoint.get("created_at")}
            items.append(Checkpoint(key=str(step), data={k: v for k, v in data.items() if v is not None}))
        return Updates(items=items)

    def cancel_job(self, api: HostedApi, job_id: str) -> None:
        api.post(f"fine_tuning/jobs/{job_id}/cancel")


def _failure(data: Mapping[str, Any]) -> str | None:
    """The reason of a failed job: its own message, else the latest event that carries one."""
    for key in ERROR_KEYS:
        if isinstance(data.get(key), str) and data[key]:
            return str(data[key])
    for event in reversed(list(items_of(data.get("events")))):
        details = event.get("data") or {}
        for key in ERROR_KEYS:
            value = details.get(key) if isinstance(details, Mapping) else None
            if isinstance(value, str) and value:
                return value
            if isinstance(value, Mapping) and value.get("message"):
                return str(value["message"])
    return None
