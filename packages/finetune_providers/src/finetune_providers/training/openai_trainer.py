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
dataset); `FINETUNE_OPENAI_FINE_TUNING_ENDS` (an ISO date) moves the day, should OpenAI move it.

Before that day the organisation's own rights are asked for, also before any upload:
`GET /v1/fine_tuning/model_limits` (OpenAI's help centre names the call). Its successful answer's shape is
published nowhere this project could read, so only OpenAI's documented error envelope is relied on: a 403
(`{"error": {"message", "type", "code"}}`) is OpenAI saying this organisation may not fine-tune, and the job is
refused with its message. Anything else (a 200 whatever it holds, a 404 from a server without the call, an
unreachable server) leaves the decision to the job's creation, where OpenAI's own refusal ends the run in
error with its message: a real job is not refused on a guess.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any, ClassVar, Literal

import httpx
from finetune_core.domain import FineTuneStatus
from finetune_core.training import FineTuneRequest, TrainingRun
from pydantic import BaseModel, ConfigDict, Field

from finetune_providers._retry import MAX_DETAIL_CHARS, error_detail, redact
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
from finetune_providers.training._options import parse_options

STATUSES = {
    "validating_files": FineTuneStatus.PREPARING,
    "queued": FineTuneStatus.PREPARING,
    "running": FineTuneStatus.TRAINING,
    "succeeded": FineTuneStatus.COMPLETED,
    "failed": FineTuneStatus.ERROR,
    "cancelled": FineTuneStatus.CANCELLED,
}
FORBIDDEN = 403
EVENTS_PAGE = 100
MAX_EVENT_PAGES = 50  # a catch-up after a long pause reads at most this many pages


class OpenAIHyperparameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_epochs: Literal["auto"] | Annotated[int, Field(ge=1)] = "auto"
    batch_size: Literal["auto"] | Annotated[int, Field(ge=1)] = "auto"
    learning_rate_multiplier: Literal["auto"] | Annotated[float, Field(gt=0)] = "auto"
    beta: Literal["auto"] | Annotated[float, Field(gt=0)] = "auto"  # DPO only


LIMITS_PATH = "fine_tuning/model_limits"
LIMITS_TIMEOUT_S = 15.0
FINE_TUNING_ENDS = date(2027, 1, 6)  # no new self-serve fine-tuning job at OpenAI from this day
ENDS_SETTING = "FINETUNE_OPENAI_FINE_TUNING_ENDS"


def fine_tuning_ends() -> date:
    """The day OpenAI takes no new fine-tuning job: its announced one, or the setting's."""
    value = os.environ.get(ENDS_SETTING, "").strip()
    try:
        return date.fromisoformat(value) if value else FINE_TUNING_ENDS
    except ValueError:
        return FINE_TUNING_ENDS


def organisation_refusal(base_url: str, api_key: str | None, *, timeout_s: float) -> str | None:
    """OpenAI's reason this organisation may not fine-tune (its 403 on the limits call); None otherwise (see the
    module doc: only the documented error envelope is read)."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        with httpx.Client(base_url=base_url.rstrip("/") + "/", headers=headers, timeout=timeout_s) as client:
            response = client.get(LIMITS_PATH)
    except httpx.HTTPError:
        return None  # unreachable now: the job's creation will tell
    if response.status_code != FORBIDDEN:
        return None
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    message, _ = error_detail(body)
    detail = redact(" ".join(message.split()), api_key)[:MAX_DETAIL_CHARS]
    return f"OpenAI does not let this organisation create fine-tuning jobs: {detail or 'forbidden (403)'}"


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
        settings = parse_options(cls.label, request.options, suffix_max_chars=cls.suffix_max_chars,
                                 model=cls.options_model)
        return organisation_refusal(settings.base_url or cls.default_base_url, api_key,
                                    timeout_s=min(settings.timeout_s, LIMITS_TIMEOUT_S))

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
