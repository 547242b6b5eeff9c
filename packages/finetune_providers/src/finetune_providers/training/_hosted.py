"""What every hosted fine-tuning shares: the lifecycle, resume, the poll loop, metrics and cancel.

    queued -> preparing: upload the train (and eval) files, each once (their ids kept in `run.state`)
           -> find or create the remote job, its id stored at once (`run.remember(external_id=...)`)
           -> training: poll every `poll_interval_s`, turning the provider's status, metrics,
              messages and checkpoints into the fine-tuning's status, progress, metrics and events
           -> completed (the fine-tuned model registered) / error (TrainingError with the
              provider's message) / cancelled (JobCancelledError: at the provider or by us)

A run whose worker died is run again and continues with the same files and the same remote job.
A crash between the create request and storing its answer is covered too: before creating, the
run remembers that it is about to, and a run that finds that mark looks the job up first (by our
fine-tuning id in the job's metadata, or by the uploaded training file) instead of creating a
second one. A metric step is recorded once: the last step seen is remembered before its events
are written, so a crash may lose an event but never repeats one.

A subclass only speaks its API: `upload_file`, `create_job` (sent once, without blind retries),
`find_job`, `get_job`, `updates` (new metrics, messages and checkpoints), `advance` (a nudge a
provider needs, such as Mistral's start) and `cancel_job`.

The training objective is the option `method`: `sft` (default) trains on the `export_format` export,
`dpo` on the `openai-preference` export (`{"input": {"messages"}, "preferred_output",
"non_preferred_output"}` per line). A trainer lists the objectives its provider takes in
`training_methods`; any other is refused by `check` (InvalidInputError) before anything is stored.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

from finetune_core.domain import FineTuneStatus
from finetune_core.errors import (
    FinetuneError,
    InvalidInputError,
    JobCancelledError,
    NoPreferencePairsError,
    TrainingError,
)
from finetune_core.training import FineTuneRequest, Trainer, TrainingRun
from pydantic import BaseModel

from finetune_providers._retry import TransientError
from finetune_providers.training._http import HostedApi, Sleep
from finetune_providers.training._options import (
    TRAINING_METHODS,
    HostedOptions,
    parse_hyperparameters,
    parse_options,
)
from finetune_providers.training._remote import (
    Checkpoint,
    MetricPoint,
    Note,
    RemoteJob,
    Update,
    Updates,
    UploadedFiles,
    first,
    id_of,
    integer,
    items_of,
    number,
)

__all__ = [  # the values of `_remote` are re-exported: the provider modules import everything from here
    "CANCEL_ATTEMPTS", "MAX_FAILED_POLLS", "PREFERENCE_FORMAT", "Checkpoint", "HostedTrainer", "MetricPoint", "Note",
    "RemoteJob", "Update", "Updates", "UploadedFiles", "id_of", "integer", "items_of", "number",
]

MAX_FAILED_POLLS = 10  # polls in a row that used up their retries before the run gives up
CANCEL_ATTEMPTS = 3
PREFERENCE_FORMAT = "openai-preference"  # the core exporter of preference pairs, what a DPO run uploads


class HostedTrainer(Trainer):
    """Base of the hosted trainers; see the module doc."""

    label: ClassVar[str]
    default_base_url: ClassVar[str]
    hyperparameters_model: ClassVar[type[BaseModel]]  # the accepted hyperparameters, by API name
    hyperparameter_aliases: ClassVar[Mapping[str, str]] = {}  # other names users write: {"epochs": "n_epochs"}
    suffix_max_chars: ClassVar[int] = 64
    options_model: ClassVar[type[HostedOptions]] = HostedOptions  # a subclass adds the options of its provider
    training_methods: ClassVar[tuple[str, ...]] = ("sft",)  # the objectives (option `method`) the provider takes
    dpo_hyperparameters: ClassVar[tuple[str, ...]] = ()  # hyperparameters that only a DPO job takes
    sft_hyperparameters: ClassVar[tuple[str, ...]] = ()  # hyperparameters that only a supervised job takes

    @cached_property
    def settings(self) -> HostedOptions:
        """The checked options; read inside `train`, so a bad stored option ends the run in `error`."""
        return parse_options(self.label, self.options, suffix_max_chars=self.suffix_max_chars,
                             model=self.options_model)

    @classmethod
    def check(cls, request: FineTuneRequest) -> FineTuneRequest:
        if request.method in TRAINING_METHODS and request.method not in cls.methods:
            accepted = ", ".join(cls.methods) or "none"
            raise InvalidInputError(f"the {cls.label} trainer has no method '{request.method}' (accepted: "
                                    f"{accepted}); SFT or DPO is chosen with the option `method` "
                                    f"(--option method={request.method})", method=request.method)
        request = super().check(request)
        settings = parse_options(cls.label, request.options, suffix_max_chars=cls.suffix_max_chars,
                                 model=cls.options_model)
        cls.check_training_method(settings.method)
        hyperparameters = cls.check_hyperparameters(request.hyperparameters, request.method)
        cls.check_objective(hyperparameters, settings.method)
        return request.model_copy(update={"hyperparameters": hyperparameters})

    @classmethod
    def check_training_method(cls, method: str) -> None:
        """InvalidInputError when the provider does not train with this objective (DPO where it has none)."""
        if method in cls.training_methods:
            return
        accepted = ", ".join(cls.training_methods)
        what = "DPO (preference pairs)" if method == "dpo" else f"the training method '{method}'"
        raise InvalidInputError(f"the {cls.label} trainer does not do {what}: option method='{method}' "
                                f"(accepted: {accepted})", option="method", method=method)

    @classmethod
    def check_objective(cls, hyperparameters: Mapping[str, Any], method: str) -> None:
        """InvalidInputError for a hyperparameter of the other objective (a DPO beta on a supervised job)."""
        other, wrong = ("sft", cls.sft_hyperparameters) if method == "dpo" else ("dpo", cls.dpo_hyperparameters)
        misplaced = sorted(key for key in hyperparameters if key in wrong)
        if misplaced:
            raise InvalidInputError(f"the {cls.label} hyperparameters {', '.join(map(repr, misplaced))} are for "
                                    f"the method '{other}' only (option method='{method}')",
                                    hyperparameters=misplaced)

    @classmethod
    def check_hyperparameters(cls, values: Mapping[str, Any], method: str | None) -> dict[str, Any]:
        """The hyperparameters as they will be sent; InvalidInputError for what the API would refuse."""
        return parse_hyperparameters(cls.label, cls.hyperparameters_model, values,
                                     aliases=cls.hyperparameter_aliases)

    # --- what a provider says -------------------------------------------------------------------
    def dataset_format(self) -> str:
        """The export the run uploads: the provider's chat format, or the preference pairs of a DPO run."""
        return PREFERENCE_FORMAT if self.settings.method == "dpo" else self.export_format

    def dataset_splits(self) -> tuple[str, ...]:
        """The splits uploaded: both, unless the provider's job takes no validation file (then only "train")."""
        return ("train", "eval")

    def upload_file(self, api: HostedApi, run: TrainingRun, path: Path, filename: str) -> str:
        """Upload one dataset file for fine-tuning; its id. By default OpenAI's `POST /files`, purpose fine-tune,
        which Mistral's API shares."""
        return id_of(api.upload("files", path, filename=filename, fields={"purpose": "fine-tune"}), self.label, "file")

    @abstractmethod
    def create_job(self, api: HostedApi, run: TrainingRun, files: UploadedFiles) -> str:
        """Create the remote job (one attempt: `api.post(..., retry=False)`); its id."""

    @abstractmethod
    def find_job(self, api: HostedApi, run: TrainingRun, files: UploadedFiles) -> str | None:
        """The id of the job this fine-tuning already created, if any."""

    @abstractmethod
    def get_job(self, api: HostedApi, job_id: str) -> RemoteJob:
        """The job as the provider sees it now."""

    def updates(self, api: HostedApi, run: TrainingRun, job: RemoteJob) -> Updates:
        """New metrics, messages and checkpoints since the cursor kept in `run.state`."""
        return Updates()

    def advance(self, api: HostedApi, run: TrainingRun, job: RemoteJob) -> None:
        """Move the job on when the provider waits for us (Mistral: start a validated job)."""

    @abstractmethod
    def cancel_job(self, api: HostedApi, job_id: str) -> None:
        """Ask the provider to stop the job."""

    # --- the lifecycle --------------------------------------------------------------------------
    def train(self, run: TrainingRun) -> None:
        with self.open_api(run) as api:
            if run.fine_tune.status is FineTuneStatus.QUEUED:
                run.set_status(FineTuneStatus.PREPARING)
            job_id = run.fine_tune.external_id
            if job_id is None:
                job_id = self._start(api, run)
            self._follow(api, run, job_id)

    def cancel(self, run: TrainingRun) -> None:
        """Best effort: a job already ended, or an API that does not answer, is logged, never raised."""
        job_id = run.fine_tune.external_id
        try:
            with self.open_api(run, sleep=time.sleep, attempts=CANCEL_ATTEMPTS) as api:
                files = self._remembered_files(run)
                if job_id is None and run.state.get("creating") and files is not None:
                    job_id = self.find_job(api, run, files)
                if job_id is None:
                    return
                self.cancel_job(api, job_id)
        except (FinetuneError, TransientError) as exc:
            run.event("log", message=f"{self.label}: the job {job_id} could not be cancelled: {_message(exc)}")
            return
        run.event("log", message=f"{self.label}: cancel requested for the job {job_id}")

    def open_api(self, run: TrainingRun, *, sleep: Sleep | None = None, attempts: int | None = None) -> HostedApi:
        """A client for this fine-tuning; its retries wait with `run.wait` (cancel-aware) unless told otherwise."""
        policy = self.settings.retry_policy()
        if attempts is not None:
            policy = replace(policy, max_attempts=min(attempts, policy.max_attempts))
        return HostedApi(label=self.label, base_url=self.settings.base_url or self.default_base_url,
                         api_key=run.api_key, policy=policy, timeout_s=self.settings.timeout_s,
                         key_hint=self._key_hint(run), sleep=sleep or run.wait, on_retry=self._retry_logger(run))

    # --- preparing ------------------------------------------------------------------------------
    def _start(self, api: HostedApi, run: TrainingRun) -> str:
        try:
            files = self._upload(api, run)
            return self._find_or_create(api, run, files)
        except TransientError as exc:
            raise TrainingError(f"{self.label}: {exc.message} (gave up after {api.policy.max_attempts} attempts)",
                                provider=self.label) from None

    def _upload(self, api: HostedApi, run: TrainingRun) -> UploadedFiles:
        uploaded: dict[str, str | None] = dict(run.state.get("files") or {})
        for split in self.dataset_splits():
            if split in uploaded:
                continue
            path = self._export(run, split)
            if path is None and split == "train":
                raise TrainingError("the project has no valid training examples to upload")
            uploaded[split] = None if path is None else self.upload_file(
                api, run, path, f"{run.fine_tune.id}-{split}.{path.suffix.lstrip('.') or 'jsonl'}")
            run.remember(files=uploaded)
            if path is not None:
                run.event("log", message=f"{self.label}: uploaded the {split} file", file_id=uploaded[split])
        train = uploaded.get("train")
        if not train:
            raise TrainingError("the project has no valid training examples to upload")
        return UploadedFiles(train=train, validation=uploaded.get("eval"))

    def _export(self, run: TrainingRun, split: str) -> Path | None:
        try:
            return run.dataset_file(split, self.dataset_format())
        except NoPreferencePairsError as exc:  # the preference export of a split without one ranked pair
            if split != "train":
                return None  # the job trains without validation
            raise TrainingError(exc.message, error_code=exc.error_code, provider=self.label) from None

    @staticmethod
    def _remembered_files(run: TrainingRun) -> UploadedFiles | None:
        uploaded = run.state.get("files") or {}
        train = uploaded.get("train")
        return UploadedFiles(train=train, validation=uploaded.get("eval")) if train else None

    def _find_or_create(self, api: HostedApi, run: TrainingRun, files: UploadedFiles) -> str:
        def attempt() -> tuple[str, str]:
            if run.state.get("creating"):  # an earlier attempt may have created it: never create twice blindly
                found = self.find_job(api, run, files)
                if found is not None:
                    return found, "found again (created before an interruption)"
            else:
                run.remember(creating=True)
            return self.create_job(api, run, files), "created"

        job_id, how = api.retry(attempt)
        run.remember(external_id=job_id, creating=False)
        run.event("log", message=f"{self.label}: job {job_id} {how}", external_id=job_id)
        return job_id

    # --- following ------------------------------------------------------------------------------
    def _follow(self, api: HostedApi, run: TrainingRun, job_id: str) -> None:
        failures = 0
        while True:
            try:
                job = self.get_job(api, job_id)
                self._record(run, job, self.updates(api, run, job))
                self.advance(api, run, job)
            except TransientError as exc:
                failures += 1
                if failures >= MAX_FAILED_POLLS:
                    raise TrainingError(f"{self.label}: the job {job_id} could not be followed: {exc.message}",
                                        provider=self.label, external_id=job_id) from None
                run.event("log", message=f"{self.label}: polling failed ({exc.message}); trying again")
                run.wait(self.settings.poll_interval_s)
                continue
            failures = 0
            if self._settle(run, job):
                return
            run.wait(self.settings.poll_interval_s)

    def _record(self, run: TrainingRun, job: RemoteJob, updates: Updates) -> None:
        fresh, points, seen = _unseen(run.state, updates.items)
        state: dict[str, Any] = dict(updates.cursor)
        if points:
            state["last_step"] = max(points)
        if len(seen) != len(run.state.get("checkpoints_seen") or []):
            state["checkpoints_seen"] = seen
        if job.raw_status != run.state.get("remote_status"):
            state["remote_status"] = job.raw_status
        if state:
            run.remember(**state)  # before the events: a crash may lose one, never repeat it
        if "remote_status" in state:
            run.event("log", message=f"{self.label}: job {job.raw_status}", remote_status=job.raw_status)
        if job.status in (FineTuneStatus.TRAINING, FineTuneStatus.COMPLETED):
            run.set_status(FineTuneStatus.TRAINING)  # a job that ran between two polls still trained
        for item in fresh:
            self._emit(run, points[item.step] if isinstance(item, MetricPoint) else item)
        if points:
            self._report(run, job, points)
        elif job.progress is not None and job.status is FineTuneStatus.TRAINING \
                and min(99.0, job.progress) != run.fine_tune.progress:
            run.report(progress=min(99.0, job.progress))

    def _emit(self, run: TrainingRun, item: Update) -> None:
        if isinstance(item, MetricPoint):
            run.event("log", **_metrics(item))
        elif isinstance(item, Checkpoint):
            run.event("checkpoint", **item.data)
        else:
            run.event("log", message=f"{self.label}: {item.message}")

    def _report(self, run: TrainingRun, job: RemoteJob, points: Mapping[int, MetricPoint]) -> None:
        latest: dict[str, Any] = {}
        for step in sorted(points):
            latest.update(_metrics(points[step]))
        total = first(latest.get("total_steps"), job.total_steps, run.fine_tune.metrics.get("total_steps"))
        if total is not None:
            latest["total_steps"] = total
        progress = min(99.0, 100.0 * latest["step"] / total) if total else None
        if progress is None and job.progress is not None:
            progress = min(99.0, job.progress)
        run.report(progress=progress, **latest)

    def _settle(self, run: TrainingRun, job: RemoteJob) -> bool:
        """True once the job ended well (its model registered); raises when it ended otherwise."""
        if job.status is FineTuneStatus.COMPLETED:
            if not job.model_id:
                raise TrainingError(f"{self.label}: the job {job.id} succeeded but named no fine-tuned model",
                                    external_id=job.id)
            if run.fine_tune.model_id is None:
                run.register_model(provider_model_id=job.model_id)
            run.report(progress=100.0)
            return True
        elif job.status is FineTuneStatus.ERROR:
            reason = job.error or f"the job ended with status {job.raw_status}"
            raise TrainingError(f"{self.label}: {reason}", provider=self.label, external_id=job.id)
        elif job.status is FineTuneStatus.CANCELLED:
            run.event("log", message=f"{self.label}: the job {job.id} was cancelled at the provider")
            raise JobCancelledError(f"the {self.label} job {job.id} was cancelled", external_id=job.id)
        return False

    # --- messages -------------------------------------------------------------------------------
    def _key_hint(self, run: TrainingRun) -> str:
        provider = self.key_provider or self.name
        fix = f"store another with `finetune keys set {provider}`"
        providers = run.workspace.plugins.providers
        env_var = providers.get(provider).env_var if provider in providers else None
        return f"{fix} or set {env_var}" if env_var else fix

    def _retry_logger(self, run: TrainingRun) -> Callable[[TransientError, float], None]:
        def log(error: TransientError, wait_s: float) -> None:
            run.event("log", message=f"{self.label}: {error.message}; retrying in {wait_s:.1f} s", level="warning")

        return log


def _unseen(state: Mapping[str, Any],
            items: Iterable[Update]) -> tuple[list[Update], dict[int, MetricPoint], list[str]]:
    """The items not recorded yet (in order), their metric points merged by step, and every checkpoint key seen."""
    last_step = int(state.get("last_step") or 0)
    seen = list(state.get("checkpoints_seen") or [])
    fresh: list[Update] = []
    points: dict[int, MetricPoint] = {}
    for item in items:
        if isinstance(item, MetricPoint):
            if item.step <= last_step:
                continue
            if item.step in points:  # a second event of the same step completes the first
                points[item.step] = points[item.step].merged(item)
                continue
            points[item.step] = item
        elif isinstance(item, Checkpoint):
            if item.key in seen:
                continue
            seen.append(item.key)
        fresh.append(item)
    return fresh, points, seen


def _metrics(point: MetricPoint) -> dict[str, Any]:
    values = {"step": point.step, "train_loss": point.train_loss, "valid_loss": point.valid_loss,
              "total_steps": point.total_steps}
    return {name: value for name, value in values.items() if value is not None}


def _message(exc: BaseException) -> str:
    return str(getattr(exc, "message", None) or exc)
