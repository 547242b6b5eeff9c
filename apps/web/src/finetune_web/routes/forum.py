"""The forum (crealia): topics with category, full-text search and pages; comments; admins pin, lock and delete.

Reading is public; writing needs a sign-in. Text fields come back HTML-escaped.
"""

from __future__ import annotations

from finetune_core.services import forum
from flask.views import MethodView

from finetune_web.auth import public
from finetune_web.current import caller, workspace
from finetune_web.openapi import ApiBlueprint
from finetune_web.schemas.bridge import schema_for
from finetune_web.schemas.forum import (
    CommentCreate,
    CommentCreatedOut,
    CommentOut,
    PaginationOut,
    TopicCreate,
    TopicCreatedOut,
    TopicDetailOut,
    TopicListArgs,
    TopicListOut,
    TopicModerate,
    TopicOut,
    TopicSummaryOut,
    escaped,
)

blp = ApiBlueprint("forum", __name__, url_prefix="/api/forum", description="Forum topics and comments (crealia)")


@blp.route("/topics")
class Topics(MethodView):
    @public
    @blp.arguments(schema_for(TopicListArgs), location="query")
    @blp.response(200, schema_for(TopicListOut))
    def get(self, args: TopicListArgs) -> TopicListOut:
        """Topics, pinned first then the newest; `category`, `search` (full-text over title and content), pages"""
        topics, total = forum.list_topics(workspace(), category=args.category, search=args.search,
                                          limit=args.limit, offset=(args.page - 1) * args.limit)
        return TopicListOut(topics=[TopicSummaryOut.of(topic) for topic in topics],
                            pagination=PaginationOut.of(args.page, args.limit, total))

    @blp.arguments(schema_for(TopicCreate))
    @blp.response(201, schema_for(TopicCreatedOut))
    def post(self, body: TopicCreate) -> TopicCreatedOut:
        """A new topic of the caller (title 3-200 characters, content up to 20,000)"""
        topic = forum.create_topic(workspace(), caller().user.id, title=body.title, content=body.content,
                                   category=body.category)
        return TopicCreatedOut(topic_id=topic.id, title=escaped(topic.title) or "", created_at=topic.created_at)


@blp.route("/topics/<topic_id>")
class Topic(MethodView):
    @public
    @blp.response(200, schema_for(TopicDetailOut))
    def get(self, topic_id: str) -> TopicDetailOut:
        """One topic (its view counted) and its first 200 comments, oldest first"""
        topic, comments = forum.view_topic(workspace(), topic_id)
        return TopicDetailOut(topic=TopicOut.of(topic), comments=[CommentOut.of(comment) for comment in comments])

    @blp.arguments(schema_for(TopicModerate))
    @blp.response(200, schema_for(TopicOut))
    def patch(self, body: TopicModerate, topic_id: str) -> TopicOut:
        """Admins: pin or unpin (`isPinned`), lock or unlock (`isLocked`); 403 for others"""
        return TopicOut.of(forum.moderate_topic(workspace(), topic_id, caller().user.id, pinned=body.is_pinned,
                                                locked=body.is_locked))

    @blp.response(204)
    def delete(self, topic_id: str) -> None:
        """Delete the topic and its comments: its author or an admin; 403 for others"""
        forum.delete_topic(workspace(), topic_id, caller().user.id)


@blp.route("/topics/<topic_id>/comments")
class TopicComments(MethodView):
    @blp.arguments(schema_for(CommentCreate))
    @blp.response(201, schema_for(CommentCreatedOut))
    def post(self, body: CommentCreate, topic_id: str) -> CommentCreatedOut:
        """A comment of the caller; 409 TOPIC_LOCKED on a locked topic"""
        comment = forum.add_comment(workspace(), topic_id, caller().user.id, body.content)
        return CommentCreatedOut(comment_id=comment.id, content=escaped(comment.content) or "",
                                 created_at=comment.created_at)
