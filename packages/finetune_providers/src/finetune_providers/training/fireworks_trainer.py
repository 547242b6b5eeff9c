"""Fireworks AI fine-tuning (`fireworks`): an open model's LoRA adapter, trained supervised (SFT) or on preference
pairs (DPO, option `method=dpo`).

Wire format (base https://api.fireworks.ai/v1; `{a}` the account; a job's external id is its resource name,
`accounts/{a}/supervisedFineTuningJobs/{id}` or `accounts/{a}/dpoJobs/{id}`):

    GET  accounts                                     the key's accounts (only when no account is given)
    POST accounts/{a}/datasets                        {datasetId, dataset: {displayName, exampleCount,
                                                       userUploaded: {}, format: CHAT}}
    POST accounts/{a}/datasets/{id}:upload            multipart: file (one request, up to 150 MB)
    GET  accounts/{a}/datasets/{id}                   state UPLOADING -> READY
    POST accounts/{a}/supervisedFineTuningJobs?supervisedFineTuningJobId={id}
                                                      {dataset, evaluationDataset, displayName, baseModel,
                                                       epochs, learningRate, loraRank, batchSize, ...}
    POST accounts/{a}/dpoJobs?dpoJobId={id}           {dataset, displayName, trainingConfig: {baseModel, epochs,
                                                       learningRate, loraRank, ...}, lossConfig: {klBeta}}
    GET  {job}                                        state JOB_STATE_*, status {code, message}, outputModel
                                                      (DPO: trainingConfig.outputModel), jobProgress {percent},
                                                      metricsFileSignedUrl (SFT)
    GET  {dpo job}:getMetricsFileEndpoint             {signedUrl} (DPO)
    POST {job}:cancel

Documented at https://docs.fireworks.ai/api-reference/create-dataset, .../upload-dataset-files,
.../get-dataset, .../create-supervised-fine-tuning-job, .../get-supervised-fine-tuning-job,
.../create-dpo-job, .../get-dpo-job, .../get-dpo-job-metrics-file-endpoint (all under
https://docs.fireworks.ai/api-reference/), https://docs.fireworks.ai/fine-tuning/dpo-fine-tuning (the DPO
dataset: `input.messages`, `preferred_output`, `non_preferred_output`, the `openai-preference` export) and
https://docs.fireworks.ai/tools-sdks/firectl/commands/supervised-fine-tuning-job-cancel.

Settings: the key (`finetune keys set fireworks` or FIREWORKS_API_KEY); the account (option `account_id`, else
FIREWORKS_ACCOUNT_ID, else the one account `GET accounts` lists; remembered in the run's state). Request method
`lora` (the only one: Fireworks trains LoRA adapters). Hyperparameters by API name, with aliases: `epochs`
(`n_epochs`), `learningRate` (`learning_rate`), `loraRank` (`lora_rank`, `lora_r`), `batchSize` (`batch_size`,
in tokens), `maxContextLength`, `learningRateWarmupSteps` (`warmup_steps`), `gradientAccumulationSteps`,
`earlyStop` (SFT only) and `klBeta` (`beta`; DPO only, sent as `lossConfig.klBeta`).

Chosen here, where the docs say nothing or leave a choice:
- Ids are ours: the job `finetune-{fine-tuning id}` (`{suffix}-{fine-tuning id}` with the option `suffix`;
  lower case, `[a-z0-9-]`, at most 63 characters), sent as the documented `supervisedFineTuningJobId` /
  `dpoJobId`. A run resumed after a crash between the create request and storing its answer looks the job up
  by that name (GET; 404: never created) instead of creating a second one. `outputModel` is left out: Fireworks
  then names the model after the job (documented), and that model (`accounts/{a}/models/{id}`) is registered.
- Datasets go up with `:upload` (one request) rather than `:getUploadEndpoint` and a signed URL; a dataset
  creation answered 409 (made by an earlier attempt) is taken as made, and the job is created once the dataset
  is READY. A DPO job takes no evaluation dataset: a DPO run uploads the train split only.
- Cancel is `POST {job}:cancel`, the operation `firectl ... cancel` calls; the reference documents DELETE too,
  which deletes the job's record: not used.
- Metrics: Fireworks documents no schema for its metrics file. It is read as JSON lines with `step`, the loss
  under `train/loss`, `loss` or `train_loss` (validation: `eval/loss`, `eval_loss`, `valid_loss`), top level or
  under `data` / `metrics`, and `max_steps` / `total_steps`; it is downloaded without the key. A missing or
  unreadable file gives no metrics (the job is followed all the same); progress also comes from
  `jobProgress.percent`.
- States: CREATING, VALIDATING, PENDING -> preparing; RUNNING, WRITING_RESULTS, EVALUATION -> training;
  COMPLETED; FAILED*, EXPIRED -> error (with `status.message`); CANCELLED, DELETING -> cancelled; PAUSED,
  UNSPECIFIED and any other state change nothing.
- A bare base model name (`llama-v3p1-8b-instruct`) means `accounts/fireworks/models/{name}`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, cast

from finetune_core.domain import FineTuneStatus
from finetune_core.errors import TrainingError
from finetune_core.training import TrainingRun
from pydantic import BaseModel, ConfigDict, Field

from finetune_providers._retry import TransientError
from finetune_providers.training._hosted import (
    HostedTrainer,
    MetricPoint,
    Note,
    RemoteJob,
    Update,
    Updates,
    UploadedFiles,
    integer,
    number,
)
from finetune_providers.training._http import HostedApi
from finetune_providers.training._options import HostedOptions

ACCOUNT_ENV = "FIREWORKS_ACCOUNT_ID"
MAX_ID_CHARS = 63
DATASET_READY_POLLS = 360  # polls of a dataset still UPLOADING before the run gives up
STATES: dict[str, FineTuneStatus | None] = {
    "JOB_STATE_CREATING": FineTuneStatus.PREPARING,
    "JOB_STATE_VALIDATING": FineTuneStatus.PREPARING,
    "JOB_STATE_PENDING": FineTuneStatus.PREPARING,
    "JOB_STATE_RUNNING": FineTuneStatus.TRAINING,
    "JOB_STATE_WRITING_RESULTS": FineTuneStatus.TRAINING,
    "JOB_STATE_EVALUATION": FineTuneStatus.TRAINING,
    "JOB_STATE_COMPLETED": FineTuneStatus.COMPLETED,
    "JOB_STATE_EXPIRED": FineTuneStatus.ERROR,
    "JOB_STATE_CANCELLED": FineTuneStatus.CANCELLED,
}
TRAIN_LOSS_KEYS = ("train/loss", "loss", "train_loss")
VALID_LOSS_KEYS = ("eval/loss", "eval_loss", "valid_loss", "validation/loss")
TOTAL_KEYS = ("max_steps", "total_steps", "maxSteps")


def state_of(raw: str) -> FineTuneStatus | None:
    if raw.startswith("JOB_STATE_FAILED"):
        return FineTuneStatus.ERROR
    if raw.startswith("JOB_STATE_DELETING"):
        return FineTuneStatus.CANCELLED
    return STATES.get(raw)


def resource_id(text: str) -> str:
    """`text` as a Fireworks resource id: lower case letters, digits and '-', at most 63 characters."""
    cleaned = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]+", "-", text.lower())).strip("-")
    return cleaned[:MAX_ID_CHARS].rstrip("-") or "finetune"


class FireworksOptions(HostedOptions):
    account_id: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")  # None: env, else the only one


class FireworksHyperparameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    epochs: int | None = Field(None, ge=1)
    learningRate: float | None = Field(None, gt=0)
    loraRank: int | None = Field(None, ge=1)
    batchSize: int | None = Field(None, ge=1)
    maxContextLength: int | None = Field(None, ge=1)
    learningRateWarmupSteps: int | None = Field(None, ge=0)
    gradientAccumulationSteps: int | None = Field(None, ge=1)
    earlyStop: bool | None = None
    klBeta: float | None = Field(None, gt=0)


class FireworksTrainer(HostedTrainer):
    name: ClassVar[str] = "fireworks"
    label: ClassVar[str] = "Fireworks AI"
    key_provider: ClassVar[str | None] = "fireworks"
    methods: ClassVar[tuple[str, ...]] = ("lora",)
    default_method: ClassVar[str | None] = "lora"
    export_format: ClassVar[str] = "openai"
    default_base_url: ClassVar[str] = "https://api.fireworks.ai/v1"
    hyperparameters_model: ClassVar[type[BaseModel]] = FireworksHyperparameters
    hyperparameter_aliases: ClassVar[Mapping[str, str]] = {
        "n_epochs": "epochs", "learning_rate": "learningRate", "lora_rank": "loraRank", "lora_r": "loraRank",
        "batch_size": "batchSize", "max_context_length": "maxContextLength",
        "warmup_steps": "learningRateWarmupSteps", "gradient_accumulation_steps": "gradientAccumulationSteps",
        "early_stop": "earlyStop", "beta": "klBeta"}
    suffix_max_chars: ClassVar[int] = 17  # with "-" and a fine-tuning id (36), a job id stays within 63
    options_model: ClassVar[type[HostedOptions]] = FireworksOptions
    training_methods: ClassVar[tuple[str, ...]] = ("sft", "dpo")
    dpo_hyperparameters: ClassVar[tuple[str, ...]] = ("klBeta",)
    sft_hyperparameters: ClassVar[tuple[str, ...]] = ("earlyStop",)

    def dataset_splits(self) -> tuple[str, ...]:
        return ("train",) if self.settings.method == "dpo" else ("train", "eval")

    # --- the account ----------------------------------------------------------------------------
    def account(self, api: HostedApi, run: TrainingRun) -> str:
        """The account the run's datasets and job live in: remembered, else the option, env, or only one."""
        remembered = run.state.get("fireworks_account")
        if isinstance(remembered, str) and remembered:
            return remembered
        options = cast(FireworksOptions, self.settings)
        account = options.account_id or os.environ.get(ACCOUNT_ENV, "").strip() or self._only_account(api)
        run.remember(fireworks_account=account)
        return account

    def _only_account(self, api: HostedApi) -> str:
        answer = api.get("accounts")
        names = [str(item.get("name") or "").removeprefix("accounts/") for item in answer.get("accounts") or []
                 if isinstance(item, Mapping)] if isinstance(answer, Mapping) else []
        names = [name for name in names if name]
        if len(names) == 1:
            return names[0]
        found = f"this key reaches {len(names)} accounts ({', '.join(names)})" if names else \
            "no account was found for this key"
        raise TrainingError(f"{self.label}: {found}: give the account with the option account_id or set "
                            f"{ACCOUNT_ENV}", provider=self.label)

    # --- datasets -------------------------------------------------------------------------------
    def upload_file(self, api: HostedApi, run: TrainingRun, path: Path, filename: str) -> str:
        account = self.account(api, run)
        dataset_id = resource_id(f"finetune-{Path(filename).stem}")
        name = f"accounts/{account}/datasets/{dataset_id}"
        with path.open("rb") as handle:
            count = sum(1 for line in handle if line.strip())
        dataset: dict[str, Any] = {"displayName": filename, "exampleCount": str(count), "userUploaded": {}}
        if self.settings.method == "sft":
            dataset["format"] = "CHAT"  # preference pairs are none of CHAT, COMPLETION, RL: left unspecified
        body = {"datasetId": dataset_id, "dataset": dataset}

        def create() -> None:
            try:
                api.post(f"accounts/{account}/datasets", json=body, retry=False)
            except TransientError as exc:
                if exc.status != 409:  # 409: already there, made by an attempt whose answer was lost
                    raise

        api.retry(create)
        if self._dataset_state(api, name) != "READY":
            try:
                api.upload(f"{name}:upload", path, filename=filename, fields={})
            except TrainingError:  # refused as uploaded already: an attempt whose answer was lost did it
                if self._dataset_state(api, name) != "READY":
                    raise
            self._wait_until_ready(api, run, name)
        return name

    def _dataset_state(self, api: HostedApi, name: str) -> str:
        answer = api.get(name)
        status = answer.get("status") or {}
        code = str(status.get("code") or "OK") if isinstance(status, Mapping) else "OK"
        if code not in ("OK", "0"):
            message = status.get("message") if isinstance(status, Mapping) else None
            raise TrainingError(f"{self.label}: the dataset {name} was refused: {message or code}",
                                provider=self.label)
        return str(answer.get("state") or "STATE_UNSPECIFIED")

    def _wait_until_ready(self, api: HostedApi, run: TrainingRun, name: str) -> None:
        for _ in range(DATASET_READY_POLLS):
            if self._dataset_state(api, name) == "READY":
                return
            run.wait(self.settings.poll_interval_s)
        raise TrainingError(f"{self.label}: the dataset {name} never became READY", provider=self.label)

    # --- the job --------------------------------------------------------------------------------
    def job_name(self, account: str, run: TrainingRun) -> str:
        collection = "dpoJobs" if self.settings.method == "dpo" else "supervisedFineTuningJobs"
        prefix = self.settings.suffix or "finetune"
        return f"accounts/{account}/{collection}/{resource_id(f'{prefix}-{run.fine_tune.id}')}"

    def create_job(self, api: HostedApi, run: TrainingRun, files: UploadedFiles) -> str:
        name = self.job_name(self.account(api, run), run)
        parent, collection, job_id = name.rsplit("/", 2)
        hyperparameters = dict(run.fine_tune.hyperparameters)
        beta = hyperparameters.pop("klBeta", None)
        config = {"baseModel": base_model(run.fine_tune.base_model), **hyperparameters}
        body: dict[str, Any] = {"dataset": files.train, "displayName": run.fine_tune.name}
        if collection == "dpoJobs":
            body["trainingConfig"] = config
            if beta is not None:
                body["lossConfig"] = {"klBeta": beta}
            query = f"dpoJobId={job_id}"
        else:
            body.update(config)
            if files.validation:
                body["evaluationDataset"] = files.validation
            query = f"supervisedFineTuningJobId={job_id}"
        answer = api.post(f"{parent}/{collection}?{query}", json=body, retry=False)
        created = answer.get("name") if isinstance(answer, Mapping) else None
        return str(created) if isinstance(created, str) and created.startswith("accounts/") else name

    def find_job(self, api: HostedApi, run: TrainingRun, files: UploadedFiles) -> str | None:
        name = self.job_name(self.account(api, run), run)
        try:
            api.get(name)
        except TrainingError as exc:
            if exc.context.get("status") == 404:
                return None
            raise
        return name

    def get_job(self, api: HostedApi, job_id: str) -> RemoteJob:
        data = api.get(job_id)
        raw = str(data.get("state") or "JOB_STATE_UNSPECIFIED")
        status = state_of(raw)
        config = data.get("trainingConfig") if isinstance(data.get("trainingConfig"), Mapping) else {}
        model = data.get("outputModel") or config.get("outputModel")
        if not model and status is FineTuneStatus.COMPLETED:  # named after the job when no outputModel was given
            account = job_id.split("/")[1]
            model = f"accounts/{account}/models/{job_id.rsplit('/', 1)[-1]}"
        if isinstance(model, str) and not model.startswith("accounts/"):
            model = f"accounts/{job_id.split('/')[1]}/models/{model}"
        message = (data.get("status") or {}).get("message") if isinstance(data.get("status"), Mapping) else None
        progress = data.get("jobProgress") if isinstance(data.get("jobProgress"), Mapping) else {}
        return RemoteJob(id=job_id, raw_status=raw, status=status, model_id=model or None,
                         error=(message or None) if status is FineTuneStatus.ERROR else None, data=data,
                         progress=number(progress.get("percent")))

    def updates(self, api: HostedApi, run: TrainingRun, job: RemoteJob) -> Updates:
        items: list[Update] = []
        cursor: dict[str, Any] = {}
        status = job.data.get("status")
        message = status.get("message") if isinstance(status, Mapping) else None
        if message and message != run.state.get("fireworks_message") and job.status is not FineTuneStatus.ERROR:
            items.append(Note(str(message)))
            cursor["fireworks_message"] = message
        if job.status in (FineTuneStatus.TRAINING, FineTuneStatus.COMPLETED):
            items.extend(self._metrics(api, job))
        return Updates(items=items, cursor=cursor)

    def _metrics(self, api: HostedApi, job: RemoteJob) -> list[Update]:
        """The metric points of the job's metrics file; none while it is missing or cannot be read."""
        try:
            url = job.data.get("metricsFileSignedUrl")
            if "/dpoJobs/" in job.id:
                answer = api.get(f"{job.id}:getMetricsFileEndpoint")
                url = answer.get("signedUrl") if isinstance(answer, Mapping) else None
            content = api.download(url) if isinstance(url, str) and url else None
        except (TrainingError, TransientError):
            return []  # best effort: a metrics file that cannot be read never stops the training
        return metric_points(content or b"")

    def cancel_job(self, api: HostedApi, job_id: str) -> None:
        api.post(f"{job_id}:cancel", json={})


def base_model(model: str) -> str:
    return model if "/" in model else f"accounts/fireworks/models/{model}"


def metric_points(content: bytes) -> list[Update]:
    points: list[Update] = []
    for line in content.decode("utf-8", "replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, Mapping):
            continue
        step = integer(record.get("step"))
        if step is None or step <= 0:
            continue
        nested = record.get("data") or record.get("metrics")
        values: Mapping[str, Any] = {**record, **nested} if isinstance(nested, Mapping) else record
        points.append(MetricPoint(step=step, train_loss=_pick(values, TRAIN_LOSS_KEYS),
                                  valid_loss=_pick(values, VALID_LOSS_KEYS),
                                  total_steps=integer(_pick(values, TOTAL_KEYS))))
    return points


def _pick(values: Mapping[str, Any], keys: tuple[str, ...]) -> float | None:
    return next((found for key in keys if (found := number(values.get(key))) is not None), None)
