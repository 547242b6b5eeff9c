"""The bridge from the transformers training loop to the fine-tuning's record: events, progress, cancel.

Every step writes its `log` event; progress and the current metrics are stored at most once a
second (and at the first and last steps), as each costs database writes that a tiny model's
millisecond steps would feel. Every optimizer step looks at the cancel flag (which refreshes the
job's heartbeat): through the progress report when there is one, directly otherwise. A cancel sets the loop to save a
checkpoint at that step and stop, so it takes effect within one step and keeps the work done.
Each event is written once per step and type: a run resumed from an older checkpoint replays the
steps after it, and the job's own event log (read once at the start, `reported_steps`) says which
of them were already reported, so none is logged twice.
A DPO run's steps carry trl's rewards (artifacts.PREFERENCE_METRICS) too, and its evals no perplexity.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from finetune_core.errors import JobCancelledError
from finetune_core.training import TrainingRun
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from finetune_local_gpu.training.artifacts import perplexity, preference_metrics

STEP_EVENTS = ("log", "eval", "checkpoint")
REPORT_EVERY_S = 1.0


def reported_steps(run: TrainingRun) -> dict[str, int]:
    """The last step of each kind of step event already in the run's job log (previous attempts)."""
    reported: dict[str, int] = {}
    for event in run.job_events():
        step = event.data.get("step")
        if event.type in STEP_EVENTS and isinstance(step, int):
            reported[event.type] = max(step, reported.get(event.type, 0))
    return reported


class RunReporter(TrainerCallback):  # type: ignore[misc, unused-ignore]  # transformers is untyped
    def __init__(self, run: TrainingRun, reported: dict[str, int], objective: str = "sft") -> None:
        self.run = run
        self.objective = objective
        self.reported = dict(reported)
        self.cancelled = False
        self._last_report = float("-inf")
        self._report_due = False  # this step's log also stores progress and metrics

    def _stop(self, control: TrainerControl) -> None:
        self.cancelled = True
        control.should_save = True
        control.should_training_stop = True

    def _unless_cancelled(self, control: TrainerControl, action: Callable[[], None]) -> None:
        try:
            action()
        except JobCancelledError:
            self._stop(control)

    def _first_report(self, kind: str, step: int) -> bool:
        if step <= self.reported.get(kind, 0):
            return False
        self.reported[kind] = step
        return True

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    **kwargs: Any) -> TrainerControl:
        step = state.global_step
        due = step >= state.max_steps or time.monotonic() - self._last_report >= REPORT_EVERY_S
        self._report_due = bool(control.should_log) and step > self.reported.get("log", 0) and due
        if not self._report_due:  # else the progress report looks at the flag
            self._unless_cancelled(control, self.run.check_cancel)
        return control

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: dict[str, float] | None = None, **kwargs: Any) -> TrainerControl:
        logs = logs or {}
        step, total = state.global_step, state.max_steps
        if "loss" in logs and self._first_report("log", step):
            point = {"step": step, "train_loss": logs["loss"], "learning_rate": logs.get("learning_rate"),
                     "epoch": round(float(logs.get("epoch") or state.epoch or 0.0), 4), **preference_metrics(logs)}
            self.run.event("log", **point)
            if self._report_due:
                self._report_due, self._last_report = False, time.monotonic()
                self._unless_cancelled(control, lambda: self.run.report(
                    progress=100.0 * step / total, message=f"Step {step}/{total}", total_steps=total, **point))
        if "eval_loss" in logs and self._first_report("eval", step):
            loss = logs["eval_loss"]
            quality: dict[str, Any] = preference_metrics(logs, "eval_") if self.objective == "dpo" else {
                "perplexity": perplexity(loss)}
            self.run.event("eval", step=step, eval_loss=loss, **quality)
            self._unless_cancelled(control, lambda: self.run.report(eval_loss=loss, valid_loss=loss, **quality))
        return control

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                **kwargs: Any) -> TrainerControl:
        step = state.global_step
        if self._first_report("checkpoint", step):
            self.run.event("checkpoint", step=step, path=f"checkpoint-{step}")
        return control
