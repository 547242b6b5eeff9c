"""Provider API keys of the caller (openai, anthropic, mistral, together, fireworks, any installed provider)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from finetune_core.domain import ProviderKey
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from finetune_web.pagination import Page
from finetune_web.schemas.bridge import KEYS, plugin_name

ProviderName = Annotated[str, StringConstraints(min_length=1, max_length=64), plugin_name("providers")]


class KeyBody(BaseModel):
    model_config = ConfigDict(json_schema_extra={KEYS: "provider"})  # the key has its provider's shape

    provider: ProviderName = Field(description="an installed provider: GET lists them")
    key: str = Field(min_length=1, max_length=4096, description="the API key; stored encrypted, never shown again")


class KeyCheckBody(BaseModel):
    key: str | None = Field(None, min_length=1, max_length=4096, description="a key to check; absent: the stored one")


class ProviderKeyOut(BaseModel):
    id: str
    user_id: str | None
    provider: str
    key: str = Field(description="masked (sk-…abcd): the key itself is never returned")
    masked: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, key: ProviderKey) -> ProviderKeyOut:
        return cls(id=key.id, user_id=key.owner_id or None, provider=key.provider, key=key.masked, masked=key.masked,
                   created_at=key.created_at, updated_at=key.updated_at)


class ProviderKeyPage(Page[ProviderKeyOut]):
    providers: list[str] = Field(description="the providers whose keys can be stored here (installed plugins)")


class KeyCheck(BaseModel):
    provider: str
    masked: str
    format_ok: bool
    live: Literal["ok", "not_available"] = Field(description="not_available: the provider has no live check")
