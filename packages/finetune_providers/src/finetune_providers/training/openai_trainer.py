"""OpenAI fine-tuning (`openai`): supervised fine-tuning of an OpenAI model on the project's dataset.

Wire format (https://platform.openai.com/docs/api-reference/fine-tuning):

    POST /files                       multipart: purpose=fine-tune, file        -> {"id": "file-..."}
    POST /fine_tuning/jobs            {model, training_file, validation_file, suffix, metadata,
                                       method: {type: supervised, supervised: {hyperparameters}}
                                             | {type: dpo, dpo: {hyperparameters}}}
    GET  /fine_tuning/jobs?metadata[finetune_id]=...                           (finding a job again)
    GET  /fine_tuning/jobs/{id}       status, fine_tuned_model, error
    GET  /fine_tuning/jobs/{id}/events?after=&limit=   newest first; `metrics` events carry
                                       data {step, train_loss, valid_loss, total_steps, ...}
    POST /fine_tuning/jobs/{id}/cancel

Method `supervised` (the dataset is SFT); hyperparameters `n_epochs` (alias `epochs`),
`batch_size`, `learning_rate_multiplier`, each a number or "auto". The option `method=dpo`
(https://platform.openai.com/docs/guides/direct-preference-optimization) sends
`method: {type: dpo, dpo: {hyperparameters}}`, with `beta` as well, on the `openai-preference`
export (`input.messages`, `preferred_output`, `non_preferred_output`: OpenAI's own DPO format).

OpenAI is winding self-serve fine-tuning down (its deprecations page, 2026-05-07): organisations
that never fine-tuned could not create jobs from 2026-05-07, those without recent fine-tuned-model
use from 2026-07-02, and nobody from 2027-01-06. From that last day a new job is refused before
anything is uploaded (409 PROVIDER_FINE_TUNING_UNAVAILABLE, naming the trainers that would take the
dataset); `FINETUNE_OPENAI_FINE_TUNING_ENDS` (an ISO date) moves the day, should OpenAI move it. An
organisation's own rights before that day are not checked: the shape of the answer of
`GET /v1/fine_tuning/model_limits` is published nowhere this project could read, and a real job
must not be refused on a guess; OpenAI's own refusal then ends the run in error with its message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any, ClassVar, Literal

from finetune_core.domain import FineTuneStatus
from finetune_core.training import FineTuneRequest, TrainingRun
from pydantic import BaseModel, ConfigDict, Field

from finetune_providers.training._hosted import (
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
    number,
)
from finetune_providers.training._http import HostedApi

STATUSES = {
    "validating_files": FineTuneStatus.PREPARING,
    "queued": FineTuneStatus.PREPARING,
    "running": FineTuneStatus.TRAINING,
    "succeeded": FineTuneStatus.COMPLETED,
    "failed": FineTuneStatus.ERROR,
    "cancelled": FineTuneStatus.CANCELLED,
}
EVENTS_PAGE = 100
MAX_EVENT_PAGES = 50  # a catch-up after a long pause reads at most this many pages


class OpenAIHyperparameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_epochs: Literal["auto"] | Annotated[int, Field(ge=1)] = "auto"
    batch_size: Literal["auto"] | Annotated[int, Field(ge=1)] = "auto"
    learning_rate_multiplier: Literal["auto"] | Annotated[float, Field(gt=0)] = "auto"
    beta: Literal["auto"] | Annotated[float, Field(gt=0)] = "auto"  # DPO only


FINE_TUNING_ENDS = date(2027, 1, 6)  # no new self-serve fine-tuning job at OpenAI from this day
ENDS_SETTING = "FINETUNE_OPENAI_FINE_TUNING_ENDS"


def fine_tuning_ends() -> date:
    """The day OpenAI takes no new fine-tuning job: its announced one, or the setting's."""
    value = os.environ.get(ENDS_SETTING, "").strip()
    try:
        return date.fromisoformat(value) if value else FINE_TUNING_ENDS
    except ValueError:
        return FINE_TUNING_ENDS


class OpenAITrainer(HostedTrainer):
    name: ClassVar[str] = "openai"
    label: ClassVar[str] = "OpenAI"
    key_provider: ClassVar[str | None] = "openai"
    methods: ClassVar[tuple[str, ...]] = ("supervised",)
    default_method: ClassVar[str | None] = "supervised"
    export_format: ClassVar[str] = "openai"
    default_base_url: ClassVar[str] = "https://api.openai.com/v1"
    hyperparameters_model: ClassVar[type[BaseModel]] = OpenAIHyperparameters
    hyperparameter_aliases: ClassVar[Mapping[str, str]] = {"epochs": "n_epochs"}
    suffix_max_chars: ClassVar[int] = 64
    training_methods: ClassVar[tuple[str, ...]] = ("sft", "dpo")
    dpo_hyperparameters: ClassVar[tuple[str, ...]] = ("beta",)

    @classmethod
    def refusal(cls, api_key: str | None, request: FineTuneRequest) -> str | None:
        ends = fine_tuning_ends()
        if date.today() >= ends:
            return (f"OpenAI takes no new self-serve fine-tuning job since {ends.isoformat()} (its deprecations "
                    "page); the jobs made before keep their status, and their models answer until their base model "
                    "is retired")
        return None

    def create_job(self, api: HostedApi, run: TrainingRun, files: UploadedFiles) -> str:
        method = "dpo" if self.settings.method == "dpo" else run.fine_tune.method or "supervised"
        body: dict[str, Any] = {
            "model": run.fine_tune.base_model,
            "training_file": files.train,
            "method": {"type": method, method: {"hyperparameters": dict(run.fine_tune.hyperparameters)}},
            "metadata": {"finetune_id": run.fine_tune.id},  # how a resumed run finds this job again
        }
        if files.validation:
            body["validation_file"] = files.validation
        if self.settings.suffix:
            body["suffix"] = self.settings.suffix
        return id_of(api.post("fine_tuning/jobs", json=body, retry=False), self.label, "job")

    def find_job(self, api: HostedApi, run: TrainingRun, files: UploadedFiles) -> str | None:
        answer = api.get("fine_tuning/jobs", params={"metadata[finetune_id]": run.fine_tune.id, "limit": 20})
        for job in items_of(answer):
            metadata = job.get("metadata") or {}
            if metadata.get("finetune_id") == run.fine_tune.id or job.get("training_file") == files.train:
                return str(job["id"])
        return None

    def get_job(self, api: HostedApi, job_id: str) -> RemoteJob:
        data = api.get(f"fine_tuning/jobs/{job_id}")
        raw = str(data.get("status") or "unknown")
        error = data.get("error") or {}
        message = error.get("message") if isinstance(error, Mapping) else str(error)
        return RemoteJob(id=job_id, raw_status=raw, status=STATUSES.get(raw), model_id=data.get("fine_tuned_model"),
                         error=message or None, data=data)

    def updates(self, api: HostedApi, run: TrainingRun, job: RemoteJob) -> Updates:
        last_seen = run.state.get("openai_last_event_id")
        newest_first: list[Mapping[str, Any]] = []
        after: str | None = None
        for _ in range(MAX_EVENT_PAGES):
            params: dict[str, Any] = {"limit": EVENTS_PAGE}
            if after is not None:
                params["after"] = after
            answer = api.get(f"fine_tuning/jobs/{job.id}/events", params=params)
            page = list(items_of(answer))
            reached = next((index for index, event in enumerate(page) if event.get("id") == last_seen), None)
            newest_first.extend(page if reached is None else page[:reached])
            if reached is not None or not page or not answer.get("has_more"):
                break
            after = str(page[-1].get("id"))
        if not newest_first:
            return Updates()
        items = [item for event in reversed(newest_first) if (item := _update(event)) is not None]
        return Updates(items=items, cursor={"openai_last_event_id": newest_first[0].get("id")})

    def cancel_job(self, api: HostedApi, job_id: str) -> None:
        api.post(f"fine_tuning/jobs/{job_id}/cancel")


def _update(event: Mapping[str, Any]) -> Update | None:
    if event.get("type") == "metrics":
        data = event.get("data") or {}
        step = integer(data.get("step"))
        if step is None:
            return None
        return MetricPoint(step=step, train_loss=number(data.get("train_loss")),
                           valid_loss=number(data.get("valid_loss")), total_steps=integer(data.get("total_steps")))
    message = event.get("message")
    return Note(str(message)) if message else None
