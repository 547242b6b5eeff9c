"""Issued keys (dualqueryintelligence's API keys): a secret a user hands to an OpenAI client to query one model."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from finetune_core.domain.common import new_id, utcnow

DEFAULT_RATE_LIMIT_PER_MINUTE = 60


class IssuedKey(BaseModel):
    """One key to one of its owner's models; the secret is shown once and kept only as its SHA-256 (in storage)."""

    id: str = Field(default_factory=new_id)
    owner_id: str | None = None
    model_id: str
    name: str
    prefix: str  # the secret's first characters, to tell keys apart in a list
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    rate_limit_per_minute: int = Field(DEFAULT_RATE_LIMIT_PER_MINUTE, ge=1)
    window_start: datetime | None = None  # the minute whose requests `window_count` counts (the rate limit)
    window_count: int = 0
