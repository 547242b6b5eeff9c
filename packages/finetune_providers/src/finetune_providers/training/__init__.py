"""Hosted fine-tuning trainers, registered by name through the providers' plugin.

    openai     OpenAI fine-tuning (method `supervised`)
    mistral    Mistral fine-tuning (method `supervised`)
    together   Together AI fine-tuning (methods `lora`, `full`)
    fireworks  Fireworks AI fine-tuning (method `lora`)
    anthropic  refuses with NotSupportedError: Anthropic has no public fine-tuning API

They share one lifecycle (`HostedTrainer`, in `_hosted`): upload, find-or-create the remote job,
poll it into status, metrics and events, resume after a crash, cancel. Another hosted provider
is one small module: a `HostedTrainer` subclass that speaks its API. The option `method` picks the
training objective: `sft` (default) or `dpo` (openai, together, fireworks; on the preference export).
"""

from finetune_providers.training._hosted import HostedTrainer
from finetune_providers.training._http import HostedApi
from finetune_providers.training.anthropic_trainer import AnthropicTrainer
from finetune_providers.training.fireworks_trainer import FireworksTrainer
from finetune_providers.training.mistral_trainer import MistralTrainer
from finetune_providers.training.openai_trainer import OpenAITrainer
from finetune_providers.training.together_trainer import TogetherTrainer

TRAINERS = (OpenAITrainer, MistralTrainer, TogetherTrainer, FireworksTrainer, AnthropicTrainer)

__all__ = ["TRAINERS", "AnthropicTrainer", "FireworksTrainer", "HostedApi", "HostedTrainer", "MistralTrainer",
           "OpenAITrainer", "TogetherTrainer"]
