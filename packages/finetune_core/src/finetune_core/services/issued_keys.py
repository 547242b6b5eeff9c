"""Issued API keys (dualqueryintelligence's /api/apikeys): a secret that lets an OpenAI client query one model.

The secret, `ftk-` and 32 random bytes, is shown once, when the key is made; only its SHA-256 is stored (a fast
hash is right for a 256-bit random secret) with its first characters (`prefix`) to tell keys apart. A request is
authenticated by that hash, read from the database each time, so a revoked key is refused at once by every server
process. Each key has its own per-minute limit, counted in its row by conditional UPDATEs (services share one
database, so the limit holds across processes), and usage counters (requests, tokens) added in SQL.
Secrets never appear in logs, errors or lists.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING

from finetune_core.domain import IssuedKey, TrainedModel, utcnow
from finetune_core.domain.issued_keys import DEFAULT_RATE_LIMIT_PER_MINUTE
from finetune_core.errors import IssuedKeyRefusedError, NotFoundError, RateLimitedError
from finetune_core.services import fine_tunes, trained_models

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort

SECRET_PREFIX = "ftk-"
PREFIX_CHARS = 12
MAX_SECRET_CHARS = 200  # far longer than any issued secret: anything beyond is refused without hashing


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(workspace: WorkspacePort, owner_id: str | None, *, model_id: str, name: str,
               rate_limit_per_minute: int = DEFAULT_RATE_LIMIT_PER_MINUTE) -> tuple[IssuedKey, str]:
    """A new key to one of the owner's models (NotFoundError otherwise) and its secret, which is never seen again."""
    model = trained_models.owned_model(workspace, model_id, owner_id)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    key = IssuedKey(owner_id=owner_id, model_id=model.id, name=name, prefix=secret[:PREFIX_CHARS],
                    rate_limit_per_minute=rate_limit_per_minute)
    with workspace.unit_of_work() as uow:
        uow.issued_keys.add(key, hash_secret(secret))
    return key, secret


def list_keys(workspace: WorkspacePort, owner_id: str | None, *, limit: int | None = 50, offset: int = 0
              ) -> tuple[list[IssuedKey], int]:
    """The owner's live keys, newest first; never a secret (a revoked key is gone from the list, its usage kept)."""
    with workspace.unit_of_work() as uow:
        return uow.issued_keys.search(owner_id=owner_id, live=True, limit=limit, offset=offset)


def owned_key(workspace: WorkspacePort, key_id: str, owner_id: str | None) -> IssuedKey:
    """The live key if it is `owner_id`'s (None: the local single user, who sees all); else NotFoundError."""
    with workspace.unit_of_work() as uow:
        key = uow.issued_keys.get(key_id)
    if (owner_id is not None and key.owner_id != owner_id) or key.revoked_at is not None:
        raise NotFoundError(f"API key '{key_id}' not found", key_id=key_id)
    return key


def revoke_key(workspace: WorkspacePort, key_id: str, owner_id: str | None) -> None:
    """Revoke the owner's key: refused from the next request on, its usage kept (NotFoundError for another's)."""
    key = owned_key(workspace, key_id, owner_id)
    with workspace.unit_of_work() as uow:
        uow.issued_keys.revoke(key.id, utcnow())


def authenticate(workspace: WorkspacePort, secret: str | None) -> tuple[IssuedKey, TrainedModel]:
    """The live key whose secret this is, and its model; IssuedKeyRefusedError for none, an unknown or revoked one."""
    if not secret or not secret.startswith(SECRET_PREFIX) or len(secret) > MAX_SECRET_CHARS:
        raise IssuedKeyRefusedError("a valid API key is required (Authorization: Bearer ftk-...)")
    with workspace.unit_of_work() as uow:
        key = uow.issued_keys.by_hash(hash_secret(secret))
    if key is None:
        raise IssuedKeyRefusedError("this API key is not valid")
    if key.revoked_at is not None:
        raise IssuedKeyRefusedError(f"the API key {key.prefix}... was revoked")
    try:
        model = fine_tunes.get_model(workspace, key.model_id)
    except NotFoundError:
        raise IssuedKeyRefusedError(f"the model of the API key {key.prefix}... no longer exists") from None
    return key, model


def take_request(workspace: WorkspacePort, key: IssuedKey) -> None:
    """Count one request against the key's per-minute limit; RateLimitedError (with retry_after) over it."""
    now = utcnow()
    minute = now.replace(second=0, microsecond=0)
    with workspace.unit_of_work() as uow:
        allowed = uow.issued_keys.take_request(key.id, minute)
    if not allowed:
        raise RateLimitedError(f"over the {key.rate_limit_per_minute} requests a minute of the API key "
                               f"{key.prefix}...", retry_after=max(1, 60 - now.second), limit=key.rate_limit_per_minute)


def record_usage(workspace: WorkspacePort, key_id: str, *, input_tokens: int = 0, output_tokens: int = 0) -> None:
    """One answered request and its tokens, added to the key's counters in one UPDATE."""
    with workspace.unit_of_work() as uow:
        uow.issued_keys.add_usage(key_id, input_tokens=max(0, input_tokens), output_tokens=max(0, output_tokens),
                                  when=utcnow())


def requests_used(workspace: WorkspacePort, owner_id: str | None) -> int:
    """The requests answered through the owner's keys (`queries_used` of GET /api/auth/me)."""
    with workspace.unit_of_work() as uow:
        return uow.issued_keys.requests_of(owner_id)
