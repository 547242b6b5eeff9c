"""The forum (crealia's shapes: camelCase, `pagination` with page/limit/total/pages); text fields HTML-escaped."""

from __future__ import annotations

import html
import math
from datetime import datetime
from typing import Literal

from finetune_core.domain.forum import (
    COMMENT_MAX_CHARS,
    CONTENT_MAX_CHARS,
    SEARCH_MAX_CHARS,
    TITLE_MAX_CHARS,
    TITLE_MIN_CHARS,
    ForumComment,
    ForumTopic,
)
from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

Category = Literal["general", "questions", "tutorials", "showcase", "feedback", "announcements"]
MAX_PAGE = 1_000_000
MAX_LIMIT = 100


def escaped(value: str | None) -> str | None:
    """Text as it may go into HTML: `<`, `>`, `&` and both quotes escaped (stored as written)."""
    return None if value is None else html.escape(value, quote=True)


class CamelOut(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class TopicListArgs(BaseModel):
    category: Category | None = None
    search: str | None = Field(None, max_length=SEARCH_MAX_CHARS,
                               description="words that must all appear in the title or content (full-text)")
    page: int = Field(1, ge=1, le=MAX_PAGE)
    limit: int = Field(20, ge=1, le=MAX_LIMIT)


class TopicCreate(BaseModel):
    title: str = Field(min_length=TITLE_MIN_CHARS, max_length=TITLE_MAX_CHARS)
    content: str = Field(min_length=1, max_length=CONTENT_MAX_CHARS)
    category: Category = "general"


class CommentCreate(BaseModel):
    content: str = Field(min_length=1, max_length=COMMENT_MAX_CHARS)


class TopicModerate(BaseModel):
    """Admins only: either or both flags (camelCase as crealia's fields, or snake_case)."""

    model_config = ConfigDict(populate_by_name=True)

    is_pinned: bool | None = Field(None, validation_alias=AliasChoices("isPinned", "is_pinned", "pinned"))
    is_locked: bool | None = Field(None, validation_alias=AliasChoices("isLocked", "is_locked", "locked"))


class TopicSummaryOut(CamelOut):
    id: str
    title: str
    category: str
    user_id: str
    user_name: str | None
    views: int
    comment_count: int
    is_pinned: bool
    is_locked: bool
    created_at: datetime

    @classmethod
    def of(cls, topic: ForumTopic) -> TopicSummaryOut:
        return cls(id=topic.id, title=escaped(topic.title) or "", category=topic.category, user_id=topic.author_id,
                   user_name=escaped(topic.author_name), views=topic.views, comment_count=topic.comment_count,
                   is_pinned=topic.pinned, is_locked=topic.locked, created_at=topic.created_at)


class TopicOut(TopicSummaryOut):
    content: str
    updated_at: datetime

    @classmethod
    def of(cls, topic: ForumTopic) -> TopicOut:
        summary = TopicSummaryOut.of(topic).model_dump()
        return cls(**summary, content=escaped(topic.content) or "", updated_at=topic.updated_at)


class CommentOut(CamelOut):
    id: str
    content: str
    user_id: str
    user_name: str | None
    created_at: datetime

    @classmethod
    def of(cls, comment: ForumComment) -> CommentOut:
        return cls(id=comment.id, content=escaped(comment.content) or "", user_id=comment.author_id,
                   user_name=escaped(comment.author_name), created_at=comment.created_at)


class PaginationOut(BaseModel):
    page: int
    limit: int
    total: int
    pages: int

    @classmethod
    def of(cls, page: int, limit: int, total: int) -> PaginationOut:
        return cls(page=page, limit=limit, total=total, pages=math.ceil(total / limit))


class TopicListOut(BaseModel):
    topics: list[TopicSummaryOut]
    pagination: PaginationOut


class TopicDetailOut(BaseModel):
    topic: TopicOut
    comments: list[CommentOut] = Field(description="the first 200 comments, oldest first")


class TopicCreatedOut(CamelOut):
    topic_id: str
    title: str
    created_at: datetime


class CommentCreatedOut(CamelOut):
    comment_id: str
    content: str
    created_at: datetime
