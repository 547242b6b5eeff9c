"""Helpers for the web tests of training: a scripted trainer (no provider, no torch), projects with a dataset.

The `scripted` trainer reports like the local one: statuses, then per step a `log` event and a
progress report ("Step n/N"), an `eval` and a `checkpoint` at step 2, and at the end a model with
an artifact path. `Script` steers it: `fail_at` makes a step fail, `hold` keeps it waiting (it looks
at the cancel flag meanwhile) until the event is set.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any, ClassVar

from finetune_core import hookimpl
from finetune_core.domain import Example, FineTune, FineTuneStatus, Job, Message
from finetune_core.errors import TrainingError
from finetune_core.services import trained_models
from finetune_core.training import Trainer, TrainingRun
from finetune_core.workspace import Workspace
from flask.testing import FlaskClient
from kits.web_api import Account

BASE_MODEL = "org/tiny-base"


class Script:
    """What the scripted trainer does in the current test."""

    steps: ClassVar[int] = 4
    fail_at: ClassVar[int | None] = None
    hold: ClassVar[threading.Event | None] = None
    started: ClassVar[threading.Event] = threading.Event()

    @classmethod
    def reset(cls) -> None:
        cls.steps, cls.fail_at, cls.hold, cls.started = 4, None, None, threading.Event()


def loss(step: int) -> float:
    return round(2.0 / step, 4)


class ScriptedTrainer(Trainer):
    name: ClassVar[str] = "scripted"
    label: ClassVar[str] = "Scripted"
    methods: ClassVar[tuple[str, ...]] = ("lora", "qlora", "full")
    default_method: ClassVar[str | None] = "lora"

    def train(self, run: TrainingRun) -> None:
        run.set_status(FineTuneStatus.PREPARING)
        run.set_status(FineTuneStatus.TRAINING, f"training {run.fine_tune.method} for {Script.steps} steps")
        Script.started.set()
        while Script.hold is not None and not Script.hold.is_set():
            run.check_cancel()
            time.sleep(0.01)
        for step in range(1, Script.steps + 1):
            if step == Script.fail_at:
                raise TrainingError("Scripted: CUDA out of memory")
            point = {"step": step, "train_loss": loss(step), "learning_rate": 2e-4, "epoch": step / Script.steps}
            run.event("log", **point)
            run.report(progress=100.0 * step / Script.steps, message=f"Step {step}/{Script.steps}",
                       total_steps=Script.steps, **point)
            if step == 2:
                run.event("eval", step=step, eval_loss=1.5, perplexity=round(math.exp(1.5), 4))
                run.report(eval_loss=1.5)
                run.event("checkpoint", step=step, path=f"checkpoint-{step}")
        run.register_model(artifact_path=f"fine_tunes/{run.fine_tune.id}/artifacts/final")


class ScriptedPlugin:
    @hookimpl
    def finetune_register_trainers(self, register):  # type: ignore[no-untyped-def]
        register(ScriptedTrainer)


class HeldRunner:
    """A runner that keeps every job queued: what a server whose workers are all busy looks like."""

    def submit(self, workspace: Workspace, job: Job) -> None:
        return None

    def shutdown(self, wait: bool = True) -> None:
        return None


def add_examples(workspace: Workspace, project_id: str, count: int = 6) -> None:
    examples = [Example(project_id=project_id, request_key=f"manual:{i}", split="train" if i % 3 else "eval",
                        messages=[Message(role="user", content=f"What is item {i}?"),
                                  Message(role="assistant", content=f"Item {i} is the number {i} of the list.")])
                for i in range(count)]
    with workspace.unit_of_work() as uow:
        uow.examples.add(examples)


def dataset_project(client: FlaskClient, account: Account, workspace: Workspace, name: str = "handbook",
                    **fields: Any) -> str:
    """A project of `account` with valid examples and a base model: ready to train."""
    project = client.post("/api/projects", json={"name": name}, headers=account.headers).get_json()
    client.patch(f"/api/projects/{project['id']}", json={"base_model_id": BASE_MODEL, **fields},
                 headers=account.headers)
    add_examples(workspace, project["id"])
    return str(project["id"])


def training_things(workspace: Workspace, project_id: str, owner_id: str) -> dict[str, str]:
    """For the tenancy test: a fine-tuning (queued, never run) and a model of the owner, by their route names."""
    fine_tune = FineTune(project_id=project_id, owner_id=owner_id, name="alice's run", trainer="scripted",
                         base_model=BASE_MODEL)
    with workspace.unit_of_work() as uow:
        uow.fine_tunes.add(fine_tune)
    model = trained_models.create_model(workspace, name="alice's model", base_model=BASE_MODEL, owner_id=owner_id,
                                        project_id=project_id)
    return {"fine_tuning_id": fine_tune.id, "finetune_id": fine_tune.id, "model_id": model.id,
            "filename": "finetuneflow_export.zip"}
