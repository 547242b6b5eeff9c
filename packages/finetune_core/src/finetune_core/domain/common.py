"""Ids and timestamps, the same for every domain model."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime


def new_id() -> str:
    """An opaque string id; clients must not parse it."""
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)
