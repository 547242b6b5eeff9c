"""Issued keys: their secret's hash kept out of the domain model; counters and the rate window moved in SQL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, or_, select, update

from finetune_core.domain import IssuedKey
from finetune_core.storage.repositories.base import AggregateRepository
from finetune_core.storage.rows import affected, row_values, to_row_values
from finetune_core.storage.tables import IssuedKeyRow


class IssuedKeyRepository(AggregateRepository[IssuedKey, IssuedKeyRow]):
    model, row_type, label, id_name = IssuedKey, IssuedKeyRow, "API key", "key_id"
    fresh_reads = True  # counters and revocation move in other processes

    def _model(self, row: IssuedKeyRow) -> IssuedKey:
        values = row_values(row)
        values.pop("key_hash")
        return IssuedKey.model_validate(values)

    def add(self, key: IssuedKey, key_hash: str) -> IssuedKey:  # type: ignore[override]  # a key has a hash
        self.session.add(IssuedKeyRow(**to_row_values(key), key_hash=key_hash))
        self.session.flush()
        return key

    def by_hash(self, key_hash: str) -> IssuedKey | None:
        row = self.session.scalars(select(IssuedKeyRow).where(IssuedKeyRow.key_hash == key_hash)).first()
        return self._model(row) if row is not None else None

    def search(self, *, owner_id: str | None = None, live: bool = False, limit: int | None = 50, offset: int = 0
               ) -> tuple[list[IssuedKey], int]:
        """Newest first; `owner_id` None: every key (the local single user); `live`: not revoked."""
        query = select(IssuedKeyRow).order_by(IssuedKeyRow.created_at.desc(), IssuedKeyRow.id)
        if live:
            query = query.where(IssuedKeyRow.revoked_at.is_(None))
        if owner_id is not None:
            query = query.where(IssuedKeyRow.owner_id == owner_id)
        return self._page(query, limit, offset)

    def revoke(self, key_id: str, when: datetime) -> None:
        self.session.execute(update(IssuedKeyRow).where(IssuedKeyRow.id == key_id, IssuedKeyRow.revoked_at.is_(None))
                             .values(revoked_at=when))

    def take_request(self, key_id: str, minute: datetime) -> bool:
        """Count one request in `minute` if the key is live and under its limit: two conditional UPDATEs, each
        atomic on any backend, so several server processes on one database never let more through."""
        live = [IssuedKeyRow.id == key_id, IssuedKeyRow.revoked_at.is_(None)]
        opened = self.session.execute(
            update(IssuedKeyRow).where(*live, or_(IssuedKeyRow.window_start.is_(None),
                                                  IssuedKeyRow.window_start < minute))
            .values(window_start=minute, window_count=1))
        if affected(opened):
            return True
        counted = self.session.execute(
            update(IssuedKeyRow).where(*live, IssuedKeyRow.window_start == minute,
                                       IssuedKeyRow.window_count < IssuedKeyRow.rate_limit_per_minute)
            .values(window_count=IssuedKeyRow.window_count + 1))
        return affected(counted) > 0

    def add_usage(self, key_id: str, *, input_tokens: int, output_tokens: int, when: datetime) -> None:
        self.session.execute(update(IssuedKeyRow).where(IssuedKeyRow.id == key_id).values(
            requests=IssuedKeyRow.requests + 1, input_tokens=IssuedKeyRow.input_tokens + input_tokens,
            output_tokens=IssuedKeyRow.output_tokens + output_tokens, last_used_at=when))

    def requests_of(self, owner_id: str | None) -> int:
        """The requests of the owner's keys (None: every key), revoked ones included."""
        query = select(func.coalesce(func.sum(IssuedKeyRow.requests), 0))
        if owner_id is not None:
            query = query.where(IssuedKeyRow.owner_id == owner_id)
        return int(self.session.scalar(query) or 0)

    def revoke_all(self, owner_id: str, when: datetime) -> None:
        """Revoke every live key of the owner."""
        self.session.execute(update(IssuedKeyRow).where(IssuedKeyRow.owner_id == owner_id,
                                                        IssuedKeyRow.revoked_at.is_(None)).values(revoked_at=when))

    def delete_of(self, owner_id: str) -> None:
        self.session.execute(delete(IssuedKeyRow).where(IssuedKeyRow.owner_id == owner_id))
