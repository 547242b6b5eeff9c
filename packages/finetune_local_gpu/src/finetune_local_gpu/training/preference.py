"""The `dpo` objective: the project's ranked preference pairs, and trl's DPOTrainer over them.

The pairs are the rows of the core's `dpo` exporter (`{"prompt": [...], "chosen": [assistant], "rejected":
[assistant], "margin"}`), read from the run's export of each split, so what trains is what `finetune export
--format dpo` writes: ranked, untied pairs only. A train split without one is refused before the model is
loaded, with the exporter's NO_PREFERENCE_PAIRS error; an eval split without one trains without evaluation.

trl renders each row with the tokenizer's chat template (the prompt with the generation prompt, then prompt +
chosen and prompt + rejected) and computes the log-probabilities of the two completions only. The reference
model is the base model: with LoRA and QLoRA the trained model with its adapter disabled (trl keeps no second
copy), with `full` a second copy of the base weights, frozen. `beta` is DPO's KL penalty (trl's sigmoid loss).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from finetune_core.errors import NoPreferencePairsError, TrainingError
from finetune_core.training import TrainingRun

from finetune_local_gpu.training.hyperparameters import LocalHyperparameters
from finetune_local_gpu.training.model import load_model, lora_config, training_arguments
from finetune_local_gpu.training.runtime import Runtime

PREFERENCE_FORMAT = "dpo"  # the core exporter of TRL's conversational preference rows
PAIR_COLUMNS = ("prompt", "chosen", "rejected")  # `margin` is the exporter's, not a DPOTrainer input


def read_pairs(path: Path | None) -> list[dict[str, Any]]:
    """The prompt, chosen and rejected messages of each row of a `dpo` export (none when there is no file)."""
    if path is None:
        return []
    with path.open(encoding="utf-8") as lines:
        return [{column: row[column] for column in PAIR_COLUMNS}
                for row in map(json.loads, filter(str.strip, lines))]


def preference_pairs(run: TrainingRun, split: str) -> list[dict[str, Any]]:
    """The split's ranked pairs; for `train`, a TrainingError (NO_PREFERENCE_PAIRS, the exporter's words) when
    there is none; for another split, none."""
    try:
        return read_pairs(run.dataset_file(split, PREFERENCE_FORMAT))
    except NoPreferencePairsError as exc:
        if split != "train":
            return []
        raise TrainingError(f"cannot train with method 'dpo': {exc.message}", error_code=exc.error_code,
                            **exc.context) from None


def dpo_config(hyperparameters: LocalHyperparameters, runtime: Runtime, output_dir: Path, *, evaluate: bool) -> Any:
    """trl's DPO configuration: the same loop as SFT, the sigmoid loss with `beta`, no precomputed reference."""
    from trl import DPOConfig

    return DPOConfig(**training_arguments(hyperparameters, runtime, output_dir, evaluate=evaluate),
                     beta=hyperparameters.beta, loss_type=["sigmoid"], precompute_ref_log_probs=False)


def dpo_trainer(model: Any, tokenizer: Any, *, base_model: str, method: str, hyperparameters: LocalHyperparameters,
                runtime: Runtime, output_dir: Path, train: list[dict[str, Any]], evaluation: list[dict[str, Any]],
                callbacks: list[Any]) -> Any:
    """A DPOTrainer over the pairs; LoRA (and QLoRA) through the peft config, the reference being the adapter
    disabled; `full` given a frozen second copy of the base model as its reference."""
    from datasets import Dataset
    from trl import DPOTrainer

    reference = load_model(base_model, method, runtime).eval() if method == "full" else None
    if reference is not None:
        reference.requires_grad_(False)
    return DPOTrainer(
        model=model, ref_model=reference,
        args=dpo_config(hyperparameters, runtime, output_dir, evaluate=bool(evaluation)),
        train_dataset=Dataset.from_list(train), eval_dataset=Dataset.from_list(evaluation) if evaluation else None,
        processing_class=tokenizer, peft_config=None if method == "full" else lora_config(hyperparameters),
        callbacks=callbacks)
