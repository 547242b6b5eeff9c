"""Issued API keys (dualqueryintelligence's /api/apikeys): the secret once, at creation; a prefix afterwards."""

from __future__ import annotations

from datetime import datetime

from finetune_core.domain import IssuedKey
from pydantic import BaseModel, Field

from finetune_web.pagination import Page
from finetune_web.schemas.common import ID_MAX


class IssuedKeyCreate(BaseModel):
    model_id: str = Field(min_length=1, max_length=ID_MAX, description="one of your models: the one the key queries")
    name: str = Field(min_length=1, max_length=200)


class IssuedKeyOut(BaseModel):
    id: str
    user_id: str | None
    model_id: str
    name: str
    prefix: str = Field(description="the secret's first characters, to tell keys apart (the secret is never shown)")
    created_at: datetime
    last_used_at: datetime | None
    requests: int
    input_tokens: int
    output_tokens: int
    rate_limit_per_minute: int

    @classmethod
    def of(cls, key: IssuedKey) -> IssuedKeyOut:
        return cls(id=key.id, user_id=key.owner_id or None, model_id=key.model_id, name=key.name, prefix=key.prefix,
                   created_at=key.created_at, last_used_at=key.last_used_at, requests=key.requests,
                   input_tokens=key.input_tokens, output_tokens=key.output_tokens,
                   rate_limit_per_minute=key.rate_limit_per_minute)


class IssuedKeyCreated(IssuedKeyOut):
    key: str = Field(description="the secret (Authorization: Bearer <key> on /v1): shown this once, never again")


class IssuedKeyPage(Page[IssuedKeyOut]):
    pass
