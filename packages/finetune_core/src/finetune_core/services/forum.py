"""The forum (crealia): topics by category with full-text search, comments, and moderation.

Anyone reads; signed-in users write. A locked topic refuses comments (409 TOPIC_LOCKED). Admins pin, lock and
delete any topic (403 for others); an author may delete their own. Reading a topic counts a view.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from finetune_core.domain.forum import (
    COMMENT_MAX_CHARS,
    CONTENT_MAX_CHARS,
    FORUM_CATEGORIES,
    SEARCH_MAX_CHARS,
    TITLE_MAX_CHARS,
    TITLE_MIN_CHARS,
    ForumComment,
    ForumTopic,
)
from finetune_core.errors import ConflictError, InvalidInputError, PermissionDeniedError

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort

COMMENTS_SHOWN = 200  # comments answered with a topic, oldest first


def _checked(value: str, field: str, low: int, high: int) -> str:
    value = value.strip()
    if not low <= len(value) <= high:
        raise InvalidInputError(f"{field} must have {low} to {high} characters", field=field)
    return value


def _category(category: str) -> str:
    if category not in FORUM_CATEGORIES:
        raise InvalidInputError(f"unknown category '{category}': one of {', '.join(FORUM_CATEGORIES)}",
                                field="category")
    return category


def list_topics(workspace: WorkspacePort, *, category: str | None = None, search: str | None = None,
                limit: int = 20, offset: int = 0) -> tuple[list[ForumTopic], int]:
    """One page of topics (pinned first, then the newest) and how many match."""
    if search is not None and len(search) > SEARCH_MAX_CHARS:
        raise InvalidInputError(f"search has at most {SEARCH_MAX_CHARS} characters", field="search")
    with workspace.unit_of_work() as uow:
        return uow.forum.search_topics(category=None if category is None else _category(category), search=search,
                                       limit=limit, offset=offset)


def create_topic(workspace: WorkspacePort, author_id: str, *, title: str, content: str, category: str
                 ) -> ForumTopic:
    topic = ForumTopic(author_id=author_id, title=_checked(title, "title", TITLE_MIN_CHARS, TITLE_MAX_CHARS),
                       content=_checked(content, "content", 1, CONTENT_MAX_CHARS), category=_category(category))
    with workspace.unit_of_work() as uow:
        uow.users.get(author_id)
        return uow.forum.add_topic(topic)


def view_topic(workspace: WorkspacePort, topic_id: str, *, comments: int = COMMENTS_SHOWN
               ) -> tuple[ForumTopic, list[ForumComment]]:
    """The topic, its view counted (404 for an unknown one), and its first `comments` comments."""
    with workspace.unit_of_work() as uow:
        uow.forum.count_view(topic_id)
        return uow.forum.get_topic(topic_id), uow.forum.comments(topic_id, limit=comments)


def add_comment(workspace: WorkspacePort, topic_id: str, author_id: str, content: str) -> ForumComment:
    """A comment on an open topic: 404 unknown topic, 409 TOPIC_LOCKED for a locked one."""
    content = _checked(content, "content", 1, COMMENT_MAX_CHARS)
    with workspace.unit_of_work() as uow:
        topic = uow.forum.get_topic(topic_id)
        if topic.locked:
            raise ConflictError(f"topic '{topic_id}' is locked: it takes no more comments",
                                error_code="TOPIC_LOCKED", topic_id=topic_id)
        comment = uow.forum.add_comment(ForumComment(topic_id=topic_id, author_id=author_id, content=content))
        comment.author_name = uow.users.get(author_id).name
        return comment


def moderate_topic(workspace: WorkspacePort, topic_id: str, actor_id: str, *, pinned: bool | None = None,
                   locked: bool | None = None) -> ForumTopic:
    """Pin/unpin, lock/unlock: admins only (403 for others, 404 unknown topic)."""
    with workspace.unit_of_work() as uow:
        uow.forum.get_topic(topic_id)
        if not uow.users.get(actor_id).is_admin:
            raise PermissionDeniedError("only an admin pins or locks topics", topic_id=topic_id)
        flags = {name: value for name, value in (("pinned", pinned), ("locked", locked)) if value is not None}
        if flags:
            uow.forum.set_flags(topic_id, **flags)
        return uow.forum.get_topic(topic_id)


def delete_topic(workspace: WorkspacePort, topic_id: str, actor_id: str) -> None:
    """Delete a topic and its comments: its author or an admin (403 for others, 404 unknown topic)."""
    with workspace.unit_of_work() as uow:
        topic = uow.forum.get_topic(topic_id)
        if topic.author_id != actor_id and not uow.users.get(actor_id).is_admin:
            raise PermissionDeniedError("only the topic's author or an admin deletes it", topic_id=topic_id)
        uow.forum.delete_topic(topic_id)
