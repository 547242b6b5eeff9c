"""What the providers' batch APIs share: one call with the shared retries, send-once, results as the core's.

A provider says what one request of its batch looks like (`batch_line`), and how to create, find,
read, list the results of, and cancel a batch (`_create`, `_find`, `_status`, `_lines`, `_cancel`),
on its SDK client (`client._sdk()`), whose errors are mapped to retries as online (`client._sdk_errors`).

Sending once: `submit_batch` looks the batch up (`_find`, by the label the core made before sending)
before it creates one whenever it may exist already: the ticket says a run died while sending it, or
an earlier attempt of this call failed after the request left. Creating is otherwise one attempt per
try, like hosted training's jobs.

Cost: a result's usage prices its tokens at `batch_discount` of the model's price (half, at OpenAI,
Anthropic and Mistral), `requests` counts 1 per request of the batch.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from finetune_core.errors import GenerationError
from finetune_core.generation.base import GenerationRequest, GenerationResult
from finetune_core.generation.batch import BatchGenerator, BatchPollFailed, BatchStatus, BatchTicket

from finetune_providers._base import Completion, ProviderClient, parse_answer
from finetune_providers._retry import TransientError, redact, with_retries
from finetune_providers._usage import Price, UsageMeter

T = TypeVar("T")
MAX_ERROR_CHARS = 300
NOT_FOUND = 404


class BatchLine:
    """One answer of a batch, as a provider reads it: the completion, or why there is none."""

    def __init__(self, custom_id: str, completion: Completion | None = None, error: str | None = None) -> None:
        self.custom_id, self.completion, self.error = custom_id, completion, error


class ProviderBatches(BatchGenerator):
    """The batch side of a `ProviderGenerator` (a mixin placed before it); see the module doc."""

    client: ProviderClient
    batch_max_bytes: ClassVar[int] = 100 * 1024 * 1024  # the provider's limit on a batch's size (its input file)

    # --- what a provider says --------------------------------------------------------------------
    @abstractmethod
    def batch_line(self, request: GenerationRequest) -> dict[str, Any]:
        """The request as one entry of the provider's batch (a line of its input file)."""

    @abstractmethod
    async def _create(self, ticket: BatchTicket, lines: list[dict[str, Any]]) -> str:
        """Create the batch of `lines` labelled `ticket.label` (one attempt); its id."""

    @abstractmethod
    async def _find(self, ticket: BatchTicket, lines: list[dict[str, Any]]) -> str | None:
        """The batch created for `ticket` before, if any."""

    @abstractmethod
    async def _status(self, batch_id: str) -> BatchStatus:
        """The batch now."""

    @abstractmethod
    async def _lines(self, batch_id: str) -> list[BatchLine]:
        """The answers of an ended batch."""

    @abstractmethod
    async def _cancel(self, batch_id: str) -> None:
        """Ask the provider to stop the batch."""

    def custom_id(self, key: str) -> str:
        """The id of a request inside the batch (by default its key)."""
        return key

    # --- the core's BatchGenerator ---------------------------------------------------------------
    def batch_groups(self, requests: Sequence[GenerationRequest],
                     max_requests: int | None = None) -> list[list[GenerationRequest]]:
        """Cut by count and by size (each request's line, as it will be sent)."""
        size = min(max_requests or self.batch_max_requests, self.batch_max_requests)
        groups: list[list[GenerationRequest]] = []
        current: list[GenerationRequest] = []
        used = 0
        for request in requests:
            length = len(json.dumps(self.batch_line(request)).encode()) + 1
            if current and (len(current) >= size or used + length > self.batch_max_bytes):
                groups.append(current)
                current, used = [], 0
            current.append(request)
            used += length
        if current:
            groups.append(current)
        return groups

    async def submit_batch(self, ticket: BatchTicket, requests: Sequence[GenerationRequest]) -> str:
        lines = [self.batch_line(request) for request in requests]
        ids = [self.custom_id(request.key) for request in requests]
        if len(set(ids)) != len(ids):
            raise GenerationError(f"{self.client.provider}: two requests of the batch have the same custom id")
        tries = 0

        async def attempt() -> str:
            nonlocal tries
            tries += 1
            with self._errors():
                if ticket.sent_before or tries > 1:  # sent by a run that died, or by the try that just failed
                    found = await self._find(ticket, lines)
                    if found is not None:
                        ticket.sent_before = True
                        return found
                return await self._create(ticket, lines)

        try:
            return await with_retries(attempt, self.client.retry_policy)
        except TransientError as exc:
            raise GenerationError(f"{self.client.provider}: the batch could not be sent: {exc.message} (gave up "
                                  f"after {tries} attempts); a rerun looks for it before sending it again",
                                  provider=self.client.provider) from None

    async def batch_status(self, batch_id: str) -> BatchStatus:
        try:
            return await self._read(lambda: self._status(batch_id))
        except GenerationError as exc:
            if exc.context.get("status") != NOT_FOUND:
                raise
            # deleted at the provider (or another account's key): its requests are failed, asked again by a rerun
            return BatchStatus(status="not found", ended=True,
                               error=f"the batch is no longer found at {self.client.provider} ({exc.message})")

    async def batch_results(self, batch_id: str,
                            requests: Mapping[str, GenerationRequest]) -> AsyncIterator[GenerationResult]:
        keys = {self.custom_id(key): key for key in requests}
        price = self._batch_price()
        try:
            lines = await self._read(lambda: self._lines(batch_id))
        except GenerationError as exc:
            if exc.context.get("status") != NOT_FOUND:
                raise
            lines = []  # gone: the core stores its requests as failed
        for line in lines:
            key = keys.get(line.custom_id)
            if key is None:
                continue
            yield self._result(requests[key], line, price, batch_id)

    async def cancel_batch(self, batch_id: str) -> None:
        async def attempt() -> None:
            with self._errors():
                await self._cancel(batch_id)

        await with_retries(attempt, self.client.retry_policy)

    # --- helpers ---------------------------------------------------------------------------------
    def _errors(self) -> Any:
        """The SDK's errors as TransientError or GenerationError (the online mapping)."""
        return self.client._sdk_errors()  # type: ignore[attr-defined]  # every SDK client has it

    def _sdk(self) -> Any:
        return self.client._sdk()  # type: ignore[attr-defined]

    async def _read(self, call: Callable[[], Awaitable[T]]) -> T:
        """A read, retried; BatchPollFailed when the retries are used up (the core polls again later)."""
        async def attempt() -> T:
            with self._errors():
                return await call()

        try:
            return await with_retries(attempt, self.client.retry_policy)
        except TransientError as exc:
            raise BatchPollFailed(f"{self.client.provider}: {exc.message}") from None

    def _batch_price(self) -> Price | None:
        price = self.client.price
        if price is None:
            return None
        return Price(price.input_per_m * self.batch_discount, price.output_per_m * self.batch_discount)

    def _result(self, request: GenerationRequest, line: BatchLine, price: Price | None,
                batch_id: str) -> GenerationResult:
        meter = UsageMeter(requests=1)
        completion = line.completion
        if completion is None:
            error = redact(line.error or "no answer", self.client.api_key)[:MAX_ERROR_CHARS]
            return GenerationResult(key=request.key, usage=meter.as_dict(price),
                                    error=f"{self.client.provider} batch {batch_id}: {error}")
        meter.add_tokens(completion.input_tokens, completion.output_tokens)
        return GenerationResult(key=request.key, drafts=parse_answer(completion.text, request),
                                raw_text=completion.text, usage=meter.as_dict(price))


def error_text(error: Any) -> str:
    """A readable line from an error object or body of a batch line."""
    if isinstance(error, Mapping):
        inner = error.get("error", error)
        if isinstance(inner, Mapping):
            message = inner.get("message") or inner.get("type") or inner.get("code")
            code = inner.get("code") or inner.get("type")
            return f"{message} ({code})" if code and code != message else str(message or json.dumps(inner))
        return str(inner)
    return str(error)
