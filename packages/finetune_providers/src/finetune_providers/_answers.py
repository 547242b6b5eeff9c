"""What a provider's answer is made of: a whole completion, the pieces of a stream, and the totals a stream adds up."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass


@dataclass(frozen=True)
class Completion:
    """One model answer: its text and what the API reported about it."""

    text: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish_reason: str | None = None


@dataclass(frozen=True)
class Delta:
    """A piece of a streamed answer: new text, and whatever the API reported with it."""

    text: str = ""
    input_tokens: int | None = None  # counts are running totals: the last one reported holds
    output_tokens: int | None = None
    finish_reason: str | None = None

    @classmethod
    def whole(cls, completion: Completion) -> Delta:
        """A whole answer as one piece (a server that answered a stream request at once)."""
        return cls(completion.text, completion.input_tokens, completion.output_tokens, completion.finish_reason)


@dataclass
class StreamTotals:
    """What a stream reported so far: its length, and the last token counts."""

    characters: int = 0
    input_tokens: int | None = None
    output_tokens: int | None = None

    def add(self, delta: Delta) -> None:
        self.characters += len(delta.text)
        self.input_tokens = delta.input_tokens if delta.input_tokens is not None else self.input_tokens
        self.output_tokens = delta.output_tokens if delta.output_tokens is not None else self.output_tokens


@dataclass
class OpenStream:
    """A stream whose first text has arrived: its slot and response (`held`), what was read, the rest."""

    held: AsyncExitStack
    head: list[Delta]
    rest: AsyncGenerator[Delta, None]


async def until_text(deltas: AsyncIterator[Delta]) -> list[Delta]:
    head = []
    async for delta in deltas:
        head.append(delta)
        if delta.text:
            break
    return head
