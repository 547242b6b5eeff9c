"""Fine-tuning backends: the `Trainer` contract plugins implement and the `TrainingRun` they drive."""

from finetune_core.training.base import FineTuneRequest, Trainer, TrainingRun

__all__ = ["FineTuneRequest", "Trainer", "TrainingRun"]
