"""A chat model reference, resolved: which registered chat model, and the settings it is built with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ChatTarget:
    """A resolved reference: the registered chat model's name and the settings it is built with."""

    registry_name: str
    model: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    base_url: str | None = None
    key_provider: str | None = None  # whose key to call with, when not the chat model's (a deployed fine-tune)

    @property
    def label(self) -> str:
        """How messages record the model that wrote them."""
        return f"{self.registry_name}:{self.model}" if self.model else self.registry_name
