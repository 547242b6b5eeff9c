"""The providers' plugin, found through the `finetune` entry point `providers`.

Only light modules are imported here: each SDK (openai, anthropic, mistralai, llama_cpp, stripe) is
imported when its generator, chat model, trainer or payment gateway is first used, so loading
the plugins stays fast.
"""

from __future__ import annotations

from finetune_core.hookspecs import Register, hookimpl

from finetune_providers.accounts import PROVIDERS
from finetune_providers.batches import (
    AnthropicBatchGenerator,
    MistralBatchGenerator,
    OpenAIBatchGenerator,
    TogetherBatchGenerator,
)
from finetune_providers.chat_models import CHAT_MODELS
from finetune_providers.hosting import MODEL_HOSTS
from finetune_providers.llama_cpp_local import LlamaCppGenerator
from finetune_providers.media import MEDIA_MODELS
from finetune_providers.openai_compatible import OpenAICompatibleGenerator
from finetune_providers.openai_style_hosts import FireworksChatModel, FireworksGenerator, TogetherChatModel
from finetune_providers.stripe_billing import StripeGatewayFactory
from finetune_providers.training import TRAINERS

# `openai`, `anthropic`, `mistral`, `together` with their batch APIs (finetune_providers.batches); online, the
# SDK generators
GENERATORS = (OpenAICompatibleGenerator, OpenAIBatchGenerator, AnthropicBatchGenerator, MistralBatchGenerator,
              TogetherBatchGenerator, FireworksGenerator, LlamaCppGenerator)


@hookimpl
def finetune_register_generators(register: Register) -> None:
    """Register `openai-compatible`, `openai`, `anthropic`, `mistral`, `together`, `fireworks` and `llama-cpp`."""
    for generator in GENERATORS:
        register(generator)


@hookimpl
def finetune_register_providers(register: Register) -> None:
    """Register the key-store providers: openai, anthropic, mistral, together, fireworks, openai-compatible."""
    for provider in PROVIDERS:
        register(provider)


@hookimpl
def finetune_register_chat_models(register: Register) -> None:
    """Register a chat model (with streaming) per provider."""
    for chat_model in (*CHAT_MODELS, TogetherChatModel, FireworksChatModel):
        register(chat_model)


@hookimpl
def finetune_register_model_hosts(register: Register) -> None:
    """Register the hosts of fine-tunes: `together` (dedicated endpoints) and `fireworks` (deployments)."""
    for host in MODEL_HOSTS:
        register(host)


@hookimpl
def finetune_register_trainers(register: Register) -> None:
    """Register the hosted fine-tuning trainers: openai, mistral, together, fireworks, and anthropic (which refuses)."""
    for trainer in TRAINERS:
        register(trainer)


@hookimpl
def finetune_register_payment_gateways(register: Register) -> None:
    """Register the `stripe` payment gateway (Checkout, the customer portal, subscriptions, webhooks)."""
    register(StripeGatewayFactory())


@hookimpl
def finetune_register_media_models(register: Register) -> None:
    """Register OpenAI's media models: openai-images, openai-speech, openai-transcription."""
    for media_model in MEDIA_MODELS:
        register(media_model)
