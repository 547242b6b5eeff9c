"""What every hosted provider shares (keys, HTTP slots, pacing, retries, usage), and the generator on top.

`ProviderClient` sends one chat completion, or streams one, the same way for every provider:

    [wait for an HTTP slot -> wait for the pacer -> send]  (retried) -> usage

A subclass per provider only says how to send one completion on a slot (`_complete`), how to
stream one (`_stream`) and how to close its client; it maps its SDK's or transport's errors to
`TransientError` (retried) or `GenerationError` (fatal). `ProviderGenerator` (the generators:
render_prompt -> client.chat -> parse_examples) and `chat_models.ProviderChatModel` both hold one.

Concurrency: `settings.concurrency` is the number of HTTP requests in flight, or `auto` (the
default of a client whose `auto_by_default` is set: the hosted APIs), where `_adaptive` finds the
level from the server's answers and `_ratelimits` holds requests back when the rate-limit headers
say the budget is spent; a number keeps that many in flight, whatever the answers. The core's
sliding window is widened to `queue_factor` x concurrency requests started, and each attempt
takes one of `concurrency` numbered slots only while it is on the wire, so a request sleeping
through a `Retry-After` does not hold a slot that another request could use; coming back, it is
served before requests not yet sent (see _slots). A provider may use the slot number to pick a
connection pool (see openai_compatible).

Fatal errors: the first one that stops everything (for a generator any `GenerationError`, for a
chat model a refused key or an exhausted quota) is kept as `client.fatal` before its slot is
released, so no request waiting for a slot or the pacer sends after it: they raise it instead.

Streams: a stream is retried like a request until its first text arrives, and holds its slot
until it ends. A failure after the first text raises `ChatRequestFailed`: a retry would repeat
text the caller already has.
"""

from __future__ import annotations

import asyncio
import math
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping
from contextlib import AsyncExitStack, aclosing, asynccontextmanager
from typing import Any, ClassVar, NoReturn, cast

from finetune_core.domain import ExampleDraft, Message, TaskType
from finetune_core.errors import FinetuneError, GenerationError
from finetune_core.generation.base import (
    DEFAULT_CONCURRENCY,
    GenerationRequest,
    GenerationResult,
    Generator,
    GeneratorSettings,
)
from finetune_core.generation.parsing import parse_examples
from finetune_core.generation.prompts import render_prompt, summary_user_content

from finetune_providers._adaptive import ConcurrencyController
from finetune_providers._answers import Completion as Completion  # the provider modules import these from here
from finetune_providers._answers import Delta as Delta
from finetune_providers._answers import OpenStream, until_text
from finetune_providers._answers import StreamTotals as StreamTotals
from finetune_providers._keys import KeySpec, resolve_api_key
from finetune_providers._options import ProviderOptions
from finetune_providers._pacing import Pacer
from finetune_providers._ratelimits import RateLimitBudget
from finetune_providers._retry import TransientError, with_retries
from finetune_providers._slots import SlotPool
from finetune_providers._usage import PriceTable, UsageMeter

CHARS_PER_TOKEN = 4  # for pacing estimates only; the API's own counts settle them afterwards
OUTPUT_TOKENS_PER_EXAMPLE = 150
USAGE_COUNTS = ("requests", "retries", "rate_limited", "input_tokens", "output_tokens")
REFUSAL_STATUSES = frozenset({429, 503, 529})  # what `auto` reads as "too many": rate limited, overloaded


class ChatRequestFailed(FinetuneError):
    """One chat request still failing after its retries, or a stream broken off: another call may succeed."""

    error_code = "CHAT_REQUEST_FAILED"


def prompt_tokens(messages: list[Message]) -> int:
    """A rough count of the prompt's tokens, for pacing."""
    return sum(len(message.content) for message in messages) // CHARS_PER_TOKEN


def parse_answer(text: str, request: GenerationRequest) -> list[ExampleDraft]:
    """The examples in a model's answer to `request` (the core's parser; raw text kept when it is not JSON)."""
    summary_user = (summary_user_content(request.chunk.content.strip(), request.language)
                    if request.task_type is TaskType.SUMMARIZATION else None)
    return parse_examples(text, request.task_type, chunk_text=request.chunk.content,
                          user_content_for_summary=summary_user)


def add_usage(total: UsageMeter, meter: UsageMeter) -> None:
    for field in USAGE_COUNTS:
        setattr(total, field, getattr(total, field) + getattr(meter, field))


def gave_up(provider: str, error: TransientError, requests: int) -> str:
    """The message of a request still failing after its retries."""
    return f"{provider}: {error.message} (gave up after {requests} {'attempt' if requests == 1 else 'attempts'})"


class ProviderClient(ABC):
    """One provider's chat endpoint behind the shared keys, slots, pacing, retries and usage; see the module doc."""

    provider: ClassVar[str]  # shown in messages: "OpenAI"
    key_spec: ClassVar[KeySpec | None] = None
    default_model: ClassVar[str | None] = None
    json_mode_default: ClassVar[bool] = False
    auto_by_default: ClassVar[bool] = True  # no concurrency given: `auto` (a hosted API), else DEFAULT_CONCURRENCY

    def __init__(self, settings: GeneratorSettings, *, used_by: str, transport: Any | None = None,
                 stops_all: Callable[[GenerationError], bool] | None = None) -> None:
        """`used_by` names the user in messages ("openai generator"); `transport` replaces the HTTP transport
        (an httpx2 transport, e.g. `httpx2.MockTransport`): a test seam; `stops_all(error)`: whether a fatal
        error stops every later request of this client (None: every one does)."""
        self.settings = settings
        self.used_by = used_by
        self.transport = transport
        self.options = ProviderOptions.from_settings(settings)
        self.api_key = resolve_api_key(self.key_spec, settings.api_key) if self.key_spec else None
        model = settings.model or self.default_model
        if not model:
            raise GenerationError(f"the {used_by} needs a model name: pass --model NAME")
        self.model: str = model
        self.json_mode = self.json_mode_default if self.options.json_mode is None else self.options.json_mode
        self.retry_policy = self.options.retry_policy()
        self.pacer = Pacer(settings.requests_per_minute, settings.tokens_per_minute)
        self.price = PriceTable(self.options.prices).lookup(self.model)
        self.adaptive: ConcurrencyController | None = None
        self._estimate = 0  # the tokens of the last request sent, for the rate-limit budget
        self.budget: RateLimitBudget | None = None
        self.slot_count = self._concurrency(settings.concurrency)
        self.fatal: GenerationError | None = None  # the error that stopped this client (a refused key...)
        self.fatal_owner: str | None = None  # who met it (a generator's request key)
        self._stops_all = stops_all
        self._slots: SlotPool | None = None
        self._slots_loop: asyncio.AbstractEventLoop | None = None

    # --- what a provider implements -------------------------------------------------------
    @abstractmethod
    async def _complete(self, messages: list[Message], slot: int) -> Completion:
        """Send one chat completion on slot `slot` (0 <= slot < slot_count); raise TransientError or GenerationError."""

    @abstractmethod
    def _stream(self, messages: list[Message], slot: int) -> AsyncGenerator[Delta, None]:
        """Stream one chat completion on slot `slot`, piece by piece; raise TransientError or GenerationError."""

    async def aclose(self) -> None:  # noqa: B027 - an optional hook
        """Close the HTTP client, if one was opened."""

    # --- sending ----------------------------------------------------------------------------
    def use_slots(self, count: int | None) -> None:
        """Send at most `count` requests at once from now on; None: as the settings say (maybe `auto`)."""
        self.slot_count = self._concurrency(count if count is not None else self.settings.concurrency)
        self._slots = None

    def _concurrency(self, asked: int | str | None) -> int:
        """The number of HTTP slots for `asked` (a number, "auto" or None), with the controller `auto` needs."""
        if isinstance(asked, int):
            self.adaptive = self.budget = None
            return asked
        if asked is None and not self.auto_by_default:
            self.adaptive = self.budget = None
            return DEFAULT_CONCURRENCY
        self.adaptive = ConcurrencyController(start=self.options.auto_start, maximum=self.options.auto_max)
        self.budget = RateLimitBudget()
        return self.adaptive.maximum

    def observe_headers(self, headers: Mapping[str, str]) -> None:
        """Read the rate-limit budget an answer announces (every answer, a 200 as well as a 429)."""
        if self.budget is not None:
            in_use = self._slots.in_use if self._slots is not None else 1
            self.budget.observe(headers, others_in_flight=max(0, in_use - 1), tokens_each=self._estimate)

    async def chat(self, messages: list[Message], *, estimate_tokens: int, meter: UsageMeter,
                   owner: str | None = None) -> Completion:
        """One chat completion, retried; counted in `meter`. The last TransientError when the retries are used up."""
        if self.fatal is not None:
            raise self.fatal

        async def attempt() -> Completion:
            async with self._sending(meter, estimate_tokens, owner) as slot:
                completion = await self._complete(messages, slot)
            self._settle(meter, estimate_tokens, completion.input_tokens, completion.output_tokens)
            return completion

        return await with_retries(attempt, self.retry_policy, on_retry=lambda error, wait_s: _retried(meter))

    async def stream(self, messages: list[Message], *, estimate_tokens: int, meter: UsageMeter,
                     owner: str | None = None) -> AsyncGenerator[Delta, None]:
        """One chat completion piece by piece, retried until its first text; then a failure is ChatRequestFailed."""
        if self.fatal is not None:
            raise self.fatal

        async def attempt() -> OpenStream:
            async with AsyncExitStack() as held:
                slot = await held.enter_async_context(self._sending(meter, estimate_tokens, owner))
                rest = self._stream(messages, slot)
                held.push_async_callback(rest.aclose)
                head = await until_text(rest)
                return OpenStream(held.pop_all(), head, rest)

        opened = await with_retries(attempt, self.retry_policy, on_retry=lambda error, wait_s: _retried(meter))
        totals = StreamTotals()
        async with opened.held:
            for delta in opened.head:
                totals.add(delta)
                yield delta
            try:
                async for delta in opened.rest:
                    totals.add(delta)
                    yield delta
            except (TransientError, GenerationError) as exc:
                raise ChatRequestFailed(f"{self.provider}: the answer broke off after {totals.characters} characters "
                                        f"({exc.message}); not retried, which would repeat the text already sent",
                                        provider=self.provider) from None
        self._settle(meter, estimate_tokens, totals.input_tokens, totals.output_tokens)

    @asynccontextmanager
    async def _sending(self, meter: UsageMeter, estimate_tokens: int, owner: str | None) -> AsyncIterator[int]:
        """One attempt on the wire: an HTTP slot, the pacer's turn, then the caller sends on the slot it gets."""
        slots = self._slot_pool()
        slot = await slots.acquire(retry=meter.requests > 0)
        level = slots.in_use  # the requests in flight as this one goes, itself included: what `auto` learns from
        adaptive = self.adaptive
        ticket: int | None = None
        try:
            if self.budget is not None:
                self._estimate = estimate_tokens
                while (wait := self.budget.delay(tokens=estimate_tokens)) > 0:
                    await asyncio.sleep(wait)  # the announced budget is spent: wait for its reset, not a 429
            await self.pacer.acquire(estimate_tokens)
            if self.fatal is not None:  # stopped while this one waited: send nothing more
                raise self.fatal
            meter.requests += 1
            sent = time.monotonic()
            ticket = adaptive.sent(level) if adaptive is not None else None
            yield slot
            if adaptive is not None and ticket is not None:
                adaptive.answered(ticket, time.monotonic() - sent, saturated=slots.saturated)
                ticket = None
        except TransientError as exc:
            if exc.status == 429:
                meter.rate_limited += 1
            if adaptive is not None and ticket is not None and exc.status in REFUSAL_STATUSES:
                adaptive.refused(ticket)
                ticket = None
            raise
        except GenerationError as exc:
            # set before the slot is released, so no waiter sends after it
            if self.fatal is None and (self._stops_all is None or self._stops_all(exc)):
                self.fatal, self.fatal_owner = exc, owner
            raise
        finally:
            if adaptive is not None:
                if ticket is not None:  # another error, or cancelled: no evidence either way
                    adaptive.ended(ticket)
                slots.set_limit(adaptive.limit)
            slots.release(slot)

    def _settle(self, meter: UsageMeter, estimate_tokens: int, input_tokens: int | None,
                output_tokens: int | None) -> None:
        meter.add_tokens(input_tokens, output_tokens)
        if input_tokens is not None or output_tokens is not None:
            self.pacer.settle(estimate_tokens, (input_tokens or 0) + (output_tokens or 0))

    def _slot_pool(self) -> SlotPool:
        """The HTTP slots, made on first use in the running loop (a run's loop)."""
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots_loop is not loop:
            limit = self.adaptive.limit if self.adaptive is not None else None
            self._slots, self._slots_loop = SlotPool(self.slot_count, limit), loop
        return self._slots

    # --- request options --------------------------------------------------------------------
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


def _retried(meter: UsageMeter) -> None:
    meter.retries += 1


class ProviderGenerator(Generator):
    """Base of the provider generators: the core's prompts and parsing around a `ProviderClient`."""

    client_class: ClassVar[type[ProviderClient]]

    def __init__(self, settings: GeneratorSettings | None = None, *, transport: Any | None = None) -> None:
        """`transport` replaces the HTTP transport (an httpx2 transport): a test seam."""
        super().__init__(settings)
        self.client = self.client_class(self.settings, used_by=f"{self.name} generator", transport=transport)
        self.totals = UsageMeter()  # the whole run, for callers that hold the instance
        self._windowed = False  # inside generate(): the core ends the run on the first fatal error

    @property
    def provider(self) -> str:
        return self.client.provider

    async def generate(
        self, requests: Iterable[GenerationRequest], *, concurrency: int | None = None
    ) -> AsyncIterator[GenerationResult]:
        """The core's sliding window, widened so requests in backoff do not hold HTTP slots."""
        self.client.use_slots(concurrency)
        slots = self.client.slot_count
        window = max(slots, math.ceil(slots * self.client.options.queue_factor))
        inner = cast(AsyncGenerator[GenerationResult, None], super().generate(requests, concurrency=window))
        self._windowed = True
        try:
            async with aclosing(inner) as results:
                async for result in results:
                    yield result
        finally:
            self._windowed = False

    async def generate_one(self, request: GenerationRequest) -> GenerationResult:
        if self.client.fatal is not None:
            await self._stopped()
        messages = render_prompt(request)
        meter = UsageMeter()
        estimate = prompt_tokens(messages) + (self.client.options.max_tokens
                                              or OUTPUT_TOKENS_PER_EXAMPLE * request.n_examples)
        try:
            completion = await self.client.chat(messages, estimate_tokens=estimate, meter=meter, owner=request.key)
        except TransientError as exc:
            add_usage(self.totals, meter)
            return GenerationResult(key=request.key, usage=meter.as_dict(self.client.price),
                                    error=gave_up(self.provider, exc, meter.requests))
        except GenerationError as exc:
            if exc is self.client.fatal and self.client.fatal_owner == request.key:
                raise
            await self._stopped()
        add_usage(self.totals, meter)
        return GenerationResult(key=request.key, drafts=parse_answer(completion.text, request),
                                raw_text=completion.text, usage=meter.as_dict(self.client.price))

    def concurrency_report(self) -> dict[str, Any] | None:
        adaptive = self.client.adaptive
        if adaptive is None or not adaptive.attempts:  # fixed, or nothing sent online (a batch)
            return None
        report = adaptive.report()
        if self.client.budget is not None:
            report["held_for_budget"] = self.client.budget.waits
        return report

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _stopped(self) -> NoReturn:
        """For a request meeting a run already stopped by a fatal error: raise that error; in the core's window,
        wait to be cancelled instead (the core ends the run on the first error it gets; more raised errors
        would only be logged as "never retrieved")."""
        fatal = self.client.fatal
        assert fatal is not None
        if self._windowed:
            await asyncio.get_running_loop().create_future()  # never set: cancelled when the core stops the run
        raise fatal
