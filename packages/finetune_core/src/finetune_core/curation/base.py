"""What a validator plugin registers: a check over a project's examples."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from finetune_core.chunking.base import Tokenizer
from finetune_core.domain import Chunk, Example, ProjectConfig


@dataclass(frozen=True)
class ValidationContext:
    config: ProjectConfig
    tokenizer: Tokenizer
    chunks: Mapping[str, Chunk]  # by id: the text an example's evidence must quote


class Validator(Protocol):
    """Yields (example_id, error_code) for each problem found; codes are snake_case."""

    name: str

    def validate(
        self, examples: Sequence[Example], context: ValidationContext
    ) -> Iterable[tuple[str, str]]: ...
