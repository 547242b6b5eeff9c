"""The generator plugin interface: asynchronous, keyed requests, bounded concurrency.

A generator turns one `GenerationRequest` (a chunk and how many examples to
write) into a `GenerationResult`. The core drives many requests through
`Generator.generate`, a sliding window that keeps `concurrency` requests in
flight (never fixed batches, so one slow request does not idle the others) and
yields results as they complete, so the caller stores them as they arrive.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from finetune_core.domain import Chunk, ExampleDraft, TaskType

DEFAULT_CONCURRENCY = 8


class GeneratorSettings(BaseModel):
    """Options every generator accepts; plugins read theirs from `extra`."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    # requests in flight: a number, or "auto" (found from the server's answers: the providers' default);
    # None: the generator's default (auto for hosted providers, DEFAULT_CONCURRENCY for the others)
    concurrency: Annotated[int, Field(ge=1, le=1024)] | Literal["auto"] | None = None
    requests_per_minute: float | None = Field(None, gt=0)
    tokens_per_minute: float | None = Field(None, gt=0)
    timeout_s: float = Field(120.0, gt=0)
    temperature: float = 0.7
    extra: dict[str, Any] = Field(default_factory=dict)


    @property
    def fixed_concurrency(self) -> int | None:
        """The number of requests in flight asked for, or None (auto, or the generator's default)."""
        return self.concurrency if isinstance(self.concurrency, int) else None


class GenerationRequest(BaseModel):
    """Write `n_examples` examples from `chunk`; `key` = "<chunk id>:<round>" identifies it for resume."""

    key: str
    chunk: Chunk
    round: int = 0
    task_type: TaskType
    language: str = "en"
    n_examples: int = Field(ge=1)
    system_prompt: str | None = None
    source_name: str | None = None
    # evaluation: questions that test a model on the chunk's facts, worded apart from the training examples' (an
    # evaluation's knowledge set); a generator may ignore it where each round words its questions anew anyway
    purpose: Literal["training", "evaluation"] = "training"


class GenerationResult(BaseModel):
    key: str
    drafts: list[ExampleDraft] = Field(default_factory=list)
    error: str | None = None  # the request failed as a whole; stored, never dropped
    raw_text: str | None = None
    usage: dict[str, float] = Field(default_factory=dict)  # requests, tokens, cost_usd...: summed per job


class Generator(ABC):
    """Base class for generator plugins: implement `generate_one`."""

    name: ClassVar[str]
    key_provider: ClassVar[str | None] = None  # the key-store provider whose key it needs (core fills `api_key`)

    def __init__(self, settings: GeneratorSettings | None = None) -> None:
        self.settings = settings or GeneratorSettings()

    @abstractmethod
    async def generate_one(self, request: GenerationRequest) -> GenerationResult:
        """Answer one request; raise only for errors that must stop the whole run."""

    async def generate(
        self, requests: Iterable[GenerationRequest], *, concurrency: int | None = None
    ) -> AsyncIterator[GenerationResult]:
        """Yield results in completion order with at most `concurrency` requests in flight."""
        limit = concurrency or self.settings.fixed_concurrency or DEFAULT_CONCURRENCY
        pending: set[asyncio.Task[GenerationResult]] = set()
        iterator = iter(requests)
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) < limit:
                    request = next(iterator, None)
                    if request is None:
                        exhausted = True
                        break
                    pending.add(asyncio.create_task(self.generate_one(request)))
                if not pending:
                    return
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    yield task.result()
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    def concurrency_report(self) -> dict[str, Any] | None:
        """How the requests in flight were chosen, for the job's summary (`auto`: the level found); None: fixed."""
        return None

    async def aclose(self) -> None:  # noqa: B027 - optional hook, most generators hold nothing
        """Release clients; called once the run ends."""
