"""Chat models: the contract provider plugins implement for chats, agents, judges and model keys."""

from finetune_core.chat.base import ChatModel, ChatReply, ChatSettings

__all__ = ["ChatModel", "ChatReply", "ChatSettings"]
