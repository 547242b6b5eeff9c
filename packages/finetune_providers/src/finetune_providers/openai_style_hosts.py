"""`together` and `fireworks`: generation and chats on Together AI's and Fireworks AI's serverless models.

Both speak OpenAI's Chat Completions (https://docs.together.ai/reference/chat-completions-1,
https://docs.fireworks.ai/api-reference/post-chatcompletions), so they run on the `openai` SDK client
(`openai_sdk.OpenAIClient`: the shared pooling, pacing, retries, usage and `auto` concurrency) pointed at
their base URL, with their own key (`TOGETHER_API_KEY`, `FIREWORKS_API_KEY`, or `finetune keys set`). The
completion cap goes as `max_tokens` (what both document); JSON mode is off unless asked for
(`extra["json_mode"]`), as not every open model takes `response_format`. There is no default model: pass
`--model` (e.g. `meta-llama/Llama-3.3-70B-Instruct-Turbo`, `accounts/fireworks/models/llama-v3p1-8b-instruct`).
Their prices are not built in: `extra["prices"]` gives them. Batch generation: `together` is registered as
`batches.together_batch.TogetherBatchGenerator` (Together AI's Batch API); `fireworks` has none here.
"""

from __future__ import annotations

from typing import Any, ClassVar

from finetune_core.domain import Message

from finetune_providers._base import ProviderClient, ProviderGenerator
from finetune_providers._keys import FIREWORKS_KEY, KeySpec
from finetune_providers.accounts import TOGETHER_KEY
from finetune_providers.chat_models import ProviderChatModel
from finetune_providers.openai_sdk import OpenAIClient


class _OpenAIStyleClient(OpenAIClient):
    default_model: ClassVar[str | None] = None
    json_mode_default: ClassVar[bool] = False

    def _request(self, messages: list[Message]) -> dict[str, Any]:
        return {"model": self.model, "messages": [{"role": message.role, "content": message.content}
                                                  for message in messages],
                **self._chat_options(max_tokens_field="max_tokens")}


class TogetherClient(_OpenAIStyleClient):
    provider: ClassVar[str] = "Together AI"
    key_spec: ClassVar[KeySpec | None] = TOGETHER_KEY
    default_base_url: ClassVar[str | None] = "https://api.together.xyz/v1"


class FireworksClient(_OpenAIStyleClient):
    provider: ClassVar[str] = "Fireworks AI"
    key_spec: ClassVar[KeySpec | None] = FIREWORKS_KEY
    default_base_url: ClassVar[str | None] = "https://api.fireworks.ai/inference/v1"


class TogetherGenerator(ProviderGenerator):
    """Examples from Together AI's serverless models."""

    name: ClassVar[str] = "together"
    key_provider: ClassVar[str | None] = "together"
    client_class: ClassVar[type[ProviderClient]] = TogetherClient


class FireworksGenerator(ProviderGenerator):
    """Examples from Fireworks AI's serverless models."""

    name: ClassVar[str] = "fireworks"
    key_provider: ClassVar[str | None] = "fireworks"
    client_class: ClassVar[type[ProviderClient]] = FireworksClient


class TogetherChatModel(ProviderChatModel):
    """Together AI models (`model` required)."""

    name: ClassVar[str] = "together"
    key_provider: ClassVar[str | None] = "together"
    client_class: ClassVar[type[ProviderClient]] = TogetherClient


class FireworksChatModel(ProviderChatModel):
    """Fireworks AI models (`model` required)."""

    name: ClassVar[str] = "fireworks"
    key_provider: ClassVar[str | None] = "fireworks"
    client_class: ClassVar[type[ProviderClient]] = FireworksClient
