"""What a hosted trainer reads from its provider: the job as seen now, and what is new since the last poll.

Plain values, with the small JSON helpers every provider module uses (`items_of`, `id_of`, `number`,
`integer`); the lifecycle that acts on them is `_hosted`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from finetune_core.domain import FineTuneStatus

from finetune_providers._retry import TransientError


@dataclass(frozen=True)
class UploadedFiles:
    """The provider's ids of the uploaded dataset files."""

    train: str
    validation: str | None = None


@dataclass(frozen=True)
class RemoteJob:
    """One look at the provider's job; `status` None: a provider status that changes nothing here."""

    id: str
    raw_status: str
    status: FineTuneStatus | None
    model_id: str | None = None
    error: str | None = None
    total_steps: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    progress: float | None = None  # the provider's own percentage, for providers that give one


@dataclass(frozen=True)
class MetricPoint:
    """Training metrics at one step."""

    step: int
    train_loss: float | None = None
    valid_loss: float | None = None
    total_steps: int | None = None

    def merged(self, later: MetricPoint) -> MetricPoint:
        return MetricPoint(self.step, first(later.train_loss, self.train_loss),
                           first(later.valid_loss, self.valid_loss), first(later.total_steps, self.total_steps))


@dataclass(frozen=True)
class Note:
    """A message of the provider's event log."""

    message: str


@dataclass(frozen=True)
class Checkpoint:
    """An intermediate model the provider saved; `key` tells it from the others."""

    key: str
    data: Mapping[str, Any]


Update = MetricPoint | Note | Checkpoint


@dataclass(frozen=True)
class Updates:
    """What is new since the last poll, oldest first, and the provider's cursor to remember with it."""

    items: list[Update] = field(default_factory=list)
    cursor: dict[str, Any] = field(default_factory=dict)


def first(*values: Any) -> Any:
    return next((value for value in values if value is not None), None)


def items_of(body: Any) -> Iterable[Mapping[str, Any]]:
    """The objects of a list answer (`{"data": [...]}` or a bare list)."""
    data = body.get("data") if isinstance(body, Mapping) else body
    if not isinstance(data, list):
        return []
    return [item for item in data if isinstance(item, Mapping)]


def id_of(body: Any, label: str, what: str) -> str:
    """The `id` of a created object, or a TransientError when the answer has none."""
    identifier = body.get("id") if isinstance(body, Mapping) else None
    if not isinstance(identifier, str) or not identifier:
        raise TransientError(f"malformed {label} answer: the {what} has no id")
    return identifier


def number(value: Any) -> float | None:
    """A JSON number as float; None for anything else (booleans included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def integer(value: Any) -> int | None:
    as_float = number(value)
    return int(as_float) if as_float is not None else None
