"""Chats and their stored messages (foyergpt, dualqueryintelligence, crealia's assistant chat).

A chat is its owner's alone: any other user gets NotFoundError. Its agent may be deleted later; the chat and its
history stay. Answering (calling a model) is services/answering.py; this module stores and reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finetune_core.domain import MAX_MESSAGE_CHARS, Chat, ChatMessage
from finetune_core.errors import InvalidInputError, NotFoundError
from finetune_core.services import agents, attachments, chat_targets, datasets, tenancy

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort
    from finetune_core.storage.unit_of_work import UnitOfWork

EDITABLE = ("title", "agent_id", "model_id", "dataset_id")
UNTITLED = "New chat"
TITLE_CHARS = 60  # a chat with no title is named after its first message


def owned_chat(workspace: WorkspacePort, chat_id: str, owner_id: str | None) -> Chat:
    """The chat if `owner_id` owns it (None: the local user, who sees all); else NotFoundError."""
    with workspace.unit_of_work() as uow:
        try:
            chat = uow.chats.get(chat_id)
        except NotFoundError:
            chat = None
    if chat is None or (owner_id is not None and chat.owner_id != owner_id):
        raise NotFoundError(f"chat '{chat_id}' not found", chat_id=chat_id)
    return chat


def _check_links(workspace: WorkspacePort, owner_id: str | None, values: dict[str, Any]) -> None:
    """The agent must be readable by the owner, the model resolvable, the dataset theirs."""
    if values.get("agent_id"):
        agents.readable_agent(workspace, values["agent_id"], owner_id)
    if values.get("model_id"):
        chat_targets.resolve(workspace, values["model_id"], owner_id)
    if values.get("dataset_id"):
        tenancy.owned_project(workspace, datasets.require_dataset(workspace, values["dataset_id"]).id, owner_id)


def create_chat(workspace: WorkspacePort, owner_id: str | None, *, title: str | None = None,
                agent_id: str | None = None, model_id: str | None = None, dataset_id: str | None = None) -> Chat:
    values = {"agent_id": agent_id, "model_id": model_id, "dataset_id": dataset_id}
    _check_links(workspace, owner_id, values)
    chat = Chat(owner_id=owner_id, title=(title or "").strip() or UNTITLED, **values)
    with workspace.unit_of_work() as uow:
        return uow.chats.add(chat)


def list_chats(workspace: WorkspacePort, owner_id: str | None, *, agent_id: str | None = None, limit: int = 50,
               offset: int = 0) -> tuple[list[Chat], int]:
    with workspace.unit_of_work() as uow:
        return uow.chats.search(owner_id=owner_id, agent_id=agent_id, limit=limit, offset=offset)


def update_chat(workspace: WorkspacePort, chat_id: str, owner_id: str | None, **changes: Any) -> Chat:
    """A partial update: None leaves a field as it is."""
    owned_chat(workspace, chat_id, owner_id)
    values = {key: value for key, value in changes.items() if key in EDITABLE and value is not None}
    _check_links(workspace, owner_id, values)
    with workspace.unit_of_work() as uow:
        chat = uow.chats.get(chat_id)
        for key, value in values.items():
            setattr(chat, key, value)
        return uow.chats.save(chat)


def delete_chat(workspace: WorkspacePort, chat_id: str, owner_id: str | None) -> None:
    """The chat, its messages and its documents."""
    chat = owned_chat(workspace, chat_id, owner_id)
    attachments.delete_documents_of(workspace, chat.owner_id, "chat", chat_id)
    with workspace.unit_of_work() as uow:
        uow.chats.delete(chat_id)


def chat_messages(workspace: WorkspacePort, chat_id: str, owner_id: str | None, *, limit: int | None = None,
                  offset: int = 0) -> tuple[list[ChatMessage], int]:
    owned_chat(workspace, chat_id, owner_id)
    with workspace.unit_of_work() as uow:
        return uow.chats.messages(chat_id, limit=limit, offset=offset)


def owned_message(workspace: WorkspacePort, message_id: str, owner_id: str | None) -> ChatMessage:
    with workspace.unit_of_work() as uow:
        try:
            message = uow.chats.message(message_id)
        except NotFoundError:
            message = None
    try:
        if message is not None:
            owned_chat(workspace, message.chat_id, owner_id)
    except NotFoundError:
        message = None
    if message is None:
        raise NotFoundError(f"message '{message_id}' not found", message_id=message_id)
    return message


def check_content(content: str) -> str:
    """The message text, refused when empty or over MAX_MESSAGE_CHARS."""
    if not content.strip():
        raise InvalidInputError("the message is empty", error_code="EMPTY_MESSAGE")
    if len(content) > MAX_MESSAGE_CHARS:
        raise InvalidInputError(f"a message holds {MAX_MESSAGE_CHARS} characters at most ({len(content)} given)",
                                error_code="MESSAGE_TOO_LONG", limit=MAX_MESSAGE_CHARS, length=len(content))
    return content


def add_message(workspace: WorkspacePort, chat_id: str, owner_id: str | None, *, role: str, content: str,
                **fields: Any) -> ChatMessage:
    """Store one message as given (dualqueryintelligence's body, with its `role`); no model is called."""
    chat = owned_chat(workspace, chat_id, owner_id)
    message = ChatMessage(chat_id=chat.id, role=role, content=check_content(content), **fields)
    with workspace.unit_of_work() as uow:
        stored = uow.chats.add_message(message)
        if role == "user":
            name_after(uow, chat.id, content)
        return stored


def name_after(uow: UnitOfWork, chat_id: str, question: str) -> None:
    """Name an untitled chat after its first question (in the transaction that stores it)."""
    chat = uow.chats.get(chat_id)
    if chat.title == UNTITLED:
        chat.title = question.strip().splitlines()[0][:TITLE_CHARS]
        uow.chats.save(chat)


def rate_message(workspace: WorkspacePort, message_id: str, owner_id: str | None, rating: int) -> ChatMessage:
    """The chat owner's rating of an answer, 1 to 5."""
    message = owned_message(workspace, message_id, owner_id)
    if message.role != "assistant":
        raise InvalidInputError("only an answer (an assistant message) can be rated", error_code="NOT_AN_ANSWER")
    with workspace.unit_of_work() as uow:
        return uow.chats.update_message(message.id, rating=rating)
