"""Generator.generate: a sliding window that never exceeds its concurrency limit."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import ClassVar

import pytest
from finetune_core.domain import Chunk, TaskType
from finetune_core.generation.base import GenerationRequest, GenerationResult, Generator, GeneratorSettings


class RecordingGenerator(Generator):
    """Sleeps per request and records how many requests were in flight at once."""

    name: ClassVar[str] = "recording"

    def __init__(
        self, settings: GeneratorSettings | None = None, delays: dict[str, float] | None = None
    ) -> None:
        super().__init__(settings)
        self.delays = delays or {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.started: list[str] = []

    async def generate_one(self, request: GenerationRequest) -> GenerationResult:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.started.append(request.key)
        try:
            await asyncio.sleep(self.delays.get(request.key, 0.001 * (len(self.started) % 5)))
            return GenerationResult(key=request.key)
        finally:
            self.in_flight -= 1


def requests(count: int) -> list[GenerationRequest]:
    chunk = Chunk(project_id="p", source_id="s", chunk_index=0, content="text", token_count=1)
    return [
        GenerationRequest(key=f"r{i}", chunk=chunk, task_type=TaskType.QA, n_examples=1) for i in range(count)
    ]


async def run(generator: Generator, items: list[GenerationRequest], concurrency: int | None) -> list[str]:
    return [result.key async for result in generator.generate(items, concurrency=concurrency)]


@pytest.mark.parametrize("limit", [1, 3, 8])
def test_never_more_than_the_limit_in_flight_and_every_result_arrives(limit: int) -> None:
    generator = RecordingGenerator()
    keys = asyncio.run(run(generator, requests(40), limit))
    assert sorted(keys) == sorted(f"r{i}" for i in range(40))
    assert generator.max_in_flight == limit  # reaches the limit, never passes it
    assert generator.in_flight == 0


def test_the_settings_give_the_default_limit() -> None:
    generator = RecordingGenerator(GeneratorSettings.model_validate({"concurrency": 2}))
    keys = asyncio.run(run(generator, requests(10), None))
    assert len(keys) == 10 and generator.max_in_flight == 2


def test_results_come_in_completion_order_and_a_slow_request_does_not_hold_the_others() -> None:
    generator = RecordingGenerator(delays={"r0": 0.2})
    keys = asyncio.run(run(generator, requests(12), 3))
    assert keys[-1] == "r0"
    assert generator.started == [f"r{i}" for i in range(12)]  # the window kept sliding past r0


def test_requests_are_pulled_lazily() -> None:
    pulled: list[int] = []

    def lazy() -> Iterator[GenerationRequest]:
        for index, request in enumerate(requests(20)):
            pulled.append(index)
            yield request

    async def first_two() -> list[str]:
        keys = []
        async for result in RecordingGenerator().generate(lazy(), concurrency=4):
            keys.append(result.key)
            if len(keys) == 2:
                break
        return keys

    assert len(asyncio.run(first_two())) == 2
    assert len(pulled) < 20
