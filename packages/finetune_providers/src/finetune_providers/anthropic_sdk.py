"""`anthropic`: Claude through the official `anthropic` SDK (2.x, on httpx2) and the Messages API.

The system prompt goes in the top-level `system` field, the request in one user message;
`max_tokens` is required by the API (`extra["max_tokens"]`, default 4096). The temperature is
not sent: the Messages API of anthropic 2.x has no such parameter any more; for an older model
that takes one, `extra["send_temperature"] = True` sends it (clamped to 0..1) in the body. The
SDK gets our pooled httpx2 client (it refuses an `httpx` one) and `max_retries=0` (see _sdk).
Streams are `messages.create(stream=True)` events: the text deltas, the input tokens in
`message_start` and the output tokens in `message_delta`. The Messages API has no JSON mode.
The key comes from `api_key` or `ANTHROPIC_API_KEY`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from finetune_core.domain import Message

from finetune_providers._base import Completion, Delta, ProviderClient, ProviderGenerator
from finetune_providers._keys import ANTHROPIC_KEY, KeySpec
from finetune_providers._sdk import StainlessClient

DEFAULT_MAX_TOKENS = 4096


def anthropic_messages(messages: list[Message]) -> tuple[str, list[dict[str, str]]]:
    """(system, turns): the Messages API takes the system prompt apart from the turns."""
    system = "\n\n".join(message.content for message in messages if message.role == "system")
    turns = [{"role": message.role, "content": message.content} for message in messages if message.role != "system"]
    return system, turns


class AnthropicClient(StainlessClient):
    """Anthropic's Messages API (default model `claude-haiku-4-5`)."""

    provider: ClassVar[str] = "Anthropic"
    key_spec: ClassVar[KeySpec | None] = ANTHROPIC_KEY
    default_model: ClassVar[str | None] = "claude-haiku-4-5"
    sdk_module: ClassVar[str] = "anthropic"
    sdk_class: ClassVar[str] = "AsyncAnthropic"

    def _request(self, messages: list[Message]) -> dict[str, Any]:
        system, turns = anthropic_messages(messages)
        request: dict[str, Any] = {"model": self.model, "messages": turns,
                                   "max_tokens": self._max_tokens(DEFAULT_MAX_TOKENS) or DEFAULT_MAX_TOKENS}
        if system:
            request["system"] = system
        if self.options.send_temperature:
            request["extra_body"] = {"temperature": min(1.0, max(0.0, self.settings.temperature))}
        return request

    def _create(self, sdk: Any) -> Callable[..., Awaitable[Any]]:
        create: Callable[..., Awaitable[Any]] = sdk.messages.create
        return create

    def _completion(self, response: Any) -> Completion:
        text = "".join(getattr(block, "text", "") for block in response.content if block.type == "text")
        return Completion(text=text, input_tokens=response.usage.input_tokens,
                          output_tokens=response.usage.output_tokens, finish_reason=response.stop_reason)

    def _delta(self, event: Any) -> Delta:
        if event.type == "message_start":
            usage = event.message.usage
            return Delta(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)
        if event.type == "content_block_delta" and event.delta.type == "text_delta":
            return Delta(text=event.delta.text)
        if event.type == "message_delta":
            return Delta(input_tokens=event.usage.input_tokens, output_tokens=event.usage.output_tokens,
                         finish_reason=event.delta.stop_reason)
        return Delta()


class AnthropicGenerator(ProviderGenerator):
    """Examples from Anthropic models."""

    name: ClassVar[str] = "anthropic"
    key_provider: ClassVar[str | None] = "anthropic"
    client_class: ClassVar[type[ProviderClient]] = AnthropicClient
