"""Batch generation: the optional capability of a generator to send its requests through a provider's batch API.

A generator that also derives from `BatchGenerator` can answer a whole run as one batch (or a few, under
the provider's limits): cheaper (the providers bill batches at half price), slower (answered within 24
hours). The core (services/batch_generation) plans the requests exactly as online, marks a batch
(a `BatchTicket`, stored in the project's files) before `submit_batch` sends it, stores its id, polls
`batch_status` with backoff and, once it ended, reads `batch_results` and stores each result through the
same code as the online ones, under the same request keys.

`submit_batch` is where a crash matters: a batch may exist at the provider while its id was never
stored. So a provider marks what it sends so it can find it again (`ticket.label`: OpenAI's and
Mistral's batch metadata; see each provider), and `submit_batch` looks the batch up first whenever
the ticket says it may already have been sent (`ticket.sent_before`: a run that died while sending, or
an earlier attempt of this one) instead of sending it twice.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from finetune_core.generation.base import GenerationRequest, GenerationResult

BATCH_DISCOUNT = 0.5  # what a batch's tokens cost, against the same tokens sent online


class BatchPollFailed(Exception):
    """A status or results read that still failed after its retries (the provider out of reach for a while).

    The core tries again at its next poll and gives up after a few in a row; the batch is left running at
    the provider, for a rerun to collect.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class BatchTicket:
    """One batch as the core keeps it before and after it is sent.

    `label`: unique, made before the batch is sent; a provider attaches it to the batch (metadata) to find
    it again. `marked_at`: when the core marked it (epoch seconds): a provider without metadata looks
    among the batches created since. `sent_before`: an earlier attempt may have sent it (look it up first).
    `memo`: what the provider keeps between the steps of a send (an uploaded file's id), stored with the
    ticket by `remember` before the next step.
    """

    label: str
    marked_at: float
    requests: int
    sent_before: bool = False
    memo: dict[str, Any] = field(default_factory=dict)
    save: Callable[[], None] = field(default=lambda: None, repr=False)

    def remember(self, **values: Any) -> None:
        """Keep `values` in the memo, stored at once (a crash after this step finds them again)."""
        self.memo.update(values)
        self.save()


@dataclass(frozen=True)
class BatchStatus:
    """A batch as the provider reports it: its own status word, whether it ended (no result will change any
    more: completed, failed, expired or cancelled), requests finished of the total, and a batch-wide error."""

    status: str
    ended: bool
    done: int = 0
    total: int = 0
    error: str | None = None


class BatchGenerator(ABC):
    """What a generator adds to be run with `batch` (a mixin of `Generator`); see the module doc."""

    batch_max_requests: ClassVar[int] = 10_000  # the provider's limit of requests per batch
    batch_discount: ClassVar[float] = BATCH_DISCOUNT

    def batch_groups(self, requests: Sequence[GenerationRequest],
                     max_requests: int | None = None) -> list[list[GenerationRequest]]:
        """The requests cut into batches the provider takes (by count here; a provider may also cut by size)."""
        size = min(max_requests or self.batch_max_requests, self.batch_max_requests)
        return [list(requests[start:start + size]) for start in range(0, len(requests), size)]

    @abstractmethod
    async def submit_batch(self, ticket: BatchTicket, requests: Sequence[GenerationRequest]) -> str:
        """Send the batch once (finding it first when `ticket.sent_before`); its id at the provider."""

    @abstractmethod
    async def batch_status(self, batch_id: str) -> BatchStatus:
        """The batch now; BatchPollFailed when the provider could not be read."""

    @abstractmethod
    def batch_results(self, batch_id: str,
                      requests: Mapping[str, GenerationRequest]) -> AsyncIterator[GenerationResult]:
        """The results of an ended batch, keyed as `requests` (those of other keys are skipped); a request
        the batch did not answer well is a result with its `error`. BatchPollFailed when they could not be read."""

    @abstractmethod
    async def cancel_batch(self, batch_id: str) -> None:
        """Ask the provider to stop the batch (best effort: an ended batch is left as it is)."""
