"""Provider tests: no real key from the environment may leak in, and a recording generator for usage."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest
from finetune_core import GenerationRequest, GenerationResult, hookimpl
from finetune_providers.openai_compatible import OpenAICompatibleGenerator

KEY_VARS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "MISTRAL_API_KEY", "OPENAI_COMPATIBLE_API_KEY", "TOGETHER_API_KEY",
            "MISTRAL_DEBUG")


@pytest.fixture(autouse=True)
def _no_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KEY_VARS:
        monkeypatch.delenv(name, raising=False)


class RecordingGenerator(OpenAICompatibleGenerator):
    """The openai-compatible generator, keeping every result it returns (for usage checks)."""

    name: ClassVar[str] = "recording-openai-compatible"
    results: ClassVar[list[GenerationResult]] = []

    async def generate_one(self, request: GenerationRequest) -> GenerationResult:
        result = await super().generate_one(request)
        RecordingGenerator.results.append(result)
        return result


class _Plugin:
    @hookimpl
    def finetune_register_generators(self, register: Callable[[Any], None]) -> None:
        register(RecordingGenerator)


@pytest.fixture
def recording(register_finetune_plugin: Callable[..., str]) -> Iterator[list[GenerationResult]]:
    """Registers `recording-openai-compatible`; yields the list its results are appended to."""
    RecordingGenerator.results = []
    register_finetune_plugin(_Plugin(), name="test-recording-generator")
    yield RecordingGenerator.results
    RecordingGenerator.results = []
