"""The forum (crealia): topics in a category, with comments; admins pin, lock and delete them.

Text is stored as written; the REST adapter escapes HTML when it answers.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from finetune_core.domain.common import new_id, utcnow

FORUM_CATEGORIES = ("general", "questions", "tutorials", "showcase", "feedback", "announcements")
TITLE_MIN_CHARS, TITLE_MAX_CHARS = 3, 200
CONTENT_MAX_CHARS = 20_000
COMMENT_MAX_CHARS = 10_000
SEARCH_MAX_CHARS = 200


class ForumTopic(BaseModel):
    """A topic; `author_name` is read from its author's account (not stored on the topic)."""

    id: str = Field(default_factory=new_id)
    author_id: str
    author_name: str | None = None
    title: str = Field(min_length=TITLE_MIN_CHARS, max_length=TITLE_MAX_CHARS)
    content: str = Field(min_length=1, max_length=CONTENT_MAX_CHARS)
    category: str
    pinned: bool = False
    locked: bool = False
    views: int = 0
    comment_count: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ForumComment(BaseModel):
    id: str = Field(default_factory=new_id)
    topic_id: str
    author_id: str
    author_name: str | None = None
    content: str = Field(min_length=1, max_length=COMMENT_MAX_CHARS)
    created_at: datetime = Field(default_factory=utcnow)
