"""The providers' batch APIs behind the core's `BatchGenerator` (`finetune generate --batch`).

`openai`, `anthropic` and `mistral` are registered as their batch-capable generators (online they are
the SDK generators unchanged). Together AI has a batch API too, but there is no Together generator
here (its models are reached through `openai-compatible`, which has no batch: the core refuses it).
"""

from __future__ import annotations

from finetune_providers.batches.anthropic_batch import AnthropicBatchGenerator
from finetune_providers.batches.mistral_batch import MistralBatchGenerator
from finetune_providers.batches.openai_batch import OpenAIBatchGenerator

__all__ = ["AnthropicBatchGenerator", "MistralBatchGenerator", "OpenAIBatchGenerator"]
