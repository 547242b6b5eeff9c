"""Agents: a system prompt and a model, private to their owner or public."""

from __future__ import annotations

from sqlalchemy import delete, func, or_, select

from finetune_core.domain.conversations import Agent
from finetune_core.storage.repositories.base import AggregateRepository
from finetune_core.storage.tables import AgentRow


class AgentRepository(AggregateRepository[Agent, AgentRow]):
    model, row_type, label, id_name = Agent, AgentRow, "agent", "agent_id"

    def search(self, *, owner_id: str | None = None, public: bool | None = None, visible_to: str | None = None,
               limit: int | None = 50, offset: int = 0) -> tuple[list[Agent], int]:
        """Newest first: those of `owner_id`, the public ones, or those `visible_to` a user (theirs and public)."""
        query = select(AgentRow).order_by(AgentRow.created_at.desc(), AgentRow.id)
        if owner_id is not None:
            query = query.where(AgentRow.owner_id == owner_id)
        if public is not None:
            query = query.where(AgentRow.is_public == public)
        if visible_to is not None:
            query = query.where(or_(AgentRow.owner_id == visible_to, AgentRow.is_public.is_(True)))
        return self._page(query, limit, offset)

    def count_of(self, owner_id: str | None) -> int:
        query = select(func.count()).select_from(AgentRow)
        query = query.where(AgentRow.owner_id.is_(None) if owner_id is None else AgentRow.owner_id == owner_id)
        return int(self.session.scalar(query) or 0)

    def default_of(self, owner_id: str | None) -> Agent | None:
        """The owner's default assistant (crealia's chat), the oldest if a race made two."""
        query = select(AgentRow).where(AgentRow.is_default.is_(True)).order_by(AgentRow.created_at, AgentRow.id)
        query = query.where(AgentRow.owner_id.is_(None) if owner_id is None else AgentRow.owner_id == owner_id)
        row = self.session.scalars(query).first()
        return self._model(row) if row is not None else None

    def delete_of(self, owner_id: str) -> None:
        self.session.execute(delete(AgentRow).where(AgentRow.owner_id == owner_id))
