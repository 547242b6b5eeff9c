"""Chat models per provider (`finetune_register_chat_models`): one answer at once (`complete`) or streamed.

    openai-compatible   any Chat Completions server: server-sent events over aiohttp
    openai              OpenAI: the SDK's `stream=True` chunks
    anthropic           Anthropic: the SDK's `messages.create(stream=True)` events
    mistral             Mistral: the SDK's `chat.stream_async`
    llama-cpp           a local GGUF model in process: `create_chat_completion(stream=True)`

The hosted ones hold the `ProviderClient` of the generator of the same name, so they take keys
(`api_key`, else the provider's environment variable, with the same format checks), pace, retry
and meter usage just as it does (see _base). `ChatSettings` map onto the provider settings:
`max_tokens` and `json_mode` win over the same keys in `extra`; the other `extra` keys are read as
the generators read them (`max_retries`, `prices`, `headers`, `send_temperature`...). JSON mode is
off unless asked for (the judge asks).

Errors: a refused key, an exhausted quota or a rejected request raise `GenerationError` naming the
provider, never the key; a refused key or an exhausted quota also stops every later call of the
instance. A request still failing after its retries, or a stream broken off after its first text,
raises `ChatRequestFailed`: another call may succeed. `totals` adds up the usage of every call,
streams included (the `stream` contract has no room for it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import aclosing, contextmanager
from typing import Any, ClassVar

from finetune_core.chat import ChatModel, ChatReply, ChatSettings
from finetune_core.domain import Message
from finetune_core.errors import GenerationError
from finetune_core.generation.base import GeneratorSettings

from finetune_providers._base import (
    ChatRequestFailed,
    Delta,
    ProviderClient,
    StreamTotals,
    add_usage,
    gave_up,
    prompt_tokens,
)
from finetune_providers._retry import TransientError
from finetune_providers._usage import UsageMeter
from finetune_providers.anthropic_sdk import AnthropicClient
from finetune_providers.llama_cpp_local import MODEL_ERRORS, LlamaCppOptions, LlamaCppRunner, usage_of
from finetune_providers.mistral_sdk import MistralClient
from finetune_providers.openai_compatible import OpenAICompatibleClient
from finetune_providers.openai_sdk import OpenAIClient

ACCOUNT_ERRORS = frozenset({"PROVIDER_AUTH", "PROVIDER_QUOTA"})  # every later call would meet them too
REPLY_TOKENS_ESTIMATE = 512  # for pacing, when no max_tokens is set


def provider_extra(settings: ChatSettings) -> dict[str, Any]:
    """`settings.extra` with the chat settings' own `json_mode` and `max_tokens` in it."""
    extra = {**settings.extra, "json_mode": settings.json_mode}
    if settings.max_tokens is not None:
        extra["max_tokens"] = settings.max_tokens
    return extra


def provider_settings(settings: ChatSettings) -> GeneratorSettings:
    """The provider settings (the generators' shape) that chat settings stand for."""
    common = settings.model_dump(include={"model", "base_url", "api_key", "temperature", "timeout_s", "concurrency",
                                          "requests_per_minute", "tokens_per_minute"})
    return GeneratorSettings(**common, extra=provider_extra(settings))


def _account_error(error: GenerationError) -> bool:
    return error.error_code in ACCOUNT_ERRORS


class ProviderChatModel(ChatModel):
    """A hosted provider's chat model: its `ProviderClient`, asked at once or streamed; see the module doc."""

    client_class: ClassVar[type[ProviderClient]]

    def __init__(self, settings: ChatSettings | None = None, *, transport: Any | None = None) -> None:
        """`transport` replaces the HTTP transport (an httpx2 transport, e.g. `httpx2.MockTransport`): a test seam."""
        super().__init__(settings)
        self.client = self.client_class(provider_settings(self.settings), used_by=f"{self.name} chat model",
                                        transport=transport, stops_all=_account_error)
        self.totals = UsageMeter()

    async def complete(self, messages: list[Message]) -> ChatReply:
        meter = UsageMeter()
        try:
            completion = await self.client.chat(messages, estimate_tokens=self._estimate(messages), meter=meter)
        except TransientError as exc:
            raise self._gave_up(exc, meter) from None
        finally:
            add_usage(self.totals, meter)
        return ChatReply(text=completion.text, input_tokens=completion.input_tokens,
                         output_tokens=completion.output_tokens, finish_reason=completion.finish_reason,
                         usage=meter.as_dict(self.client.price))

    async def stream(self, messages: list[Message]) -> AsyncIterator[str]:
        meter = UsageMeter()
        try:
            deltas = self.client.stream(messages, estimate_tokens=self._estimate(messages), meter=meter)
            async with aclosing(deltas):
                async for delta in deltas:
                    if delta.text:
                        yield delta.text
        except TransientError as exc:
            raise self._gave_up(exc, meter) from None
        finally:
            add_usage(self.totals, meter)

    async def aclose(self) -> None:
        await self.client.aclose()

    def _estimate(self, messages: list[Message]) -> int:
        return prompt_tokens(messages) + (self.client.options.max_tokens or REPLY_TOKENS_ESTIMATE)

    def _gave_up(self, error: TransientError, meter: UsageMeter) -> ChatRequestFailed:
        return ChatRequestFailed(gave_up(self.client.provider, error, meter.requests), provider=self.client.provider,
                                 usage=meter.as_dict(self.client.price))


class OpenAICompatibleChatModel(ProviderChatModel):
    """Any Chat Completions server (Ollama, vLLM, LM Studio, llama.cpp's server): `base_url` and `model` required."""

    name: ClassVar[str] = "openai-compatible"
    key_provider: ClassVar[str | None] = "openai-compatible"
    client_class: ClassVar[type[ProviderClient]] = OpenAICompatibleClient


class OpenAIChatModel(ProviderChatModel):
    """OpenAI models (default `gpt-4o-mini`)."""

    name: ClassVar[str] = "openai"
    key_provider: ClassVar[str | None] = "openai"
    client_class: ClassVar[type[ProviderClient]] = OpenAIClient


class AnthropicChatModel(ProviderChatModel):
    """Anthropic models (default `claude-haiku-4-5`); the Messages API has no JSON mode."""

    name: ClassVar[str] = "anthropic"
    key_provider: ClassVar[str | None] = "anthropic"
    client_class: ClassVar[type[ProviderClient]] = AnthropicClient


class MistralChatModel(ProviderChatModel):
    """Mistral models (default `mistral-small-latest`)."""

    name: ClassVar[str] = "mistral"
    key_provider: ClassVar[str | None] = "mistral"
    client_class: ClassVar[type[ProviderClient]] = MistralClient


@contextmanager
def _llama_errors() -> Iterator[None]:
    try:
        yield
    except MODEL_ERRORS as exc:
        raise ChatRequestFailed(f"llama.cpp: {exc}", provider="llama.cpp") from None
    except TransientError as exc:
        raise ChatRequestFailed(f"llama.cpp: {exc.message}", provider="llama.cpp") from None


class LlamaCppChatModel(ChatModel):
    """A local GGUF model in process (`model` = the .gguf path); one answer at a time, no key, no cost."""

    name: ClassVar[str] = "llama-cpp"
    computes_here: ClassVar[bool] = True  # in process: a caller on its own thread asks `answer_here`

    def __init__(self, settings: ChatSettings | None = None, *, llama: Any | None = None) -> None:
        """`llama`: an already loaded `llama_cpp.Llama` (or a stand-in with `create_chat_completion`)."""
        super().__init__(settings)
        options = LlamaCppOptions.from_extra(provider_extra(self.settings))
        self.runner = LlamaCppRunner(self.settings.model or options.model_path, options,
                                     temperature=self.settings.temperature, used_by="llama-cpp chat model", llama=llama)
        self.totals = UsageMeter()

    def answer_here(self, messages: list[Message], on_text: Callable[[str], None] | None = None) -> ChatReply:
        totals = StreamTotals()
        pieces: list[str] = []
        finish: list[str] = []

        def take(delta: Delta) -> None:
            totals.add(delta)
            finish[:] = [delta.finish_reason] if delta.finish_reason else finish
            if delta.text:
                pieces.append(delta.text)
                if on_text is not None:
                    on_text(delta.text)

        try:
            with _llama_errors():
                self.runner.stream_here(messages, take)
        finally:
            add_usage(self.totals, usage_of(totals.input_tokens, totals.output_tokens))
        meter = usage_of(totals.input_tokens, totals.output_tokens)
        return ChatReply(text="".join(pieces), input_tokens=totals.input_tokens, output_tokens=totals.output_tokens,
                         finish_reason=finish[0] if finish else None, usage=meter.as_dict(None))

    async def complete(self, messages: list[Message]) -> ChatReply:
        with _llama_errors():
            completion = await self.runner.complete(messages)
        meter = usage_of(completion.input_tokens, completion.output_tokens)
        add_usage(self.totals, meter)
        return ChatReply(text=completion.text, input_tokens=completion.input_tokens,
                         output_tokens=completion.output_tokens, finish_reason=completion.finish_reason,
                         usage=meter.as_dict(None))

    async def stream(self, messages: list[Message]) -> AsyncIterator[str]:
        totals = StreamTotals()
        try:
            with _llama_errors():
                async with aclosing(self.runner.stream(messages)) as deltas:
                    async for delta in deltas:
                        totals.add(delta)
                        if delta.text:
                            yield delta.text
        finally:
            add_usage(self.totals, usage_of(totals.input_tokens, totals.output_tokens))


CHAT_MODELS: tuple[type[ChatModel], ...] = (OpenAICompatibleChatModel, OpenAIChatModel, AnthropicChatModel,
                                            MistralChatModel, LlamaCppChatModel)
