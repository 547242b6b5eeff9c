"""`openai`: OpenAI's Chat Completions through the official `openai` SDK (3.x, on httpx2).

The SDK gets our pooled httpx2 client and `max_retries=0`, so the shared pacing and retries
apply; its typed errors are mapped to them (see _sdk). `base_url` may point at another
OpenAI-style API (a proxy, a gateway); for local servers prefer `openai-compatible`. JSON mode
is on by default for the generator (`extra["json_mode"] = False` turns it off); `extra["max_tokens"]`
is sent as `max_completion_tokens`. Streams are `stream=True` chunks, with the usage in a last
chunk (`stream_options={"include_usage": True}`). The key comes from `api_key` or `OPENAI_API_KEY`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from finetune_core.domain import Message

from finetune_providers._base import Completion, Delta, ProviderClient, ProviderGenerator
from finetune_providers._keys import OPENAI_KEY, KeySpec
from finetune_providers._retry import TransientError
from finetune_providers._sdk import StainlessClient


class OpenAIClient(StainlessClient):
    """OpenAI's Chat Completions (default model `gpt-4o-mini`)."""

    provider: ClassVar[str] = "OpenAI"
    key_spec: ClassVar[KeySpec | None] = OPENAI_KEY
    default_model: ClassVar[str | None] = "gpt-4o-mini"
    json_mode_default: ClassVar[bool] = True
    sdk_module: ClassVar[str] = "openai"
    sdk_class: ClassVar[str] = "AsyncOpenAI"
    stream_arguments: ClassVar[dict[str, Any]] = {"stream_options": {"include_usage": True}}

    def _create(self, sdk: Any) -> Callable[..., Awaitable[Any]]:
        create: Callable[..., Awaitable[Any]] = sdk.chat.completions.create
        return create

    def _request(self, messages: list[Message]) -> dict[str, Any]:
        return {"model": self.model, "messages": [{"role": message.role, "content": message.content}
                                                  for message in messages],
                **self._chat_options(max_tokens_field="max_completion_tokens")}

    def _completion(self, response: Any) -> Completion:
        if not response.choices:
            raise TransientError("malformed response from the OpenAI API: no choices")
        choice = response.choices[0]
        usage = response.usage
        return Completion(
            text=choice.message.content or "",
            input_tokens=usage.prompt_tokens if usage else None,
            output_tokens=usage.completion_tokens if usage else None,
            finish_reason=choice.finish_reason,
        )

    def _delta(self, chunk: Any) -> Delta:
        choice = chunk.choices[0] if chunk.choices else None
        usage = chunk.usage
        return Delta(text=(choice.delta.content or "") if choice and choice.delta else "",
                     input_tokens=usage.prompt_tokens if usage else None,
                     output_tokens=usage.completion_tokens if usage else None,
                     finish_reason=choice.finish_reason if choice else None)


class OpenAIGenerator(ProviderGenerator):
    """Examples from OpenAI models."""

    name: ClassVar[str] = "openai"
    key_provider: ClassVar[str | None] = "openai"
    client_class: ClassVar[type[ProviderClient]] = OpenAIClient
