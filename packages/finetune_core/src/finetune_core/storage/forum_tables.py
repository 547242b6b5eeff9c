"""The forum's rows (the same Base as tables.py, so the same schema) and its full-text index.

The index is each database's own, made by migration 0008 and outside the metadata: on PostgreSQL a GIN index on
`to_tsvector('simple', title || ' ' || content)`, on SQLite the FTS5 table `forum_topics_fts` (with its shadow
tables) that triggers keep in step with `forum_topics`. `include_name` keeps them out of schema comparisons.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from finetune_core.storage.tables import Base

SQLITE_SEARCH_TABLE = "forum_topics_fts"
POSTGRES_SEARCH_INDEX = "ix_forum_topics_search"
# the expression PostgreSQL's index is built on; a query must repeat it exactly to use the index
POSTGRES_SEARCH_VECTOR = "to_tsvector('simple', title || ' ' || content)"


class ForumTopicRow(Base):
    __tablename__ = "forum_topics"
    __table_args__ = (Index("ix_forum_topics_listing", "pinned", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(40), index=True)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    views: Mapped[int] = mapped_column(Integer, default=0)
    comment_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ForumCommentRow(Base):
    __tablename__ = "forum_comments"
    __table_args__ = (Index("ix_forum_comments_topic_created", "topic_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    topic_id: Mapped[str] = mapped_column(ForeignKey("forum_topics.id", ondelete="CASCADE"))
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's `include_name` filter: False for the search index's objects, which the metadata does not hold."""
    if type_ == "table":
        return not (name or "").startswith(SQLITE_SEARCH_TABLE)
    return name != POSTGRES_SEARCH_INDEX
