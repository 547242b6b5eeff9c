"""The providers' batch APIs behind the core's `BatchGenerator` (`finetune generate --batch`).

`openai`, `anthropic`, `mistral` and `together` are registered as their batch-capable generators (online
they are the SDK generators unchanged). `openai-compatible` and `fireworks` have no batch here: the core
refuses `batch` for them.
"""

from __future__ import annotations

from finetune_providers.batches.anthropic_batch import AnthropicBatchGenerator
from finetune_providers.batches.mistral_batch import MistralBatchGenerator
from finetune_providers.batches.openai_batch import OpenAIBatchGenerator
from finetune_providers.batches.together_batch import TogetherBatchGenerator

__all__ = ["AnthropicBatchGenerator", "MistralBatchGenerator", "OpenAIBatchGenerator", "TogetherBatchGenerator"]
