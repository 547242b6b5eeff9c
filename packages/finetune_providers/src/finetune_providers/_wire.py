"""The OpenAI Chat Completions wire format (answers and streamed chunks), and transport failures of httpx and httpx2."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import httpx
import httpx2
from finetune_core.domain import Message

from finetune_providers._base import Completion, Delta
from finetune_providers._retry import TransientError, error_detail, redact


def chat_body(
    model: str,
    messages: list[Message],
    *,
    temperature: float | None,
    max_tokens: int | None = None,
    max_tokens_field: str = "max_tokens",
    json_mode: bool = False,
    stream: bool = False,
) -> dict[str, Any]:
    """A Chat Completions request body; `stream` asks for server-sent chunks, the usage in a last one."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": message.role, "content": message.content} for message in messages],
    }
    if temperature is not None:
        body["temperature"] = temperature
    if max_tokens is not None:
        body[max_tokens_field] = max_tokens
    if json_mode:
        body["response_format"] = {"type": "json_object"}
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) else None


def _text(content: Any) -> str:
    if isinstance(content, list):  # content parts
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


def _usage(data: dict[str, Any]) -> tuple[int | None, int | None]:
    usage = data.get("usage") or {}
    if not isinstance(usage, dict):
        return None, None
    return _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens"))


def parse_chat_response(data: Any) -> Completion:
    """The first choice's text and the usage of a Chat Completions response; malformed -> TransientError."""
    try:
        choice = data["choices"][0]
        content = choice["message"].get("content")
    except (KeyError, IndexError, TypeError, AttributeError):
        raise TransientError("malformed response: no choices[0].message") from None
    input_tokens, output_tokens = _usage(data)
    return Completion(text=_text(content), input_tokens=input_tokens, output_tokens=output_tokens,
                      finish_reason=choice.get("finish_reason") if isinstance(choice, dict) else None)


def parse_chat_chunk(data: Any) -> Delta:
    """Text, finish reason and usage of a streamed Chat Completions chunk; malformed, or an error: TransientError."""
    if not isinstance(data, dict):
        raise TransientError("malformed stream chunk: not a JSON object")
    if data.get("error"):  # vLLM, LiteLLM... report a failure inside the stream
        message, _ = error_detail(data)
        raise TransientError(f"the server reported an error in the stream: {redact(message)[:300]}")
    choices = data.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    delta = choice.get("delta")
    input_tokens, output_tokens = _usage(data)
    return Delta(text=_text(delta.get("content")) if isinstance(delta, dict) else "", input_tokens=input_tokens,
                 output_tokens=output_tokens, finish_reason=choice.get("finish_reason"))


def parse_stream_event(data: str) -> Delta:
    """`parse_chat_chunk` of a server-sent event's JSON data."""
    try:
        chunk = json.loads(data)
    except ValueError:
        raise TransientError("malformed stream event: not JSON") from None
    return parse_chat_chunk(chunk)


async def sse_data(lines: AsyncIterator[str]) -> AsyncGenerator[str, None]:
    """The data of each server-sent event read from `lines` (an event's data lines joined by newlines)."""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value.removeprefix(" "))
    if data:
        yield "\n".join(data)


def transport_failure(exc: BaseException, timeout_s: float) -> TransientError | None:
    """A TransientError for a timeout or a dropped/refused connection of httpx or httpx2; None otherwise."""
    timeouts = (httpx.TimeoutException, httpx2.TimeoutException)
    transports = (httpx.TransportError, httpx2.TransportError)
    if isinstance(exc, timeouts):
        return TransientError(f"no answer within {timeout_s:g} s ({type(exc).__name__})")
    if isinstance(exc, transports):
        return TransientError(f"connection failed ({type(exc).__name__})")
    return None
