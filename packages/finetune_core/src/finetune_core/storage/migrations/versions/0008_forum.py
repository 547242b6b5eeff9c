"""forum: topics, comments, and the full-text search index of each backend

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)

# SQLite: FTS5 holds its own copy of title and content, keyed by the topic id (a rowid-keyed external-content table
# would lose its rows on VACUUM, which may renumber the rowids of a table whose key is a string)
SQLITE_SEARCH = (
    "CREATE VIRTUAL TABLE forum_topics_fts USING fts5("
    "topic_id UNINDEXED, title, content, tokenize = 'unicode61 remove_diacritics 2')",
    "CREATE TRIGGER forum_topics_fts_insert AFTER INSERT ON forum_topics BEGIN "
    "INSERT INTO forum_topics_fts (topic_id, title, content) VALUES (new.id, new.title, new.content); END",
    "CREATE TRIGGER forum_topics_fts_delete AFTER DELETE ON forum_topics BEGIN "
    "DELETE FROM forum_topics_fts WHERE topic_id = old.id; END",
    "CREATE TRIGGER forum_topics_fts_update AFTER UPDATE OF title, content ON forum_topics BEGIN "
    "DELETE FROM forum_topics_fts WHERE topic_id = old.id; "
    "INSERT INTO forum_topics_fts (topic_id, title, content) VALUES (new.id, new.title, new.content); END",
)
POSTGRES_SEARCH = (
    "CREATE INDEX ix_forum_topics_search ON forum_topics "
    "USING gin (to_tsvector('simple', title || ' ' || content))",
)


def upgrade() -> None:
    op.create_table(
        "forum_topics",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("author_id", sa.String(length=36), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.Column("views", sa.Integer(), nullable=False),
        sa.Column("comment_count", sa.Integer(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_forum_topics_author_id", "forum_topics", ["author_id"])
    op.create_index("ix_forum_topics_category", "forum_topics", ["category"])
    op.create_index("ix_forum_topics_listing", "forum_topics", ["pinned", "created_at"])
    op.create_table(
        "forum_comments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("topic_id", sa.String(length=36), nullable=False),
        sa.Column("author_id", sa.String(length=36), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["topic_id"], ["forum_topics.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_forum_comments_author_id", "forum_comments", ["author_id"])
    op.create_index("ix_forum_comments_topic_created", "forum_comments", ["topic_id", "created_at"])
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_SEARCH if dialect == "sqlite" else POSTGRES_SEARCH if dialect == "postgresql" else ():
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("forum_topics_fts_update", "forum_topics_fts_delete", "forum_topics_fts_insert"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS forum_topics_fts")
    op.drop_table("forum_comments")
    op.drop_table("forum_topics")  # PostgreSQL's search index goes with it
