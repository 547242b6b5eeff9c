"""Messages (foyergpt, dualqueryintelligence): asked and answered, stored as given, streamed, rated."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import Executor
from typing import Any

from finetune_core.domain import ChatMessage
from finetune_core.services import answering, chats, interaction_learning
from finetune_core.services.model_streams import call_on_thread
from flask import Response
from flask.views import MethodView

from finetune_web import green, realtime
from finetune_web.current import caller, workspace
from finetune_web.openapi import ApiBlueprint
from finetune_web.pagination import ListArgs, page
from finetune_web.schemas.bridge import schema_for
from finetune_web.schemas.conversations import (
    FeedbackBody,
    MessageCreate,
    MessageOut,
    MessagePage,
    MessagePosted,
    StreamArgs,
)
from finetune_web.sse import EVENT_STREAM

blp = ApiBlueprint("messages", __name__, url_prefix="/api/messages",
                   description="Messages (foyergpt, dualqueryintelligence): asked, answered, streamed, rated")

# streamed answers written at once by one server process: mostly waiting on a provider (the embedded model answers
# one at a time); beyond this many, a stream waits for a thread before its first token
ANSWER_THREADS = 64
_answer_pool: Executor | None = None


def answer_pool() -> Executor | None:
    """Native threads for answers under gevent: a model in process (the embedded one) holds the CPU, and in a
    greenlet it would hold every other request of the worker; None: a thread each."""
    global _answer_pool
    if _answer_pool is None and green.patched():
        _answer_pool = green.native_thread_pool(ANSWER_THREADS)
    return _answer_pool


def announce(messages: list[ChatMessage]) -> None:
    realtime.announce(messages)


@blp.route("")
class Messages(MethodView):
    @blp.arguments(schema_for(MessageCreate))
    @blp.response(201, schema_for(MessagePosted))
    def post(self, body: MessageCreate) -> dict[str, Any]:
        """Ask the chat's model (foyergpt: `user_message` and `assistant_message`), or store one message as given
        when the body has a `role` (dualqueryintelligence); 503 MODEL_UNAVAILABLE, nothing stored, when the model
        cannot answer; 422 over 4,000 characters"""
        owner = caller().owner_id
        if body.role is not None:
            charts = body.charts if isinstance(body.charts, list) else [body.charts] if body.charts else []
            stored = chats.add_message(workspace(), body.chat_id, owner, role=body.role, content=body.content,
                                       query_type=body.query_type, charts=charts)
            announce([stored])
            return MessageOut.of(stored).model_dump()
        ws = workspace()
        question, answer = call_on_thread(lambda: answering.send_message(ws, body.chat_id, owner, body.content),
                                          answer_pool())
        announce([question, answer])
        return {"user_message": MessageOut.of(question), "assistant_message": MessageOut.of(answer)}


@blp.route("/chat/<chat_id>")
class ChatMessages(MethodView):
    @blp.arguments(schema_for(ListArgs), location="query")
    @blp.response(200, schema_for(MessagePage))
    def get(self, args: ListArgs, chat_id: str) -> dict[str, Any]:
        """A chat's messages, oldest first"""
        found, total = chats.chat_messages(workspace(), chat_id, caller().owner_id, limit=args.limit,
                                           offset=args.offset)
        items = [MessageOut.of(message) for message in found]
        return page(items, total, args, messages=items)


@blp.route("/stream/<chat_id>")
class MessageStream(MethodView):
    @blp.arguments(schema_for(StreamArgs), location="query")
    @blp.response(200, content_type=EVENT_STREAM, description=(
        'Server-Sent Events `data: {"token", "message_id"}` as the answer is written, then `data: [DONE]`; a '
        'model failing midway sends `data: {"error", "error_code", "message_id"}` before [DONE]'))
    def get(self, args: StreamArgs, chat_id: str) -> Response:
        """Ask and follow the answer as it is written; it is stored once complete, even if the client leaves
        (503 MODEL_UNAVAILABLE, nothing stored, when the model fails before its first word)"""
        stream = answering.stream_message(workspace(), chat_id, caller().owner_id, args.message,
                                          executor=answer_pool(), on_stored=announce)

        def events() -> Iterator[str]:
            for piece in stream.follow():
                yield f"data: {json.dumps({'token': piece, 'message_id': stream.message_id})}\n\n"
            if stream.failure is not None:
                failure = {"error": stream.failure.message, "error_code": stream.failure.error_code,
                           "message_id": stream.message_id}
                yield f"data: {json.dumps(failure)}\n\n"
            yield "data: [DONE]\n\n"

        return Response(events(), mimetype=EVENT_STREAM,
                        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@blp.route("/<message_id>")
class MessageItem(MethodView):
    @blp.response(200, schema_for(MessageOut))
    def get(self, message_id: str) -> MessageOut:
        """One message of the caller's chats"""
        return MessageOut.of(chats.owned_message(workspace(), message_id, caller().owner_id))


@blp.route("/<message_id>/feedback")
class MessageFeedback(MethodView):
    @blp.arguments(schema_for(FeedbackBody))
    @blp.response(200, schema_for(MessageOut))
    def post(self, body: FeedbackBody, message_id: str) -> MessageOut:
        """Rate an answer 1-5; with a learning agent, 4 and 5 make the exchange an example to review"""
        return MessageOut.of(interaction_learning.rate_answer(workspace(), message_id, caller().owner_id,
                                                              body.rating))
