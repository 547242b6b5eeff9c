"""Fine-tunings through the core: checks before storing, the status flow, events, cancel, failure, resume.

The trainer here is a throwaway plugin standing in for a provider: it "uploads" the exported
dataset, "creates" a remote job once (remembering its id), and reports steps.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest
from finetune_core import Workspace, hookimpl
from finetune_core.domain import Example, FineTuneStatus, JobStatus, Message
from finetune_core.errors import ConflictError, InvalidInputError, MissingApiKeyError, TrainingError
from finetune_core.jobs import InProcessRunner
from finetune_core.jobs.execute import execute_job
from finetune_core.keys import ProviderSpec
from finetune_core.services import fine_tunes, jobs
from finetune_core.testing import open_test_workspace
from finetune_core.training import Trainer, TrainingRun


class Remote:
    """What the fake provider saw."""

    created: ClassVar[list[str]] = []
    cancelled: ClassVar[list[str]] = []
    uploads: ClassVar[list[list[dict[str, Any]]]] = []
    steps = 4
    step_s = 0.0
    fail_at: int | None = None
    crash_at: int | None = None  # the worker "dies" here: the exception escapes like a kill would
    started = threading.Event()

    @classmethod
    def reset(cls) -> None:
        cls.created, cls.cancelled, cls.uploads = [], [], []
        cls.steps, cls.step_s, cls.fail_at, cls.crash_at = 4, 0.0, None, None
        cls.started = threading.Event()


class WorkerDied(BaseException):
    """Escapes every handler, as a killed worker would stop everything."""


class ScriptedTrainer(Trainer):
    name: ClassVar[str] = "scripted"
    label: ClassVar[str] = "Scripted"
    methods: ClassVar[tuple[str, ...]] = ("supervised", "lora")
    default_method: ClassVar[str | None] = "supervised"

    def train(self, run: TrainingRun) -> None:
        run.set_status(FineTuneStatus.PREPARING)
        if run.fine_tune.external_id is None:
            path = run.dataset_file("train", "openai")
            assert path is not None
            Remote.uploads.append([json.loads(line) for line in path.read_text().splitlines()])
            external = f"remote-{len(Remote.created) + 1}"
            Remote.created.append(external)
            run.remember(external_id=external, uploaded=True)
        run.set_status(FineTuneStatus.TRAINING)
        Remote.started.set()
        first = int(run.state.get("step", 0)) + 1
        for step in range(first, Remote.steps + 1):
            if step == Remote.crash_at:
                Remote.crash_at = None
                raise WorkerDied
            if step == Remote.fail_at:
                raise TrainingError("Scripted: the provider rejected the training file (line 3)")
            run.wait(Remote.step_s)
            loss = 2.0 / step
            run.report(progress=100 * step / Remote.steps, step=step, total_steps=Remote.steps, train_loss=loss)
            run.event("log", step=step, train_loss=loss)
            run.remember(step=step)
        run.register_model(provider_model_id=f"ft:{run.fine_tune.base_model}:{run.fine_tune.external_id}")

    def cancel(self, run: TrainingRun) -> None:
        Remote.cancelled.append(run.fine_tune.external_id or "")


class KeyedTrainer(ScriptedTrainer):
    name: ClassVar[str] = "keyed"
    key_provider: ClassVar[str | None] = "keyedco"


class Plugin:
    @hookimpl
    def finetune_register_trainers(self, register):  # type: ignore[no-untyped-def]
        register(ScriptedTrainer)
        register(KeyedTrainer)

    @hookimpl
    def finetune_register_providers(self, register):  # type: ignore[no-untyped-def]
        register(ProviderSpec(name="keyedco", label="Keyed", env_var="KEYEDCO_API_KEY"))


@pytest.fixture(autouse=True)
def plugin(register_finetune_plugin) -> None:  # type: ignore[no-untyped-def]
    Remote.reset()
    register_finetune_plugin(Plugin(), name="scripted-trainer")


def _project_with_examples(ws: Workspace, count: int = 6) -> str:
    project = ws.create_project("tuned")
    examples = [Example(project_id=project.id, request_key=f"manual:{i}", split="train" if i % 3 else "eval",
                        messages=[Message(role="user", content=f"What is item {i}?"),
                                  Message(role="assistant", content=f"Item {i} is the number {i} of the list.")])
                for i in range(count)]
    with ws.unit_of_work() as uow:
        uow.examples.add(examples)
    return project.id


def test_a_fine_tuning_runs_through_its_statuses_and_registers_its_model(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project_id = _project_with_examples(ws)
    created = fine_tunes.create_fine_tune(ws, project_id, trainer="scripted", base_model="base-1",
                                          hyperparameters={"n_epochs": 2})
    done = fine_tunes.get_fine_tune(ws, created.id)
    assert done.status is FineTuneStatus.COMPLETED and done.progress == 100.0
    assert done.method == "supervised" and done.hyperparameters == {"n_epochs": 2}
    assert done.metrics == {"step": 4, "total_steps": 4, "train_loss": 0.5}
    assert done.started_at is not None and done.completed_at is not None
    model = fine_tunes.get_model(ws, done.model_id or "")
    assert model.provider_model_id == f"ft:base-1:{done.external_id}" and model.fine_tune_id == done.id
    assert len(Remote.uploads) == 1 and len(Remote.uploads[0]) == 4  # the valid train split only
    assert all(row["messages"][-1]["role"] == "assistant" for row in Remote.uploads[0])
    job = jobs.get_job(ws, done.job_id or "")
    assert job.status is JobStatus.SUCCESS and job.result_summary["final_train_loss"] == 0.5
    events = jobs.events(ws, job.id)
    statuses = [e.data["status"] for e in events if e.type == "log" and "status" in e.data]
    assert statuses == ["preparing", "training", "completed"]
    assert [e.data["step"] for e in events if e.type == "log" and "step" in e.data] == [1, 2, 3, 4]


def test_checks_refuse_before_anything_is_stored(finetune_workspace: Workspace,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    ws = finetune_workspace
    empty = ws.create_project("empty").id
    with pytest.raises(InvalidInputError, match="no valid examples"):
        fine_tunes.create_fine_tune(ws, empty, trainer="scripted", base_model="b")
    project_id = _project_with_examples(ws)
    with pytest.raises(InvalidInputError, match="no method 'dpo'"):
        fine_tunes.create_fine_tune(ws, project_id, trainer="scripted", base_model="b", method="dpo")
    monkeypatch.delenv("KEYEDCO_API_KEY", raising=False)
    with pytest.raises(MissingApiKeyError, match="KEYEDCO_API_KEY") as excinfo:
        fine_tunes.create_fine_tune(ws, project_id, trainer="keyed", base_model="b")
    assert excinfo.value.error_code == "API_KEY_MISSING"
    assert fine_tunes.list_fine_tunes(ws)[1] == 0 and jobs.list_jobs(ws)[1] == 0
    monkeypatch.setenv("KEYEDCO_API_KEY", "anything")
    assert fine_tunes.create_fine_tune(ws, project_id, trainer="keyed", base_model="b").status \
        is FineTuneStatus.COMPLETED


def test_one_fine_tuning_at_a_time_per_project_and_cancel_stops_the_remote_job(tmp_path: Path) -> None:
    Remote.steps, Remote.step_s = 2000, 0.05  # 100 s: only the cancel ends it within the test's bounds
    ws = open_test_workspace(tmp_path / "ws", runner=InProcessRunner(2))
    try:
        project_id = _project_with_examples(ws)
        first = fine_tunes.create_fine_tune(ws, project_id, trainer="scripted", base_model="b")
        assert Remote.started.wait(60)
        with pytest.raises(ConflictError, match="already running"):
            fine_tunes.create_fine_tune(ws, project_id, trainer="scripted", base_model="b")
        fine_tunes.cancel_fine_tune(ws, first.id)
        ended = fine_tunes.wait_for(ws, first.id, timeout_s=60)
        assert ended.status is FineTuneStatus.CANCELLED and ended.model_id is None
        assert Remote.cancelled == [ended.external_id]
        assert jobs.get_job(ws, ended.job_id or "").status is JobStatus.CANCELLED
        Remote.steps, Remote.step_s = 2, 0.0
        second = fine_tunes.create_fine_tune(ws, project_id, trainer="scripted", base_model="b")
        assert fine_tunes.wait_for(ws, second.id, timeout_s=60).status is FineTuneStatus.COMPLETED
    finally:
        ws.close()


def test_a_failing_trainer_ends_in_error_with_its_message(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    Remote.fail_at = 2
    created = fine_tunes.create_fine_tune(ws, _project_with_examples(ws), trainer="scripted", base_model="b")
    failed = fine_tunes.get_fine_tune(ws, created.id)
    assert failed.status is FineTuneStatus.ERROR
    assert failed.error_message == "Scripted: the provider rejected the training file (line 3)"
    job = jobs.get_job(ws, failed.job_id or "")
    assert job.status is JobStatus.FAILED and job.error_message == failed.error_message
    assert [e.type for e in jobs.events(ws, job.id)][-1] == "error"


def test_a_run_whose_worker_died_resumes_the_same_remote_job(tmp_path: Path) -> None:
    Remote.crash_at = 3
    ws = open_test_workspace(tmp_path / "ws", job_stale_after_s=0.01)
    try:
        project_id = _project_with_examples(ws)
        with pytest.raises(WorkerDied):
            fine_tunes.create_fine_tune(ws, project_id, trainer="scripted", base_model="b")
        [orphan], _ = fine_tunes.list_fine_tunes(ws)
        assert orphan.status is FineTuneStatus.TRAINING and orphan.state["step"] == 2
        time.sleep(0.05)  # the heartbeat goes stale: another worker may take the job
        assert execute_job(ws, orphan.job_id or "") is JobStatus.SUCCESS
        resumed = fine_tunes.get_fine_tune(ws, orphan.id)
        assert resumed.status is FineTuneStatus.COMPLETED and resumed.external_id == orphan.external_id
        assert Remote.created == [orphan.external_id] and len(Remote.uploads) == 1
        steps = [e.data["step"] for e in jobs.events(ws, orphan.job_id or "") if "step" in e.data]
        assert steps == [1, 2, 3, 4]  # nothing done twice
        assert fine_tunes.list_models(ws)[1] == 1
    finally:
        ws.close()


def test_update_and_delete(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    created = fine_tunes.create_fine_tune(ws, _project_with_examples(ws), trainer="scripted", base_model="b")
    renamed = fine_tunes.update_fine_tune(ws, created.id, name="v2", description="second try")
    assert (renamed.name, renamed.description) == ("v2", "second try")
    model_id = renamed.model_id
    fine_tunes.delete_fine_tune(ws, created.id)
    assert fine_tunes.list_fine_tunes(ws)[1] == 0
    assert fine_tunes.get_model(ws, model_id or "").fine_tune_id is None  # the model stays
    assert not (ws.files.local_path(f"fine_tunes/{created.id}")).exists()
