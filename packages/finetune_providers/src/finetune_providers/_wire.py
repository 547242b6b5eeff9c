"""The OpenAI Chat Completions wire format, and transport failures of httpx and httpx2."""

from __future__ import annotations

from typing import Any

import httpx
import httpx2
from finetune_core.domain import Message

from finetune_providers._base import Completion
from finetune_providers._retry import TransientError


def chat_body(
    model: str,
    messages: list[Message],
    *,
    temperature: float | None,
    max_tokens: int | None = None,
    max_tokens_field: str = "max_tokens",
    json_mode: bool = False,
) -> dict[str, Any]:
    """A Chat Completions request body (non-streaming)."""
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
    return body


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) else None


def parse_chat_response(data: Any) -> Completion:
    """The first choice's text and the usage of a Chat Completions response; malformed -> TransientError."""
    try:
        choice = data["choices"][0]
        content = choice["message"].get("content")
    except (KeyError, IndexError, TypeError, AttributeError):
        raise TransientError("malformed response: no choices[0].message") from None
    if isinstance(content, list):  # content parts
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    usage = data.get("usage") or {}
    if not isinstance(usage, dict):
        usage = {}
    return Completion(text=content if isinstance(content, str) else "",
                      input_tokens=_int(usage.get("prompt_tokens")), output_tokens=_int(usage.get("completion_tokens")),
                      finish_reason=choice.get("finish_reason") if isinstance(choice, dict) else None)


def transport_failure(exc: BaseException, timeout_s: float) -> TransientError | None:
    """A TransientError for a timeout or a dropped/refused connection of httpx or httpx2; None otherwise."""
    timeouts = (httpx.TimeoutException, httpx2.TimeoutException)
    transports = (httpx.TransportError, httpx2.TransportError)
    if isinstance(exc, timeouts):
        return TransientError(f"no answer within {timeout_s:g} s ({type(exc).__name__})")
    if isinstance(exc, transports):
        return TransientError(f"connection failed ({type(exc).__name__})")
    return None
