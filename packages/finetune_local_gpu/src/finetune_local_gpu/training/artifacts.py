"""The files of one local run, under the fine-tuning's artifacts folder of the file store.

    fine_tunes/<id>/artifacts/
        training_config.json   what was asked and what ran (method, base model, hyperparameters, versions, seed)
        checkpoint-<step>/     the trainer's checkpoints (adapter or model, optimizer, scheduler, RNG states)
        final/                 the trained adapter (or the full model) and its tokenizer
        metrics.json           train and eval loss by step, final metrics, duration; a DPO run's rewards too
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
TRAINER_STATE = "trainer_state.json"  # written last into a checkpoint: without it the checkpoint is incomplete
# trl's DPO metrics kept with each logged step (the `log` events, metrics.json) and, `eval_`-prefixed, each eval:
# the mean implicit rewards beta * log(policy / reference) of the chosen and rejected answers, their difference,
# and the share of pairs whose chosen answer has the higher reward
PREFERENCE_METRICS = ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies")
LIBRARIES = ("torch", "transformers", "peft", "trl", "accelerate", "bitsandbytes", "datasets", "finetune-local-gpu")


def artifacts_key(fine_tune_id: str) -> str:
    """The file-store key of a fine-tuning's artifacts folder (what `TrainingRun.artifacts_dir` creates)."""
    return f"fine_tunes/{fine_tune_id}/artifacts"


@dataclass(frozen=True)
class RunFiles:
    root: Path

    @property
    def training_config(self) -> Path:
        return self.root / "training_config.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def final(self) -> Path:
        return self.root / "final"

    def checkpoints(self) -> list[tuple[int, Path]]:
        """Complete checkpoints, oldest first."""
        found = []
        for path in self.root.glob("checkpoint-*"):
            match = CHECKPOINT.match(path.name)
            if match and (path / TRAINER_STATE).is_file():
                found.append((int(match.group(1)), path))
        return sorted(found)

    def last_checkpoint(self) -> Path | None:
        checkpoints = self.checkpoints()
        return checkpoints[-1][1] if checkpoints else None


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write through a temporary file, so a crash never leaves half a JSON file."""
    partial = path.with_name(f".{path.name}.part")
    partial.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    partial.replace(path)


def read_json(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def perplexity(loss: float) -> float:
    """exp(loss), kept finite (a diverged run reports a huge perplexity, not an overflow)."""
    return math.exp(min(loss, 700.0))


def preference_metrics(logs: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """The DPO metrics of one trl log (`prefix` "eval_" for an evaluation's), under trl's names; none for SFT."""
    return {f"{prefix}{name}": float(logs[f"{prefix}{name}"]) for name in PREFERENCE_METRICS
            if f"{prefix}{name}" in logs}


def history_from_log(log_history: list[dict[str, Any]], objective: str = "sft") -> dict[str, list[dict[str, Any]]]:
    """The trainer's log history split into train points and eval points, one per step. A DPO loss is no language
    model's cross-entropy: its eval points have the rewards instead of a perplexity."""
    train: dict[int, dict[str, Any]] = {}
    evals: dict[int, dict[str, Any]] = {}
    for entry in log_history:
        step = int(entry.get("step", 0))
        if "loss" in entry:
            train[step] = {"step": step, "train_loss": entry["loss"], "learning_rate": entry.get("learning_rate"),
                           "epoch": entry.get("epoch"), **preference_metrics(entry)}
        if "eval_loss" in entry:
            quality = preference_metrics(entry, "eval_") if objective == "dpo" else {
                "perplexity": perplexity(entry["eval_loss"])}
            evals[step] = {"step": step, "eval_loss": entry["eval_loss"], **quality, "epoch": entry.get("epoch")}
    return {"train": [train[step] for step in sorted(train)], "eval": [evals[step] for step in sorted(evals)]}
