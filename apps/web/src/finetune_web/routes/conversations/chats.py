"""Chats (foyergpt, dualqueryintelligence): the caller's conversations, with an agent, a model or a table."""

from __future__ import annotations

from typing import Any

from finetune_core.domain import Agent, Chat
from finetune_core.errors import NotFoundError
from finetune_core.services import agents, chats
from flask.views import MethodView

from finetune_web.current import caller, workspace
from finetune_web.openapi import ApiBlueprint
from finetune_web.pagination import page
from finetune_web.schemas.bridge import schema_for
from finetune_web.schemas.conversations import (
    ChatCreate,
    ChatDetail,
    ChatListArgs,
    ChatOut,
    ChatPage,
    ChatUpdate,
    MessageOut,
)

blp = ApiBlueprint("chats", __name__, url_prefix="/api/chats",
                   description="Chats (foyergpt, dualqueryintelligence): the caller's conversations")


def _agent(chat: Chat) -> Agent | None:
    if chat.agent_id is None:
        return None
    try:
        return agents.readable_agent(workspace(), chat.agent_id, None)
    except NotFoundError:
        return None  # deleted: the chat keeps its history


def chat_out(chat: Chat) -> ChatOut:
    return ChatOut.of(chat, _agent(chat))


@blp.route("")
class Chats(MethodView):
    @blp.arguments(schema_for(ChatListArgs), location="query")
    @blp.response(200, schema_for(ChatPage))
    def get(self, args: ChatListArgs) -> dict[str, Any]:
        """The caller's chats, the most recently active first (filter: agent_id)"""
        found, total = chats.list_chats(workspace(), caller().owner_id, agent_id=args.agent_id, limit=args.limit,
                                        offset=args.offset)
        items = [chat_out(chat) for chat in found]
        return page(items, total, args, chats=items)

    @blp.arguments(schema_for(ChatCreate))
    @blp.response(201, schema_for(ChatOut))
    def post(self, body: ChatCreate) -> ChatOut:
        """Start a chat, with an agent (the caller's or a public one), a model, a table, or none of them"""
        return chat_out(chats.create_chat(workspace(), caller().owner_id, **body.model_dump()))


@blp.route("/<chat_id>")
class ChatItem(MethodView):
    @blp.response(200, schema_for(ChatDetail))
    def get(self, chat_id: str) -> ChatDetail:
        """One chat with its messages, oldest first"""
        chat = chats.owned_chat(workspace(), chat_id, caller().owner_id)
        messages, _ = chats.chat_messages(workspace(), chat.id, caller().owner_id)
        return ChatDetail(**chat_out(chat).model_dump(), messages=[MessageOut.of(m) for m in messages])

    @blp.arguments(schema_for(ChatUpdate))
    @blp.response(200, schema_for(ChatOut))
    def patch(self, body: ChatUpdate, chat_id: str) -> ChatOut:
        """Rename a chat or change its agent, model or table (PUT does the same)"""
        return chat_out(chats.update_chat(workspace(), chat_id, caller().owner_id,
                                          **body.model_dump(exclude_unset=True)))

    put = patch

    @blp.response(204)
    def delete(self, chat_id: str) -> None:
        """Delete a chat with its messages and documents"""
        chats.delete_chat(workspace(), chat_id, caller().owner_id)
