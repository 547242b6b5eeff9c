"""Anthropic (`anthropic`): registered so that asking for it fails clearly, before anything is stored.

Anthropic offers no public fine-tuning API. Claude models can be fine-tuned through Amazon
Bedrock (export the dataset with the `anthropic` format, which is Bedrock's); open models are
fine-tuned here with the `together` or `fireworks` (hosted) or `local` (this machine's GPU) trainer.
"""

from __future__ import annotations

from typing import ClassVar, NoReturn

from finetune_core.errors import NotSupportedError
from finetune_core.training import FineTuneRequest, Trainer, TrainingRun

NOT_SUPPORTED = ("Anthropic offers no public fine-tuning API: fine-tune an open model with the `together`, "
                 "`fireworks` or `local` trainer, or fine-tune Claude through Amazon Bedrock (export the dataset "
                 "with the `anthropic` format)")


class AnthropicTrainer(Trainer):
    name: ClassVar[str] = "anthropic"
    label: ClassVar[str] = "Anthropic"
    closed_to_new_jobs: ClassVar[str | None] = "Anthropic offers no public fine-tuning API"

    @classmethod
    def check(cls, request: FineTuneRequest) -> NoReturn:
        raise NotSupportedError(NOT_SUPPORTED, trainer=cls.name)

    def train(self, run: TrainingRun) -> NoReturn:
        raise NotSupportedError(NOT_SUPPORTED, trainer=self.name)
