"""Socket.IO events of chats (foyergpt): a stand-in until the Socket.IO server lands; `announce` does nothing yet."""

from __future__ import annotations

from finetune_core.domain import ChatMessage


def announce(messages: list[ChatMessage]) -> None:
    """Tell the chat's room that these messages were stored."""
    del messages
