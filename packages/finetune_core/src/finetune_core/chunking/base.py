"""What a chunker plugin registers, and the tokenizer it counts with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from finetune_core.domain import Document


@runtime_checkable
class Tokenizer(Protocol):
    """Exact token counts for one vocabulary, offline."""

    name: str

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def count(self, text: str) -> int: ...


@dataclass(frozen=True)
class ChunkSpan:
    """One chunk before storage: Document.text[char_start:char_end] == text."""

    text: str
    char_start: int
    char_end: int
    token_count: int
    page_start: int | None = None
    page_end: int | None = None
    heading: str | None = None


class Chunker(Protocol):
    name: str

    def chunk(
        self, document: Document, *, tokenizer: Tokenizer, size: int, overlap: int
    ) -> list[ChunkSpan]: ...
