"""Retries shared by every provider: which failures are worth another try, and how long to wait.

Transient (retried with exponential backoff and jitter, or exactly as long as the server's
`Retry-After` says): 408, 409, 425, 429, every 5xx (Anthropic's 529 "overloaded" included),
timeouts and dropped or refused connections. Fatal (never retried; they raise `GenerationError`
and stop the whole run): a refused key (401, 403), a request the API rejects (400, 404, 422 and
the other 4xx) and an exhausted quota (429 with the code `insufficient_quota`).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from finetune_core.errors import GenerationError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_base

T = TypeVar("T")

RETRYABLE_STATUSES = frozenset({408, 409, 425, 429})
AUTH_STATUSES = frozenset({401, 403})
_FATAL_429_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached"})
_KEY_LIKE = re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_\-*.]{4,}")
MAX_DETAIL_CHARS = 300


class TransientError(Exception):
    """A failure that another attempt may fix; `retry_after` is the server's hint in seconds."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after


def redact(text: str, secret: str | None = None) -> str:
    """`text` with the key, and anything shaped like an API key, masked."""
    if secret:
        text = text.replace(secret, "***")
    return _KEY_LIKE.sub("***", text)


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `Retry-After` given in seconds or as an HTTP date."""
    lowered = {key.lower(): value for key, value in headers.items()}
    milliseconds = lowered.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return max(0.0, float(milliseconds) / 1000.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def error_detail(body: Any) -> tuple[str, str | None]:
    """(message, code) from an error body: OpenAI/Mistral/Anthropic `{"error": {...}}`, Ollama `{"error": "..."}`."""
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, str):
            return error, None
        if isinstance(error, Mapping):
            message = error.get("message") or body.get("message") or body.get("detail") or ""
            code = error.get("code") or error.get("type")
            return (message if isinstance(message, str) else str(message)), (str(code) if code else None)
        detail = body.get("message") or body.get("detail")
        if detail:
            return str(detail), None
        return "", None
    if isinstance(body, str | bytes):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        return text.strip(), None
    return "", None


def status_error(
    provider: str,
    status: int,
    headers: Mapping[str, str],
    body: Any,
    *,
    secret: str | None = None,
    key_hint: str | None = None,
) -> TransientError | GenerationError:
    """The exception an HTTP error status maps to; the message names the provider, never the key."""
    message, code = error_detail(body)
    detail = redact(" ".join(message.split()), secret)[:MAX_DETAIL_CHARS]
    suffix = f": {detail}" if detail else ""
    if status in AUTH_STATUSES:
        # the body of a 401 may quote part of the key: it is left out entirely
        what = "refused" if status == 401 else "refused for this model or endpoint"
        hint = f"; {key_hint}" if key_hint and status == 401 else ""
        return GenerationError(f"the {provider} key was {what} ({status}){hint}", error_code="PROVIDER_AUTH",
                               provider=provider, status=status)
    if status == 429 and code in _FATAL_429_CODES:
        return GenerationError(f"the {provider} account has no quota left ({status}){suffix}",
                               error_code="PROVIDER_QUOTA", provider=provider, status=status)
    if status in RETRYABLE_STATUSES or status >= 500:
        label = "rate limited" if status == 429 else "server error" if status >= 500 else "temporary error"
        return TransientError(f"HTTP {status} ({label}){suffix}", status=status,
                              retry_after=parse_retry_after(headers))
    return GenerationError(f"the {provider} API rejected the request ({status}){suffix}",
                           error_code="PROVIDER_REQUEST_REJECTED", provider=provider, status=status)


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts a request gets, and the backoff between them (seconds)."""

    max_attempts: int = 7
    initial_s: float = 0.5
    max_s: float = 30.0
    max_retry_after_s: float = 120.0
    retry_after_jitter: float = 0.1  # a server-given wait is stretched by up to 10 %, so retries spread

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Exponential with "equal jitter": half the step fixed, half random (attempt 1 = first retry)."""
        step = min(self.max_s, self.initial_s * 2.0 ** max(0, attempt - 1))
        return step / 2 + rng.uniform(0, step / 2)

    def wait_for(self, error: BaseException | None, attempt: int, rng: random.Random) -> float:
        if isinstance(error, TransientError) and error.retry_after is not None:
            hinted = min(error.retry_after, self.max_retry_after_s)
            return hinted * (1.0 + rng.uniform(0, self.retry_after_jitter))
        return self.backoff(attempt, rng)


class _PolicyWait(wait_base):
    def __init__(self, policy: RetryPolicy, rng: random.Random) -> None:
        self.policy = policy
        self.rng = rng

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        return self.policy.wait_for(error, retry_state.attempt_number, self.rng)


async def with_retries(
    attempt: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    on_retry: Callable[[TransientError, float], None] | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    rng: random.Random | None = None,
) -> T:
    """Run `attempt` until it succeeds, raises a non-transient error, or uses up `policy.max_attempts`.

    The last `TransientError` is re-raised when the attempts are used up.
    """

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None and state.outcome is not None:
            error = state.outcome.exception()
            if isinstance(error, TransientError):
                on_retry(error, state.upcoming_sleep)

    options: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.max_attempts),
        wait=_PolicyWait(policy, rng or random.Random()),
        retry=retry_if_exception_type(TransientError),
        before_sleep=before_sleep,
        reraise=True,
        **options,
    )
    result: T = await retrying(attempt)
    return result
