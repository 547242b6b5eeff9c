"""Builders for curation tests: examples, a whitespace tokenizer and a validation context."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from finetune_core.curation.base import ValidationContext
from finetune_core.domain import Chunk, Example, Message, ProjectConfig


class WordTokenizer:
    """One token per whitespace-separated word: easy to reason about in tests."""

    name = "words"

    def encode(self, text: str) -> list[int]:
        return [len(word) for word in text.split()]

    def decode(self, ids: Sequence[int]) -> str:
        return " ".join("x" * i for i in ids)

    def count(self, text: str) -> int:
        return len(text.split())


def build_qa(question: str, answer: str, *, system: str | None = None, **fields: Any) -> Example:
    messages = [Message(role="system", content=system)] if system is not None else []
    messages += [Message(role="user", content=question), Message(role="assistant", content=answer)]
    return Example(project_id="p", messages=messages, **fields)


def build_conversation(*turns: tuple[str, str], **fields: Any) -> Example:
    return Example(project_id="p", messages=[Message(role=r, content=c) for r, c in turns], **fields)  # type: ignore[arg-type]


MakeContext = Callable[..., ValidationContext]


@pytest.fixture
def qa() -> Callable[..., Example]:
    """qa(question, answer, system=None, **example_fields) -> Example"""
    return build_qa


@pytest.fixture
def conversation() -> Callable[..., Example]:
    """conversation(("user", "..."), ("assistant", "..."), **example_fields) -> Example"""
    return build_conversation


@pytest.fixture
def make_context() -> MakeContext:
    def make(chunks: Sequence[Chunk] = (), **config: Any) -> ValidationContext:
        return ValidationContext(
            config=ProjectConfig(**config), tokenizer=WordTokenizer(), chunks={c.id: c for c in chunks}
        )

    return make


@pytest.fixture
def context(make_context: MakeContext) -> ValidationContext:
    return make_context()
