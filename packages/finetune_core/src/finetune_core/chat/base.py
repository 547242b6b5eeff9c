"""The chat-model plugin contract (`finetune_register_chat_models`): one model, asked or streamed.

A chat model class is registered by name (`openai`, `anthropic`, `openai-compatible`...) and built
with `ChatSettings` (the model name among them). `complete` answers a list of messages at once;
`stream` yields the answer's text as it is produced. Implementations pace and retry as their
provider needs; `concurrency` bounds what one instance sends at a time. The core uses chat
models for the judge (`finetune_core.services.judging`); the chats, agents and issued model keys
of the web app use them too.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from finetune_core.domain import Message


class ChatSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    temperature: float = 0.2
    max_tokens: int | None = Field(None, ge=1)
    timeout_s: float = Field(120.0, gt=0)
    concurrency: int = Field(8, ge=1, le=1024)
    requests_per_minute: float | None = Field(None, gt=0)
    tokens_per_minute: float | None = Field(None, gt=0)
    json_mode: bool = False  # ask for a JSON object where the API can
    extra: dict[str, Any] = Field(default_factory=dict)


class ChatReply(BaseModel):
    text: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish_reason: str | None = None
    usage: dict[str, float] = Field(default_factory=dict)  # requests, retries, tokens, cost_usd...


class ChatModel(ABC):
    """Base class of chat-model plugins: implement `complete`; `stream` defaults to one chunk."""

    name: ClassVar[str]
    key_provider: ClassVar[str | None] = None  # the key-store provider whose key it needs, if any
    # True: the model computes in this process (holds the CPU) and implements `answer_here`, which a caller on a
    # thread of its own prefers to `stream`: an event loop turned by a greenlet (gevent) would not get its turn
    # before the computation ends, and every piece would come at once (services/model_streams)
    computes_here: ClassVar[bool] = False

    def __init__(self, settings: ChatSettings | None = None) -> None:
        self.settings = settings or ChatSettings()

    def answer_here(self, messages: list[Message], on_text: Callable[[str], None] | None = None) -> ChatReply:
        """The answer computed on the calling thread, its pieces handed to `on_text` as they come (where
        `computes_here`)."""
        raise NotImplementedError(f"chat model {self.name!r} does not compute in this process")

    @abstractmethod
    async def complete(self, messages: list[Message]) -> ChatReply:
        """The whole answer; raise GenerationError for what must stop the caller (a refused key...)."""

    async def stream(self, messages: list[Message]) -> AsyncIterator[str]:
        """The answer's text piece by piece, as the model writes it."""
        reply = await self.complete(messages)
        yield reply.text

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release clients."""
