"""Chats and their messages: a chat is the aggregate, its messages are read and written through it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update

from finetune_core.domain import utcnow
from finetune_core.domain.conversations import Chat, ChatMessage
from finetune_core.errors import NotFoundError
from finetune_core.storage.repositories.base import AggregateRepository
from finetune_core.storage.rows import page, row_values, to_row_values
from finetune_core.storage.tables import ChatMessageRow, ChatRow


def _message(row: ChatMessageRow) -> ChatMessage:
    return ChatMessage.model_validate(row_values(row))


class ChatRepository(AggregateRepository[Chat, ChatRow]):
    model, row_type, label, id_name = Chat, ChatRow, "chat", "chat_id"

    def search(self, *, owner_id: str | None = None, agent_id: str | None = None, limit: int | None = 50,
               offset: int = 0) -> tuple[list[Chat], int]:
        """The most recently active first."""
        query = select(ChatRow).order_by(ChatRow.updated_at.desc(), ChatRow.id)
        if owner_id is not None:
            query = query.where(ChatRow.owner_id == owner_id)
        if agent_id is not None:
            query = query.where(ChatRow.agent_id == agent_id)
        return self._page(query, limit, offset)

    def delete(self, item_id: str) -> None:
        self._row(item_id)
        self.session.execute(delete(ChatMessageRow).where(ChatMessageRow.chat_id == item_id))
        super().delete(item_id)

    # messages -----------------------------------------------------------------------------------------
    def add_message(self, message: ChatMessage) -> ChatMessage:
        """Store a message and mark its chat active now."""
        self.session.add(ChatMessageRow(**to_row_values(message)))
        self.session.execute(update(ChatRow).where(ChatRow.id == message.chat_id).values(updated_at=utcnow()))
        self.session.flush()
        return message

    def message(self, message_id: str) -> ChatMessage:
        row = self.session.get(ChatMessageRow, message_id)
        if row is None:
            raise NotFoundError(f"message '{message_id}' not found", message_id=message_id)
        return _message(row)

    def messages(self, chat_id: str, *, limit: int | None = None, offset: int = 0) -> tuple[list[ChatMessage], int]:
        """Oldest first."""
        query = (select(ChatMessageRow).where(ChatMessageRow.chat_id == chat_id)
                 .order_by(ChatMessageRow.created_at, ChatMessageRow.id))
        rows, total = page(self.session, query, limit, offset)
        return [_message(row) for row in rows], total

    def last_messages(self, chat_id: str, count: int) -> list[ChatMessage]:
        """The chat's `count` latest messages, oldest first (the history a model is given)."""
        rows = self.session.scalars(select(ChatMessageRow).where(ChatMessageRow.chat_id == chat_id)
                                    .order_by(ChatMessageRow.created_at.desc(), ChatMessageRow.id.desc())
                                    .limit(count))
        return [_message(row) for row in reversed(list(rows))]

    def update_message(self, message_id: str, **values: Any) -> ChatMessage:
        row = self.session.get(ChatMessageRow, message_id)
        if row is None:
            raise NotFoundError(f"message '{message_id}' not found", message_id=message_id)
        for key, value in values.items():
            setattr(row, "metadata_" if key == "metadata" else key, value)
        self.session.flush()
        return _message(row)

    def delete_of(self, owner_id: str) -> None:
        """Delete the owner's chats and their messages (others' chats with the owner's agents stay theirs)."""
        chat_ids = select(ChatRow.id).where(ChatRow.owner_id == owner_id)
        self.session.execute(delete(ChatMessageRow).where(ChatMessageRow.chat_id.in_(chat_ids)))
        self.session.execute(delete(ChatRow).where(ChatRow.owner_id == owner_id))

    def count_active(self, since: datetime) -> int:
        """How many chats had a message (or a change) since `since`."""
        return int(self.session.scalar(select(func.count()).select_from(ChatRow)
                                       .where(ChatRow.updated_at >= since)) or 0)
