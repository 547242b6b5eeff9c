"""Provider keys: a user's API keys for the providers, stored encrypted and read back masked."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from finetune_core.domain import ProviderKey, utcnow
from finetune_core.storage.rows import row_values, to_row_values
from finetune_core.storage.tables import ProviderKeyRow


def _provider_key(row: ProviderKeyRow) -> ProviderKey:
    values = row_values(row)
    values.pop("encrypted_key")
    return ProviderKey.model_validate(values)


class ProviderKeyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _row(self, owner_id: str, provider: str) -> ProviderKeyRow | None:
        return self.session.scalars(
            select(ProviderKeyRow).where(ProviderKeyRow.owner_id == owner_id, ProviderKeyRow.provider == provider)
        ).first()

    def put(self, owner_id: str, provider: str, encrypted_key: str, masked: str) -> tuple[ProviderKey, bool]:
        """Insert or replace the key of (owner, provider); True when it was created."""
        row = self._row(owner_id, provider)
        created = row is None
        if row is None:
            key = ProviderKey(owner_id=owner_id, provider=provider, masked=masked)
            row = ProviderKeyRow(**to_row_values(key), encrypted_key=encrypted_key)
            self.session.add(row)
        else:
            row.encrypted_key, row.masked, row.updated_at = encrypted_key, masked, utcnow()
        self.session.flush()
        return _provider_key(row), created

    def encrypted(self, owner_id: str, provider: str) -> str | None:
        row = self._row(owner_id, provider)
        return row.encrypted_key if row else None

    def of_owner(self, owner_id: str) -> list[ProviderKey]:
        rows = self.session.scalars(
            select(ProviderKeyRow).where(ProviderKeyRow.owner_id == owner_id).order_by(ProviderKeyRow.provider)
        )
        return [_provider_key(row) for row in rows]

    def delete(self, owner_id: str, provider: str) -> bool:
        row = self._row(owner_id, provider)
        if row is None:
            return False
        self.session.delete(row)
        self.session.flush()
        return True

    def delete_of(self, owner_id: str) -> None:
        self.session.execute(delete(ProviderKeyRow).where(ProviderKeyRow.owner_id == owner_id))
