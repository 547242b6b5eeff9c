"""The forum's topics and comments, and its search: FTS5 on SQLite, a tsvector index on PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, String, TextClause, delete, func, select, text, update
from sqlalchemy.orm import Session

from finetune_core.domain import utcnow
from finetune_core.domain.forum import ForumComment, ForumTopic
from finetune_core.errors import NotFoundError
from finetune_core.storage.forum_tables import (
    POSTGRES_SEARCH_VECTOR,
    SQLITE_SEARCH_TABLE,
    ForumCommentRow,
    ForumTopicRow,
)
from finetune_core.storage.rows import page, row_values, to_row_values
from finetune_core.storage.tables import UserRow

_WORD = re.compile(r"\w+")


def search_words(search: str) -> list[str]:
    """The words of a search, as both backends' queries take them (every word must appear)."""
    return _WORD.findall(search.lower())


class ForumRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _topic(self, row: ForumTopicRow, author_name: str | None) -> ForumTopic:
        return ForumTopic.model_validate({**row_values(row), "author_name": author_name})

    def _comment(self, row: ForumCommentRow, author_name: str | None) -> ForumComment:
        return ForumComment.model_validate({**row_values(row), "author_name": author_name})

    def _matches(self, words: list[str]) -> ColumnElement[bool] | TextClause:
        if self.session.get_bind().dialect.name == "postgresql":
            return text(f"{POSTGRES_SEARCH_VECTOR} @@ plainto_tsquery('simple', :forum_search)").bindparams(
                forum_search=" ".join(words))
        # FTS5: each word quoted (no operators from the caller), all of them required
        query = " ".join(f'"{word}"' for word in words)
        matching = text(f"SELECT topic_id FROM {SQLITE_SEARCH_TABLE} WHERE {SQLITE_SEARCH_TABLE} MATCH :forum_search"
                        ).bindparams(forum_search=query).columns(topic_id=String(36))
        return ForumTopicRow.id.in_(matching)

    # topics

    def add_topic(self, topic: ForumTopic) -> ForumTopic:
        self.session.add(ForumTopicRow(**to_row_values(topic, exclude={"author_name"})))
        self.session.flush()
        return topic

    def get_topic(self, topic_id: str) -> ForumTopic:
        found = self.session.execute(
            select(ForumTopicRow, UserRow.name).join(UserRow, UserRow.id == ForumTopicRow.author_id, isouter=True)
            .where(ForumTopicRow.id == topic_id)).first()
        if found is None:
            raise NotFoundError(f"topic '{topic_id}' not found", topic_id=topic_id)
        self.session.refresh(found[0])  # views and comment counts move in other transactions
        return self._topic(found[0], found[1])

    def search_topics(self, *, category: str | None = None, search: str | None = None, limit: int | None = 20,
                      offset: int = 0) -> tuple[list[ForumTopic], int]:
        """Pinned topics first, then the newest; `search` over title and content with the database's index."""
        query = select(ForumTopicRow.id)
        if category is not None:
            query = query.where(ForumTopicRow.category == category)
        if search is not None and search.strip():
            words = search_words(search)
            if not words:
                return [], 0
            query = query.where(self._matches(words))
        query = query.order_by(ForumTopicRow.pinned.desc(), ForumTopicRow.created_at.desc(), ForumTopicRow.id.desc())
        ids, total = page(self.session, query, limit, offset)
        if not ids:
            return [], total
        rows = {row.id: (row, name) for row, name in self.session.execute(
            select(ForumTopicRow, UserRow.name).join(UserRow, UserRow.id == ForumTopicRow.author_id, isouter=True)
            .where(ForumTopicRow.id.in_(ids)))}
        return [self._topic(*rows[topic_id]) for topic_id in ids if topic_id in rows], total

    def count_view(self, topic_id: str) -> None:
        """One more view, counted in the database (no lost updates between concurrent readers)."""
        done = self.session.execute(update(ForumTopicRow).where(ForumTopicRow.id == topic_id)
                                    .values(views=ForumTopicRow.views + 1))
        if getattr(done, "rowcount", 0) == 0:
            raise NotFoundError(f"topic '{topic_id}' not found", topic_id=topic_id)

    def set_flags(self, topic_id: str, **flags: Any) -> None:
        """Set `pinned` and/or `locked`."""
        self.session.execute(update(ForumTopicRow).where(ForumTopicRow.id == topic_id)
                             .values(**flags, updated_at=utcnow()))

    def delete_topic(self, topic_id: str) -> None:
        self.session.execute(delete(ForumTopicRow).where(ForumTopicRow.id == topic_id))  # comments by cascade

    def topics_of(self, author_id: str) -> list[ForumTopic]:
        topics, _ = self._all(select(ForumTopicRow.id).where(ForumTopicRow.author_id == author_id)
                              .order_by(ForumTopicRow.created_at))
        return topics

    def _all(self, query: Any) -> tuple[list[ForumTopic], int]:
        ids = list(self.session.scalars(query))
        rows = {row.id: (row, name) for row, name in self.session.execute(
            select(ForumTopicRow, UserRow.name).join(UserRow, UserRow.id == ForumTopicRow.author_id, isouter=True)
            .where(ForumTopicRow.id.in_(ids)))} if ids else {}
        return [self._topic(*rows[topic_id]) for topic_id in ids], len(ids)

    # comments

    def add_comment(self, comment: ForumComment) -> ForumComment:
        self.session.add(ForumCommentRow(**to_row_values(comment, exclude={"author_name"})))
        self.session.execute(update(ForumTopicRow).where(ForumTopicRow.id == comment.topic_id)
                             .values(comment_count=ForumTopicRow.comment_count + 1))
        self.session.flush()
        return comment

    def comments(self, topic_id: str, *, limit: int | None = None, offset: int = 0) -> list[ForumComment]:
        """The topic's comments, oldest first."""
        query = (select(ForumCommentRow, UserRow.name)
                 .join(UserRow, UserRow.id == ForumCommentRow.author_id, isouter=True)
                 .where(ForumCommentRow.topic_id == topic_id)
                 .order_by(ForumCommentRow.created_at, ForumCommentRow.id).offset(offset))
        if limit is not None:
            query = query.limit(limit)
        return [self._comment(row, name) for row, name in self.session.execute(query)]

    def comments_of(self, author_id: str) -> list[ForumComment]:
        rows = self.session.execute(
            select(ForumCommentRow, UserRow.name).join(UserRow, UserRow.id == ForumCommentRow.author_id)
            .where(ForumCommentRow.author_id == author_id).order_by(ForumCommentRow.created_at))
        return [self._comment(row, name) for row, name in rows]

    def delete_of(self, author_id: str) -> None:
        """A user's comments (the counts of the topics they were on follow) and topics (with all their comments)."""
        counts = self.session.execute(
            select(ForumCommentRow.topic_id, func.count()).where(ForumCommentRow.author_id == author_id)
            .group_by(ForumCommentRow.topic_id)).all()
        for topic_id, count in counts:
            self.session.execute(update(ForumTopicRow).where(ForumTopicRow.id == topic_id)
                                 .values(comment_count=ForumTopicRow.comment_count - count))
        self.session.execute(delete(ForumCommentRow).where(ForumCommentRow.author_id == author_id))
        self.session.execute(delete(ForumTopicRow).where(ForumTopicRow.author_id == author_id))
