"""The trainer plugin contract: one fine-tuning, hosted at a provider or run on this machine.

A trainer class is registered by name (`finetune_register_trainers`). For each fine-tuning the
core builds it with the fine-tuning's `options` and calls `train(run)` inside a recorded job;
`run` (a `TrainingRun`) hands it the dataset files, the API key and the cancel flag, and records
what it reports: status (queued -> preparing -> training -> completed / cancelled / error),
progress, metrics and events (`log`, `progress`, `eval`, `checkpoint`: the training stream),
resume state, and the model it registers at the end.

`train` returns when the training has completed (the core then marks it `completed`), raises
`TrainingError` (or any FinetuneError) when it failed, and lets `JobCancelledError` out when the
run was cancelled (raised by `run.wait` / `run.check_cancel`); the core then calls `cancel(run)`
so a hosted job is stopped at the provider too. A job whose worker died is run again: `train`
must read `run.fine_tune.external_id` / `run.state` and continue (poll the same remote job,
resume from the last checkpoint) rather than start over.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from finetune_core.domain import FineTune, FineTuneStatus, JobEvent, Project, TrainedModel, utcnow
from finetune_core.errors import NotSupportedError

if TYPE_CHECKING:
    from finetune_core.jobs.context import JobContext
    from finetune_core.ports import WorkspacePort

WAIT_SLICE_S = 1.0  # how often a waiting trainer looks at the cancel flag
# (split, format, out): writes the project's valid `split` examples as `format` to `out`, returns how many
DatasetWriter = Callable[[str, str, Path], int]


class FineTuneRequest(BaseModel):
    """What a fine-tuning is asked to do, checked by `Trainer.check` before anything is stored."""

    model_config = ConfigDict(extra="forbid")

    trainer: str
    base_model: str = Field(min_length=1, max_length=300)
    method: str | None = None
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)
    name: str | None = Field(None, max_length=200)
    description: str | None = None


class TrainingRun:
    """The core's side of one fine-tuning while its trainer runs; every report is stored at once.

    `write_dataset` is how `dataset_file` exports the dataset: the service that starts the run hands it in
    (`services.fine_tunes`: the exports service), so the trainers' contract needs no service.
    """

    def __init__(self, workspace: WorkspacePort, fine_tune: FineTune, project: Project, *,
                 api_key: str | None, context: JobContext | None, write_dataset: DatasetWriter | None = None) -> None:
        self.workspace = workspace
        self.fine_tune = fine_tune
        self.project = project
        self.api_key = api_key
        self.context = context
        self.write_dataset = write_dataset
        self.started = time.monotonic()

    @property
    def state(self) -> dict[str, Any]:
        return self.fine_tune.state

    # --- data -------------------------------------------------------------------------------
    def dataset_file(self, split: str, format: str) -> Path | None:
        """The project's valid `split` examples exported as `format` (streamed); None when there are none."""
        if self.write_dataset is None:
            raise NotSupportedError("this training run was given no dataset writer: start it with "
                                    "finetune_core.services.fine_tunes", fine_tune_id=self.fine_tune.id)
        exporter = self.workspace.plugins.exporters.get(format)
        out = self.workspace.files.local_path(f"fine_tunes/{self.fine_tune.id}/{split}.{exporter.file_extension}")
        out.parent.mkdir(parents=True, exist_ok=True)
        if self.write_dataset(split, format, out) == 0:
            out.unlink(missing_ok=True)
            return None
        return out

    def job_events(self) -> list[JobEvent]:
        """The events of this run's job so far, those of earlier attempts included (a resumed run reads its steps)."""
        if self.fine_tune.job_id is None:
            return []
        with self.workspace.unit_of_work() as uow:
            return uow.jobs.events(self.fine_tune.job_id)

    def other_fine_tune(self, fine_tune_id: str) -> FineTune:
        """Another fine-tuning (a run resuming from its checkpoint reads it); NotFoundError when there is none."""
        with self.workspace.unit_of_work() as uow:
            return uow.fine_tunes.get(fine_tune_id)

    def artifacts_dir(self) -> Path:
        """A folder of the file store for this fine-tuning's checkpoints and outputs."""
        path = self.workspace.files.local_path(f"fine_tunes/{self.fine_tune.id}/artifacts")
        path.mkdir(parents=True, exist_ok=True)
        return path

    # --- reports ----------------------------------------------------------------------------
    def _save(self, **values: Any) -> None:
        if self.context is not None:
            self.context.flush()  # what was reported before this is stored before it
        with self.workspace.unit_of_work() as uow:
            uow.fine_tunes.update(self.fine_tune.id, **values)
            self.fine_tune = uow.fine_tunes.get(self.fine_tune.id)

    def set_status(self, status: FineTuneStatus, message: str | None = None) -> None:
        if status is self.fine_tune.status and message is None:
            return
        values: dict[str, Any] = {"status": status.value}
        if status is FineTuneStatus.PREPARING and self.fine_tune.started_at is None:
            values["started_at"] = utcnow()
        if status.finished:
            values["completed_at"] = utcnow()
        self._save(**values)
        self.event("log", message=message or f"status: {status.value}", status=status.value)

    def remember(self, *, external_id: str | None = None, **state: Any) -> None:
        """Store resume state (and the provider's job id) before doing anything that depends on it."""
        values: dict[str, Any] = {"state": {**self.fine_tune.state, **state}}
        if external_id is not None:
            values["external_id"] = external_id
        self._save(**values)

    def report(self, *, progress: float | None = None, message: str | None = None, **metrics: Any) -> None:
        """Progress (0-100) and current metrics (`step`, `total_steps`, `train_loss`, `valid_loss`, ...)."""
        values: dict[str, Any] = {}
        if metrics:
            values["metrics"] = {**self.fine_tune.metrics, **metrics}
        if progress is not None:
            values["progress"] = max(0.0, min(100.0, progress))
        if values:
            self._save(**values)
        if self.context is not None and progress is not None:
            self.context.progress(progress, 100.0, message, force=True)

    def event(self, type: str, **data: Any) -> None:
        """One event of the training stream: `log`, `progress`, `eval`, `checkpoint`..."""
        if self.context is not None:
            self.context.event(type, **data)

    # --- cancel -----------------------------------------------------------------------------
    def check_cancel(self) -> None:
        """Raise JobCancelledError when a cancel was requested (and refresh the job's heartbeat)."""
        if self.context is not None:
            self.context.check_cancel()

    def wait(self, seconds: float) -> None:
        """Sleep, looking at the cancel flag every second (raises JobCancelledError when it is set)."""
        deadline = time.monotonic() + seconds
        while True:
            self.check_cancel()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(WAIT_SLICE_S, left))

    # --- result -----------------------------------------------------------------------------
    def register_model(self, *, provider_model_id: str | None = None, artifact_path: str | None = None,
                       name: str | None = None, metrics: dict[str, Any] | None = None) -> TrainedModel:
        """Register the fine-tuned model (once: a resumed run gets the same one back)."""
        model = TrainedModel(
            owner_id=self.fine_tune.owner_id, project_id=self.project.id, fine_tune_id=self.fine_tune.id,
            name=name or self.fine_tune.name, base_model=self.fine_tune.base_model, provider=self.fine_tune.trainer,
            provider_model_id=provider_model_id, artifact_path=artifact_path,
            metrics=metrics if metrics is not None else dict(self.fine_tune.metrics),
        )
        with self.workspace.unit_of_work() as uow:
            model = uow.models.add(model)
            uow.fine_tunes.update(self.fine_tune.id, model_id=model.id)
            self.fine_tune = uow.fine_tunes.get(self.fine_tune.id)
        self.event("log", message=f"model registered: {provider_model_id or artifact_path}", model_id=model.id)
        return model


class Trainer(ABC):
    """Base class of trainer plugins; see the module doc."""

    name: ClassVar[str]
    label: ClassVar[str] = ""  # shown in messages: "OpenAI"
    key_provider: ClassVar[str | None] = None  # the key-store provider whose key it needs
    methods: ClassVar[tuple[str, ...]] = ()  # accepted `method` values; () accepts None only
    default_method: ClassVar[str | None] = None
    queue: ClassVar[str] = "default"  # "gpu" for trainers that need the GPU host
    export_format: ClassVar[str] = "openai"  # what `run.dataset_file` is asked for
    # a provider that takes no new fine-tuning job: why (a new one is refused before anything is sent; the jobs
    # made before keep running, and can be cancelled)
    closed_to_new_jobs: ClassVar[str | None] = None

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = dict(options or {})

    @classmethod
    def check(cls, request: FineTuneRequest) -> FineTuneRequest:
        """Refuse (InvalidInputError, NotSupportedError) what cannot run; return the request with defaults filled."""
        from finetune_core.errors import InvalidInputError

        method = request.method or cls.default_method
        if method is not None and method not in cls.methods:
            accepted = ", ".join(cls.methods) or "none"
            raise InvalidInputError(f"the {cls.label or cls.name} trainer has no method '{method}' "
                                    f"(accepted: {accepted})", method=method)
        return request.model_copy(update={"method": method})

    @classmethod
    def refusal(cls, api_key: str | None, request: FineTuneRequest) -> str | None:
        """Why the provider would not take this job now, asked before anything is uploaded (None: it would).

        For a provider that can tell (an account's fine-tuning rights); `closed_to_new_jobs` is checked before.
        """
        return None

    @abstractmethod
    def train(self, run: TrainingRun) -> None:
        """Run (or resume) the fine-tuning to its end; see the module doc."""

    def cancel(self, run: TrainingRun) -> None:  # noqa: B027 - optional: only hosted trainers have a remote job
        """Stop the remote job, if any (called once after a cancel)."""
