"""What an exporter plugin registers: one JSON record per example, streamed."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from finetune_core.domain import Example, TaskType


@dataclass(frozen=True)
class ExportOptions:
    system_prompt: str | None = None
    include_metadata: bool = True  # the source reference, where the format allows extra keys


class Exporter(Protocol):
    """An exporter may also set `task_types` (a frozenset of TaskType): the projects it is for, when not every one
    (the preference formats write ranked pairs only)."""

    name: str
    description: str
    file_extension: str

    def records(self, examples: Iterable[Example], options: ExportOptions) -> Iterator[dict[str, Any]]: ...


def writes_task(exporter: object, task_type: TaskType) -> bool:
    """Whether `exporter` is meant for projects of `task_type` (one without `task_types` is meant for every type)."""
    task_types = getattr(exporter, "task_types", None)
    return task_types is None or task_type in task_types
