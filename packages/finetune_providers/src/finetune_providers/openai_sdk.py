"""`openai`: OpenAI's Chat Completions through the official `openai` SDK (3.x, on httpx2).

The SDK gets our pooled httpx2 client and `max_retries=0`, so the shared pacing and retries
apply; its typed errors are mapped to them (see _sdk). `base_url` may point at another
OpenAI-style API (a proxy, a gateway); for local servers prefer `openai-compatible`. JSON mode
is on by default (`extra["json_mode"] = False` turns it off); `extra["max_tokens"]` is sent as
`max_completion_tokens`. The key comes from `api_key` or `OPENAI_API_KEY`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from finetune_core.domain import Message
from finetune_core.generation.base import GenerationRequest

from finetune_providers._base import Completion
from finetune_providers._keys import OPENAI_KEY, KeySpec
from finetune_providers._retry import TransientError
from finetune_providers._sdk import StainlessGenerator


class OpenAIGenerator(StainlessGenerator):
    """OpenAI models (default `gpt-4o-mini`)."""

    name: ClassVar[str] = "openai"
    provider: ClassVar[str] = "OpenAI"
    key_spec: ClassVar[KeySpec | None] = OPENAI_KEY
    default_model: ClassVar[str | None] = "gpt-4o-mini"
    json_mode_default: ClassVar[bool] = True
    sdk_module: ClassVar[str] = "openai"
    client_class: ClassVar[str] = "AsyncOpenAI"

    async def _complete(self, messages: list[Message], request: GenerationRequest, slot: int) -> Completion:
        options = self._chat_options(max_tokens_field="max_completion_tokens")
        wire: Any = [{"role": message.role, "content": message.content} for message in messages]
        response = await self._call(lambda client: client.chat.completions.create(model=self.model, messages=wire,
                                                                                  **options))
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
