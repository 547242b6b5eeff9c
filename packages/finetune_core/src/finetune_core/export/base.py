"""What an exporter plugin registers: one JSON record per example, streamed."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from finetune_core.domain import Example


@dataclass(frozen=True)
class ExportOptions:
    system_prompt: str | None = None
    include_metadata: bool = True  # the source reference, where the format allows extra keys


class Exporter(Protocol):
    name: str
    description: str
    file_extension: str

    def records(self, examples: Iterable[Example], options: ExportOptions) -> Iterator[dict[str, Any]]: ...
