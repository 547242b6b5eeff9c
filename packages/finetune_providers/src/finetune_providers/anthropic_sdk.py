"""`anthropic`: Claude through the official `anthropic` SDK (2.x, on httpx2) and the Messages API.

The system prompt goes in the top-level `system` field, the request in one user message;
`max_tokens` is required by the API (`extra["max_tokens"]`, default 4096). The temperature is
not sent: the Messages API of anthropic 2.x has no such parameter any more; for an older model
that takes one, `extra["send_temperature"] = True` sends it (clamped to 0..1) in the body. The
SDK gets our pooled httpx2 client (it refuses an `httpx` one) and `max_retries=0` (see _sdk).
The key comes from `api_key` or `ANTHROPIC_API_KEY`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from finetune_core.domain import Message
from finetune_core.generation.base import GenerationRequest

from finetune_providers._base import Completion
from finetune_providers._keys import ANTHROPIC_KEY, KeySpec
from finetune_providers._sdk import StainlessGenerator

DEFAULT_MAX_TOKENS = 4096


def anthropic_messages(messages: list[Message]) -> tuple[str, list[dict[str, str]]]:
    """(system, turns): the Messages API takes the system prompt apart from the turns."""
    system = "\n\n".join(message.content for message in messages if message.role == "system")
    turns = [{"role": message.role, "content": message.content} for message in messages if message.role != "system"]
    return system, turns


class AnthropicGenerator(StainlessGenerator):
    """Anthropic models (default `claude-haiku-4-5`)."""

    name: ClassVar[str] = "anthropic"
    provider: ClassVar[str] = "Anthropic"
    key_spec: ClassVar[KeySpec | None] = ANTHROPIC_KEY
    default_model: ClassVar[str | None] = "claude-haiku-4-5"
    sdk_module: ClassVar[str] = "anthropic"
    client_class: ClassVar[str] = "AsyncAnthropic"

    async def _complete(self, messages: list[Message], request: GenerationRequest, slot: int) -> Completion:
        system, turns = anthropic_messages(messages)
        options: dict[str, Any] = {}
        if system:
            options["system"] = system
        if self.options.send_temperature:
            options["extra_body"] = {"temperature": min(1.0, max(0.0, self.settings.temperature))}
        max_tokens = self._max_tokens(DEFAULT_MAX_TOKENS) or DEFAULT_MAX_TOKENS
        response = await self._call(lambda client: client.messages.create(model=self.model, max_tokens=max_tokens,
                                                                           messages=turns, **options))
        text = "".join(getattr(block, "text", "") for block in response.content if block.type == "text")
        return Completion(text=text, input_tokens=response.usage.input_tokens,
                          output_tokens=response.usage.output_tokens, finish_reason=response.stop_reason)
