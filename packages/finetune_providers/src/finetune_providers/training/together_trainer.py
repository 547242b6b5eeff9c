"""Together AI fine-tuning (`together`): an open model fine-tuned with LoRA (default) or in full.

Wire format (https://docs.together.ai/reference/post-fine-tunes):

    POST /files/upload                  multipart: purpose=fine-tune, file_name, file_type=jsonl, file
    POST /fine-tunes                    {training_file, validation_file, model, n_epochs, n_checkpoints,
                                         n_evals, learning_rate, batch_size, suffix,
                                         training_method: {method: sft} | {method: dpo, dpo_beta, ...},
                                         training_type: {type: Lora, lora_r, lora_alpha, ...} | {type: Full}}
    GET  /fine-tunes                    every job (finding a job again by its training file)
    GET  /fine-tunes/{id}               status, model_output_name
    GET  /fine-tunes/{id}/events        oldest first; `step` / `total_steps` on training events
    GET  /fine-tunes/{id}/checkpoints   [{step, path, checkpoint_type, created_at}]
    POST /fine-tunes/{id}/cancel

Methods `lora` (default) and `full`. Hyperparameters `n_epochs` (alias `epochs`), `n_checkpoints`,
`n_evals`, `learning_rate`, `batch_size` (a number or "max"), and for LoRA `lora_r` (default 16),
`lora_alpha` (default 2 x lora_r), `lora_dropout`, `lora_trainable_modules`. With an eval split,
`n_evals` defaults to 1 so that the validation file is used. The export is the conversational
`{"messages": [...]}` JSONL (the `openai` format), which Together accepts as is.

DPO (https://docs.together.ai/docs/preference-fine-tuning): the option `method=dpo` sends
`training_method: {"method": "dpo", ...}` with the DPO hyperparameters `dpo_beta` (alias `beta`),
`dpo_normalize_logratios_by_length`, `dpo_reference_free`, `rpo_alpha`, `simpo_gamma`, and uploads
the `openai-preference` export (`input.messages`, `preferred_output`, `non_preferred_output`), the
format Together's preference fine-tuning reads; LoRA or full as for SFT.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from finetune_core.domain import FineTuneStatus
from finetune_core.errors import InvalidInputError
from finetune_core.training import TrainingRun
from pydantic import BaseModel, ConfigDict, Field

from finetune_providers.training._hosted import (
    Checkpoint,
    HostedTrainer,
    MetricPoint,
    Note,
    RemoteJob,
    Update,
    Updates,
    UploadedFiles,
    id_of,
    integer,
    items_of,
)
from finetune_providers.training._http import HostedApi

STATUSES: dict[str, FineTuneStatus | None] = {
    "pending": FineTuneStatus.PREPARING,
    "queued": FineTuneStatus.PREPARING,
    "running": FineTuneStatus.TRAINING,
    "compressing": FineTuneStatus.TRAINING,
    "uploading": FineTuneStatus.TRAINING,
    "cancel_requested": None,  # not over yet: the poll goes on until cancelled
    "cancelled": FineTuneStatus.CANCELLED,
    "error": FineTuneStatus.ERROR,
    "completed": FineTuneStatus.COMPLETED,
}
DEFAULT_LORA_R = 16
LORA_KEYS = ("lora_r", "lora_alpha", "lora_dropout", "lora_trainable_modules")
DPO_KEYS = ("dpo_beta", "dpo_normalize_logratios_by_length", "dpo_reference_free", "rpo_alpha", "simpo_gamma")
# Together's events have no loss fields; some messages quote it ("loss: 1.23", "eval_loss=0.9")
_LOSS = r"['\"]?\s*[:=]?\s*([-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)"
TRAIN_LOSS = re.compile(r"(?<![a-z_])(?:train(?:ing)?[_ ])?loss" + _LOSS, re.IGNORECASE)
VALID_LOSS = re.compile(r"(?:eval|valid(?:ation)?)[_ ]loss" + _LOSS, re.IGNORECASE)


class TogetherHyperparameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_epochs: int | None = Field(None, ge=1)
    n_checkpoints: int | None = Field(None, ge=1)
    n_evals: int | None = Field(None, ge=0)
    learning_rate: float | None = Field(None, gt=0)
    batch_size: Literal["max"] | Annotated[int, Field(ge=1)] | None = None
    lora_r: int | None = Field(None, ge=1)
    lora_alpha: int | None = Field(None, ge=1)
    lora_dropout: float | None = Field(None, ge=0, lt=1)
    lora_trainable_modules: str | None = Field(None, min_length=1)
    dpo_beta: float | None = Field(None, gt=0)
    dpo_normalize_logratios_by_length: bool | None = None
    dpo_reference_free: bool | None = None
    rpo_alpha: float | None = Field(None, ge=0)
    simpo_gamma: float | None = Field(None, ge=0)


class TogetherTrainer(HostedTrainer):
    name: ClassVar[str] = "together"
    label: ClassVar[str] = "Together AI"
    key_provider: ClassVar[str | None] = "together"
    methods: ClassVar[tuple[str, ...]] = ("lora", "full")
    default_method: ClassVar[str | None] = "lora"
    export_format: ClassVar[str] = "openai"
    default_base_url: ClassVar[str] = "https://api.together.xyz/v1"
    hyperparameters_model: ClassVar[type[BaseModel]] = TogetherHyperparameters
    hyperparameter_aliases: ClassVar[Mapping[str, str]] = {"epochs": "n_epochs", "beta": "dpo_beta"}
    suffix_max_chars: ClassVar[int] = 40
    training_methods: ClassVar[tuple[str, ...]] = ("sft", "dpo")
    dpo_hyperparameters: ClassVar[tuple[str, ...]] = DPO_KEYS

    @classmethod
    def check_hyperparameters(cls, values: Mapping[str, Any], method: str | None) -> dict[str, Any]:
        checked = super().check_hyperparameters(values, method)
        lora_only = sorted(key for key in checked if key in LORA_KEYS)
        if method == "full" and lora_only:
            raise InvalidInputError(f"the {cls.label} method 'full' takes no LoRA hyperparameters "
                                    f"({', '.join(lora_only)}): use the method 'lora'", hyperparameters=lora_only)
        return checked

    def upload_file(self, api: HostedApi, run: TrainingRun, path: Path, filename: str) -> str:
        fields = {"purpose": "fine-tune", "file_name": filename, "file_type": "jsonl"}
        return id_of(api.upload("files/upload", path, filename=filename, fields=fields), self.label, "file")

    def create_job(self, api: HostedApi, run: TrainingRun, files: UploadedFiles) -> str:
        hyperparameters = dict(run.fine_tune.hyperparameters)
        lora = {key: hyperparameters.pop(key) for key in LORA_KEYS if key in hyperparameters}
        dpo = {key: hyperparameters.pop(key) for key in DPO_KEYS if key in hyperparameters}
        training_method = {"method": "dpo", **dpo} if self.settings.method == "dpo" else {"method": "sft"}
        body: dict[str, Any] = {"training_file": files.train, "model": run.fine_tune.base_model,
                                "training_method": training_method, **hyperparameters}
        if run.fine_tune.method == "full":
            body["training_type"] = {"type": "Full"}
        else:
            rank = int(lora.pop("lora_r", DEFAULT_LORA_R))
            alpha = int(lora.pop("lora_alpha", 2 * rank))
            body["training_type"] = {"type": "Lora", "lora_r": rank, "lora_alpha": alpha, **lora}
        if files.validation:
            body["validation_file"] = files.validation
            body.setdefault("n_evals", 1)
        if self.settings.suffix:
            body["suffix"] = self.settings.suffix
        return id_of(api.post("fine-tunes", json=body, retry=False), self.label, "job")

    def find_job(self, api: HostedApi, run: TrainingRun, files: UploadedFiles) -> str | None:
        for job in items_of(api.get("fine-tunes")):
            if job.get("training_file") == files.train:  # our upload: no other job trains on it
                return str(job["id"])
        return None

    def get_job(self, api: HostedApi, job_id: str) -> RemoteJob:
        data = api.get(f"fine-tunes/{job_id}")
        raw = str(data.get("status") or "unknown").lower()
        status = STATUSES.get(raw)
        return RemoteJob(id=job_id, raw_status=raw, status=status,
                         model_id=data.get("model_output_name") or data.get("output_name"),
                         error=_failure(data) if status is FineTuneStatus.ERROR else None, data=data)

    def updates(self, api: HostedApi, run: TrainingRun, job: RemoteJob) -> Updates:
        events = list(items_of(api.get(f"fine-tunes/{job.id}/events")))
        seen = int(run.state.get("together_events_seen") or 0)
        items: list[Update] = [item for event in events[seen:] if (item := _update(event)) is not None]
        cursor: dict[str, Any] = {"together_events_seen": len(events)} if len(events) != seen else {}
        if job.status in (FineTuneStatus.TRAINING, FineTuneStatus.COMPLETED):
            items.extend(self._checkpoints(api, job.id))
        return Updates(items=items, cursor=cursor)

    def _checkpoints(self, api: HostedApi, job_id: str) -> list[Update]:
        found: list[Update] = []
        answer = api.get(f"fine-tunes/{job_id}/checkpoints")
        for checkpoint in sorted(items_of(answer), key=lambda c: integer(c.get("step")) or 0):
            data = {"step": integer(checkpoint.get("step")), "path": checkpoint.get("path"),
                    "checkpoint_type": checkpoint.get("checkpoint_type"), "created_at": checkpoint.get("created_at")}
            key = f"{data['step']}:{data['checkpoint_type']}:{data['path']}"
            found.append(Checkpoint(key=key, data={k: v for k, v in data.items() if v is not None}))
        return found

    def cancel_job(self, api: HostedApi, job_id: str) -> None:
        api.post(f"fine-tunes/{job_id}/cancel")


def _update(event: Mapping[str, Any]) -> Update | None:
    message = str(event.get("message") or "")
    step = integer(event.get("step"))
    if step is not None and step > 0:
        valid = VALID_LOSS.search(message)
        rest = VALID_LOSS.sub(" ", message)  # so "validation loss" is not read as the training loss
        train = TRAIN_LOSS.search(rest)
        return MetricPoint(step=step, train_loss=float(train.group(1)) if train else None,
                           valid_loss=float(valid.group(1)) if valid else None,
                           total_steps=integer(event.get("total_steps")))
    return Note(message) if message else None


def _failure(data: Mapping[str, Any]) -> str | None:
    """The message of the job's latest error event."""
    for event in reversed(list(items_of(data.get("events")))):
        if str(event.get("type", "")).lower() == "job_error" or event.get("level") == "error":
            return str(event.get("message") or "") or None
    return None
