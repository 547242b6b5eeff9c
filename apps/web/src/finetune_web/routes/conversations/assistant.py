"""Crealia's assistant chat (`/api/chat/*`): the caller's chats with their default assistant agent."""

from __future__ import annotations

from typing import Any

from finetune_core.services import agents, answering, chats
from finetune_core.services.model_streams import call_on_thread
from flask.views import MethodView

from finetune_web.current import caller, workspace
from finetune_web.openapi import ApiBlueprint
from finetune_web.routes.conversations.chats import chat_out
from finetune_web.routes.conversations.messages import announce, answer_pool
from finetune_web.schemas.bridge import schema_for
from finetune_web.schemas.conversations import (
    AssistantSessionCreate,
    AssistantSessionCreated,
    AssistantSessionList,
    AssistantSessionMessage,
    AssistantSessionOut,
    AssistantSessionReply,
    CitationOut,
    HistoryArgs,
    HistoryOut,
    MessageOut,
)

blp = ApiBlueprint("assistant_chat", __name__, url_prefix="/api/chat",
                   description="Crealia's assistant chat: the same chats, with the caller's default assistant")

GREETING = "Hello! How can I help you?"
MAX_SESSIONS = 100


@blp.route("/create-session")
class CreateSession(MethodView):
    @blp.arguments(schema_for(AssistantSessionCreate))
    @blp.response(201, schema_for(AssistantSessionCreated))
    def post(self, body: AssistantSessionCreate) -> AssistantSessionCreated:
        """A new chat with the default assistant, opened by its greeting"""
        owner = caller().owner_id
        assistant = agents.default_agent(workspace(), owner)
        chat = chats.create_chat(workspace(), owner, title=body.title or "Assistant", agent_id=assistant.id)
        chats.add_message(workspace(), chat.id, owner, role="assistant", content=GREETING)
        return AssistantSessionCreated(session_id=chat.id, message=GREETING, chat=chat_out(chat))


@blp.route("/message")
class SessionMessages(MethodView):
    @blp.arguments(schema_for(AssistantSessionMessage))
    @blp.response(200, schema_for(AssistantSessionReply))
    def post(self, body: AssistantSessionMessage) -> AssistantSessionReply:
        """Ask the assistant in a session; 503 MODEL_UNAVAILABLE, nothing stored, when its model cannot answer"""
        ws, owner = workspace(), caller().owner_id
        question, answer = call_on_thread(lambda: answering.send_message(ws, body.session_id, owner, body.message),
                                          answer_pool())
        announce([question, answer])
        return AssistantSessionReply(message_id=answer.id, content=answer.content, timestamp=answer.created_at,
                            user_message_id=question.id, sources=[CitationOut.of(c) for c in answer.sources])


@blp.route("/history")
class History(MethodView):
    @blp.arguments(schema_for(HistoryArgs), location="query")
    @blp.response(200, schema_for(HistoryOut))
    def get(self, args: HistoryArgs) -> HistoryOut:
        """A session's messages, oldest first"""
        found, _ = chats.chat_messages(workspace(), args.session_id, caller().owner_id)
        return HistoryOut(session_id=args.session_id, messages=[MessageOut.of(message) for message in found])


@blp.route("/sessions")
class Sessions(MethodView):
    @blp.response(200, schema_for(AssistantSessionList))
    def get(self) -> dict[str, Any]:
        """The caller's sessions with the default assistant, the most recently active first"""
        owner = caller().owner_id
        assistant = agents.default_agent(workspace(), owner)
        found, _ = chats.list_chats(workspace(), owner, agent_id=assistant.id, limit=MAX_SESSIONS)
        sessions = [AssistantSessionOut(
            id=chat.id, title=chat.title, created_at=chat.created_at, updated_at=chat.updated_at,
            message_count=chats.chat_messages(workspace(), chat.id, owner, limit=0)[1], is_active=True)
            for chat in found]
        return {"sessions": sessions}
