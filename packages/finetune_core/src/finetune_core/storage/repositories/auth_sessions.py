"""Sign-in sessions: one per sign-in, holding the current refresh token's id, revoked rather than deleted."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from finetune_core.domain import AuthSession, User, utcnow
from finetune_core.errors import NotFoundError
from finetune_core.storage.repositories.users import user_of
from finetune_core.storage.rows import affected, row_values, to_row_values
from finetune_core.storage.tables import AuthSessionRow, UserRow


def _auth_session(row: AuthSessionRow) -> AuthSession:
    values = row_values(row)
    values.pop("refresh_jti")
    return AuthSession.model_validate(values)


class AuthSessionRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, auth_session: AuthSession, refresh_jti: str) -> AuthSession:
        self.session.add(AuthSessionRow(**to_row_values(auth_session), refresh_jti=refresh_jti))
        self.session.flush()
        return auth_session

    def with_user(self, session_id: str) -> tuple[AuthSession, User] | None:
        """A session and its user in one query (every authenticated request asks), or None."""
        found = self.session.execute(select(AuthSessionRow, UserRow).join(UserRow, UserRow.id == AuthSessionRow.user_id)
                                     .where(AuthSessionRow.id == session_id)).first()
        if found is None:
            return None
        return _auth_session(found[0]), user_of(found[1])

    def get(self, session_id: str) -> AuthSession:
        row = self.session.get(AuthSessionRow, session_id)
        if row is None:
            raise NotFoundError(f"session '{session_id}' not found", session_id=session_id)
        self.session.refresh(row)
        return _auth_session(row)

    def rotate_refresh(self, session_id: str, presented_jti: str, new_jti: str, *, expires_at: datetime) -> bool:
        """Swap the session's refresh token id, only if `presented_jti` is the current one of a live session.

        One UPDATE, so two refreshes racing with the same token cannot both win.
        """
        now = utcnow()
        result = self.session.execute(
            update(AuthSessionRow)
            .where(
                AuthSessionRow.id == session_id,
                AuthSessionRow.refresh_jti == presented_jti,
                AuthSessionRow.revoked_at.is_(None),
                AuthSessionRow.expires_at > now,
            )
            .values(refresh_jti=new_jti, expires_at=expires_at, last_used_at=now)
        )
        return bool(affected(result))

    def revoke(self, session_id: str, reason: str) -> None:
        """Mark the session revoked (kept for audit); a session already revoked keeps its first reason."""
        self.session.execute(
            update(AuthSessionRow)
            .where(AuthSessionRow.id == session_id, AuthSessionRow.revoked_at.is_(None))
            .values(revoked_at=utcnow(), revoked_reason=reason)
        )

    def of_user(self, user_id: str) -> list[AuthSession]:
        """The user's sessions, revoked ones included, oldest first (a GDPR export lists them)."""
        rows = self.session.scalars(select(AuthSessionRow).where(AuthSessionRow.user_id == user_id)
                                    .order_by(AuthSessionRow.created_at, AuthSessionRow.id))
        return [_auth_session(row) for row in rows]

    def revoke_all(self, user_id: str, reason: str) -> None:
        """Revoke every live session of the user at once (each already revoked keeps its first reason)."""
        self.session.execute(
            update(AuthSessionRow)
            .where(AuthSessionRow.user_id == user_id, AuthSessionRow.revoked_at.is_(None))
            .values(revoked_at=utcnow(), revoked_reason=reason)
        )

    def delete_ended(self, before: datetime) -> int:
        """Delete the sessions that expired, or were revoked, before `before`; how many went."""
        result = self.session.execute(
            delete(AuthSessionRow)
            .where(or_(AuthSessionRow.expires_at < before, AuthSessionRow.revoked_at < before))
            .execution_options(synchronize_session=False)
        )
        return affected(result)
