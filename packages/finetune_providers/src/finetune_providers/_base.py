"""What every hosted-model generator shares: keys, pacing, retries, usage, prompt and parsing.

A subclass only says how to send one chat completion (`_complete`) and how to close its client;
it maps its SDK's or transport's errors to `TransientError` (retried) or `GenerationError`
(stops the run). Per request:

    render_prompt -> [wait for an HTTP slot -> wait for the pacer -> send]  (retried) -> parse_examples

Concurrency: `settings.concurrency` is the number of HTTP requests in flight. The core's
sliding window is widened to `queue_factor` x concurrency requests started, and each attempt
takes one of `concurrency` numbered slots only while it is on the wire, so a request sleeping
through a `Retry-After` does not hold a slot that another request could use; coming back, it is
served before requests not yet sent (see _slots). A provider may use the slot number to pick a
connection pool (see openai_compatible).
"""

from __future__ import annotations

import asyncio
import math
from abc import abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, ClassVar, NoReturn, cast

from finetune_core.domain import Message, TaskType
from finetune_core.errors import GenerationError
from finetune_core.generation.base import GenerationRequest, GenerationResult, Generator, GeneratorSettings
from finetune_core.generation.parsing import parse_examples
from finetune_core.generation.prompts import render_prompt, summary_user_content

from finetune_providers._keys import KeySpec, resolve_api_key
from finetune_providers._options import ProviderOptions
from finetune_providers._pacing import Pacer
from finetune_providers._retry import TransientError, with_retries
from finetune_providers._slots import SlotPool
from finetune_providers._usage import PriceTable, UsageMeter

CHARS_PER_TOKEN = 4  # for pacing estimates only; the API's own counts settle them afterwards
OUTPUT_TOKENS_PER_EXAMPLE = 150


@dataclass(frozen=True)
class Completion:
    """One model answer: its text and what the API reported about it."""

    text: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish_reason: str | None = None


class ProviderGenerator(Generator):
    """Base of the provider generators; see the module doc."""

    provider: ClassVar[str]  # shown in messages: "OpenAI"
    key_spec: ClassVar[KeySpec | None] = None
    default_model: ClassVar[str | None] = None
    json_mode_default: ClassVar[bool] = False

    def __init__(self, settings: GeneratorSettings | None = None, *, transport: Any | None = None) -> None:
        """`transport` replaces the HTTP transport (an httpx or httpx2 transport, per provider): a test seam."""
        super().__init__(settings)
        self.transport = transport
        self.options = ProviderOptions.from_settings(self.settings)
        self.api_key = resolve_api_key(self.key_spec, self.settings.api_key) if self.key_spec else None
        model = self.settings.model or self.default_model
        if not model:
            raise GenerationError(f"the {self.name} generator needs a model name: pass --model NAME")
        self.model: str = model
        self.json_mode = self.json_mode_default if self.options.json_mode is None else self.options.json_mode
        self.retry_policy = self.options.retry_policy()
        self.pacer = Pacer(self.settings.requests_per_minute, self.settings.tokens_per_minute)
        self.price = PriceTable(self.options.prices).lookup(self.model)
        self.totals = UsageMeter()  # the whole run, for callers that hold the instance
        self.slot_count = self.settings.concurrency
        self._slots: SlotPool | None = None
        self._slots_loop: asyncio.AbstractEventLoop | None = None
        self._fatal: GenerationError | None = None  # the error that stops the run (a refused key...)
        self._fatal_key: str | None = None  # the request that met it: the one that raises it
        self._windowed = False  # inside generate(): the core ends the run on the first fatal error

    # --- what a provider implements -------------------------------------------------------
    @abstractmethod
    async def _complete(self, messages: list[Message], request: GenerationRequest, slot: int) -> Completion:
        """Send one chat completion on slot `slot` (0 <= slot < slot_count); raise TransientError or GenerationError."""

    async def _close_client(self) -> None:
        """Close the HTTP client, if one was opened."""

    # --- the run --------------------------------------------------------------------------
    async def generate(
        self, requests: Iterable[GenerationRequest], *, concurrency: int | None = None
    ) -> AsyncIterator[GenerationResult]:
        """The core's sliding window, widened so requests in backoff do not hold HTTP slots."""
        self.slot_count = concurrency or self.settings.concurrency
        self._slots = None
        window = max(self.slot_count, math.ceil(self.slot_count * self.options.queue_factor))
        inner = cast(AsyncGenerator[GenerationResult, None], super().generate(requests, concurrency=window))
        self._windowed = True
        try:
            async with aclosing(inner) as results:
                async for result in results:
                    yield result
        finally:
            self._windowed = False

    async def generate_one(self, request: GenerationRequest) -> GenerationResult:
        if self._fatal is not None:
            await self._stopped()
        messages = render_prompt(request)
        meter = UsageMeter()
        estimate = self._estimate_tokens(messages, request)

        async def attempt() -> Completion:
            return await self._attempt(messages, request, meter, estimate)

        def on_retry(error: TransientError, wait_s: float) -> None:
            meter.retries += 1

        try:
            completion = await with_retries(attempt, self.retry_policy, on_retry=on_retry)
        except TransientError as exc:
            self._count(meter)
            attempts = "attempt" if meter.requests == 1 else "attempts"
            return GenerationResult(key=request.key, usage=meter.as_dict(self.price),
                                    error=f"{self.provider}: {exc.message} (gave up after {meter.requests} {attempts})")
        except GenerationError as exc:
            if exc is self._fatal and self._fatal_key == request.key:
                raise
            await self._stopped()
        self._count(meter)
        summary_user = (summary_user_content(request.chunk.content.strip(), request.language)
                        if request.task_type is TaskType.SUMMARIZATION else None)
        drafts = parse_examples(completion.text, request.task_type, chunk_text=request.chunk.content,
                                user_content_for_summary=summary_user)
        return GenerationResult(key=request.key, drafts=drafts, raw_text=completion.text,
                                usage=meter.as_dict(self.price))

    async def aclose(self) -> None:
        await self._close_client()

    # --- helpers ----------------------------------------------------------------------------
    async def _attempt(self, messages: list[Message], request: GenerationRequest, meter: UsageMeter,
                       estimate: int) -> Completion:
        slots = self._slot_pool()
        slot = await slots.acquire(retry=meter.requests > 0)
        try:
            await self.pacer.acquire(estimate)
            if self._fatal is not None:  # the run is over: send nothing more
                raise self._fatal
            meter.requests += 1
            completion = await self._complete(messages, request, slot)
        except TransientError as exc:
            if exc.status == 429:
                meter.rate_limited += 1
            raise
        except GenerationError as exc:
            if self._fatal is None:  # set before the slot is released, so no waiter sends after it
                self._fatal, self._fatal_key = exc, request.key
            raise
        finally:
            slots.release(slot)
        meter.add_tokens(completion.input_tokens, completion.output_tokens)
        if completion.input_tokens is not None or completion.output_tokens is not None:
            self.pacer.settle(estimate, (completion.input_tokens or 0) + (completion.output_tokens or 0))
        return completion

    async def _stopped(self) -> NoReturn:
        """For a request meeting a run already stopped by a fatal error: raise that error; in the core's window,
        wait to be cancelled instead (the core ends the run on the first error it gets; more raised errors
        would only be logged as "never retrieved")."""
        assert self._fatal is not None
        if self._windowed:
            await asyncio.get_running_loop().create_future()  # never set: cancelled when the core stops the run
        raise self._fatal

    def _slot_pool(self) -> SlotPool:
        """The HTTP slots, made on first use in the running loop (a run's loop)."""
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots_loop is not loop:
            self._slots, self._slots_loop = SlotPool(self.slot_count), loop
        return self._slots

    def _estimate_tokens(self, messages: list[Message], request: GenerationRequest) -> int:
        prompt = sum(len(message.content) for message in messages) // CHARS_PER_TOKEN
        return prompt + (self.options.max_tokens or OUTPUT_TOKENS_PER_EXAMPLE * request.n_examples)

    def _count(self, meter: UsageMeter) -> None:
        for field in ("requests", "retries", "rate_limited", "input_tokens", "output_tokens"):
            setattr(self.totals, field, getattr(self.totals, field) + getattr(meter, field))

    def _chat_options(self, *, max_tokens_field: str = "max_tokens") -> dict[str, Any]:
        """Temperature, completion cap and JSON mode, as a Chat Completions style API takes them."""
        options: dict[str, Any] = {}
        temperature = self._temperature()
        if temperature is not None:
            options["temperature"] = temperature
        if self.options.max_tokens is not None:
            options[max_tokens_field] = self.options.max_tokens
        if self.json_mode:
            options["response_format"] = {"type": "json_object"}
        return options

    def _max_tokens(self, default: int | None = None) -> int | None:
        return self.options.max_tokens or default

    def _temperature(self) -> float | None:
        """The temperature to send, or None for models that refuse one (OpenAI's o-series, gpt-5 and later)."""
        if self.options.send_temperature is False:
            return None
        if self.options.send_temperature is None and self.model.startswith(("o1", "o3", "o4", "gpt-5", "gpt-6")):
            return None
        return self.settings.temperature
