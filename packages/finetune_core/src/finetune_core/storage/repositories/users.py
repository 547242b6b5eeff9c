"""Users: accounts, with their password hash kept out of the domain model."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from finetune_core.domain import User, utcnow
from finetune_core.errors import ConflictError, NotFoundError
from finetune_core.storage.repositories.base import AggregateRepository
from finetune_core.storage.rows import affected, row_values, to_row_values, update_row
from finetune_core.storage.tables import UserRow


def user_of(row: UserRow) -> User:
    values = row_values(row)
    values.pop("password_hash")
    return User.model_validate(values)


class UserRepository(AggregateRepository[User, UserRow]):
    """`get` and the reads leave the password hash out; `add` and `save` take it apart from the user."""

    model, row_type, label, id_name = User, UserRow, "user", "user_id"

    def _model(self, row: UserRow) -> User:
        return user_of(row)

    def add(self, user: User, password_hash: str) -> User:  # type: ignore[override]  # a user has a password
        """Insert `user`; ConflictError when its email or trigramme is taken (a concurrent sign-up included)."""
        self.session.add(UserRow(**to_row_values(user), password_hash=password_hash))
        try:
            self.session.flush()
        except IntegrityError:
            raise ConflictError("this email or trigramme is already registered", error_code="USER_EXISTS") from None
        return user

    def find_by(self, *, email: str | None = None, trigramme: str | None = None) -> User | None:
        """The user with this (normalised) email or trigramme, if any."""
        condition = UserRow.email == email if email is not None else UserRow.trigramme == trigramme
        row = self.session.scalars(select(UserRow).where(condition)).first()
        return user_of(row) if row else None

    def find_id(self, user_id: str) -> User | None:
        row = self.session.get(UserRow, user_id)
        return user_of(row) if row is not None else None

    def password_hash(self, user_id: str) -> str:
        return self._row(user_id).password_hash

    def save(self, user: User, *, password_hash: str | None = None) -> User:
        user.updated_at = utcnow()
        row = self._row(user.id)
        update_row(row, user)
        if password_hash is not None:
            row.password_hash = password_hash
        try:
            self.session.flush()
        except IntegrityError:
            raise ConflictError("this trigramme is already taken", error_code="TRIGRAMME_TAKEN") from None
        return user

    def lock(self, user_id: str) -> None:
        """Hold the user's row for writing until the transaction ends, so that quota checks on what the user owns
        run one at a time (an UPDATE locks on both backends; see ProjectRepository.lock)."""
        result = self.session.execute(update(UserRow).where(UserRow.id == user_id).values(updated_at=utcnow()))
        if not affected(result):
            raise NotFoundError(f"user '{user_id}' not found", user_id=user_id)

    def pending_erasures(self, asked_before: datetime | None = None) -> list[str]:
        """Ids of the users whose GDPR erasure was asked (before `asked_before`, if given) and not finished."""
        query = select(UserRow.id).where(UserRow.deletion_requested_at.is_not(None))
        if asked_before is not None:
            query = query.where(UserRow.deletion_requested_at < asked_before)
        return list(self.session.scalars(query))

    def count(self, *, signed_in_since: datetime | None = None) -> int:
        """How many users there are; with `signed_in_since`, those who signed in since then."""
        query = select(func.count()).select_from(UserRow)
        if signed_in_since is not None:
            query = query.where(UserRow.last_login_at >= signed_in_since)
        return int(self.session.scalar(query) or 0)
