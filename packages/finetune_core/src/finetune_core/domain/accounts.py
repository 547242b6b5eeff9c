"""Accounts: users, their sign-in sessions and their provider keys (masked)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from finetune_core.domain.common import new_id, utcnow


class ProviderKey(BaseModel):
    """A provider API key as everyone but the trainer sees it: masked, never the key."""

    id: str = Field(default_factory=new_id)
    owner_id: str | None = None
    provider: str
    masked: str
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class User(BaseModel):
    """An account of the REST app; its password hash stays in storage, like a provider key's ciphertext."""

    id: str = Field(default_factory=new_id)
    email: str = Field(min_length=3, max_length=320)  # stored lower-cased
    name: str | None = Field(None, max_length=200)
    trigramme: str | None = None  # foyergpt's three-letter handle, unique, stored upper-cased
    is_active: bool = True
    is_admin: bool = False
    has_completed_onboarding: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None
    # set by a GDPR erasure: the account is refused from then on, and a rerun or the cleanup finishes the erasure
    deletion_requested_at: datetime | None = None


class AuthSession(BaseModel):
    """One sign-in: the family of the access and refresh tokens issued from it, revoked as a whole.

    The id of its current refresh token stays in storage: a refresh with any other one is a reuse.
    """

    id: str = Field(default_factory=new_id)
    user_id: str
    user_agent: str | None = None
    ip_address: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_reason: str | None = None  # logout, refresh_token_reused...

    def is_active(self, now: datetime | None = None) -> bool:
        return self.revoked_at is None and self.expires_at > (now or utcnow())
