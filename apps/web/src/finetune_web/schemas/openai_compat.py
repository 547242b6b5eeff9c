"""The OpenAI-compatible `/v1` bodies (routes/openai_compat.py): the chat completion request as OpenAI's clients
send it (fields this server does not use are ignored), and OpenAI's error body."""

from __future__ import annotations

from typing import Any, Literal

from finetune_core.domain import Message
from pydantic import BaseModel, ConfigDict, Field

MODEL_MAX = 600
MESSAGES_MAX = 500
CONTENT_MAX = 200_000
STOPS_MAX = 4
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["text"]
    text: str = Field(max_length=CONTENT_MAX)


class CompletionMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[ContentPart] | None = Field(None, max_length=CONTENT_MAX)

    def message(self) -> Message:
        text = self.content if isinstance(self.content, str) else "".join(part.text for part in self.content or [])
        return Message(role=ROLES[self.role], content=text)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # OpenAI's clients send fields this server has no use for

    model: str = Field(min_length=1, max_length=MODEL_MAX, description="the key's model: its id or its name")
    messages: list[CompletionMessage] = Field(min_length=1, max_length=MESSAGES_MAX)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    stop: str | list[str] | None = Field(None, description=f"a string or at most {STOPS_MAX} strings")
    n: int | None = Field(None, ge=1, le=1, description="1: one answer a request")

    def stops(self) -> list[str]:
        found = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        if len(found) > STOPS_MAX or any(not stop for stop in found):
            raise ValueError(f"stop: at most {STOPS_MAX} non-empty strings")
        return found


class OpenAIError(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorBody(BaseModel):
    error: OpenAIError


def error_body(message: str, error_type: str, code: str | None) -> dict[str, Any]:
    return OpenAIErrorBody(error=OpenAIError(message=message, type=error_type, code=code)).model_dump()
