"""The HTTP side of the hosted trainers: a pooled `httpx.Client` with bearer auth, retries and mapped errors.

Transient failures (429 honouring `Retry-After`, 5xx, timeouts, dropped connections) are retried
under the providers' `RetryPolicy` (see `finetune_providers._retry`); when the attempts are used
up the last `TransientError` is raised for the caller to decide (the poll loop tolerates a few).
A refused key (401/403) or a rejected request raises `TrainingError` at once, naming the provider,
never the key. `download` fetches a provider's signed URL (a metrics file in object storage) with a
client of its own that carries no key: the bearer key goes to the provider's API only.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx
from finetune_core.errors import GenerationError, TrainingError
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from finetune_providers._retry import RetryPolicy, TransientError, redact, status_error

T = TypeVar("T")
Sleep = Callable[[float], None]
OnRetry = Callable[[TransientError, float], None]


def transport_failure(exc: httpx.HTTPError, timeout_s: float) -> TransientError | None:
    """A TransientError for a timeout or a dropped/refused connection; None for any other failure."""
    if isinstance(exc, httpx.TimeoutException):
        return TransientError(f"no answer within {timeout_s:g} s ({type(exc).__name__})")
    if isinstance(exc, httpx.TransportError):
        return TransientError(f"connection failed ({type(exc).__name__})")
    return None


def training_error(error: GenerationError) -> TrainingError:
    """The same failure, as the error a trainer raises (the fine-tuning ends in `error`)."""
    return TrainingError(error.message, error_code=error.error_code, **error.context)


def with_retries(attempt: Callable[[], T], policy: RetryPolicy, *, sleep: Sleep = time.sleep,
                 on_retry: OnRetry | None = None, rng: random.Random | None = None) -> T:
    """Run `attempt` until it succeeds, raises a non-transient error, or uses up `policy.max_attempts`."""
    chance = rng or random.Random()

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        return policy.wait_for(error, state.attempt_number, chance)

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        if on_retry is not None and isinstance(error, TransientError):
            on_retry(error, state.upcoming_sleep)

    retrying = Retrying(stop=stop_after_attempt(policy.max_attempts), wait=wait, sleep=sleep,
                        retry=retry_if_exception_type(TransientError), before_sleep=before_sleep, reraise=True)
    return retrying(attempt)


class HostedApi:
    """JSON over HTTP to one provider; every method returns the decoded JSON body."""

    def __init__(self, *, label: str, base_url: str, api_key: str | None, policy: RetryPolicy, timeout_s: float,
                 key_hint: str | None = None, sleep: Sleep = time.sleep, on_retry: OnRetry | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.label = label
        self.policy = policy
        self.timeout_s = timeout_s
        self._api_key = api_key
        self._key_hint = key_hint
        self._sleep = sleep
        self._on_retry = on_retry
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=base_url.rstrip("/") + "/", headers=headers, timeout=timeout_s,
                                    transport=transport)

    def __enter__(self) -> HostedApi:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # --- calls ------------------------------------------------------------------------------
    def get(self, path: str, *, params: Mapping[str, Any] | None = None) -> Any:
        return self.retry(lambda: self._send("GET", path, params=params))

    def post(self, path: str, *, json: Any = None, retry: bool = True) -> Any:
        """`retry=False` for a request that must not be sent twice blindly (it creates something)."""
        if not retry:
            return self._send("POST", path, json=json)
        return self.retry(lambda: self._send("POST", path, json=json))

    def upload(self, path: str, file: Path, *, filename: str, fields: Mapping[str, str]) -> Any:
        """A multipart/form-data POST of `file` (field `file`) with the form `fields`."""
        def attempt() -> Any:
            with file.open("rb") as handle:  # opened again for each attempt: a retry sends the whole file
                return self._send("POST", path, data=dict(fields),
                                  files={"file": (filename, handle, "application/jsonl")})

        return self.retry(attempt)

    def download(self, url: str) -> bytes | None:
        """The body at a signed URL the provider handed out (retried like a call); None while it is not there (404).

        Sent without the API key: the URL carries its own signature and may point to another host."""
        if not url.startswith(("https://", "http://")):
            raise TrainingError(f"the {self.label} API gave a download address that is not http(s)",
                                provider=self.label)

        def attempt() -> bytes | None:
            try:
                with httpx.Client(timeout=self.timeout_s) as plain:
                    response = plain.get(url)
            except httpx.HTTPError as exc:
                failure = transport_failure(exc, self.timeout_s)
                if failure is None:
                    raise TrainingError(f"the {self.label} download could not be made ({type(exc).__name__})",
                                        provider=self.label) from None
                raise failure from None
            if response.status_code == 404:
                return None
            if response.status_code in (401, 403):  # not the key: the URL's own signature (expired, say)
                raise TrainingError(f"the {self.label} download address was refused ({response.status_code})",
                                    provider=self.label, status=response.status_code)
            if response.status_code >= 400:
                error = status_error(self.label, response.status_code, response.headers, response.text[:200],
                                     secret=self._api_key)
                if isinstance(error, GenerationError):
                    raise training_error(error) from None
                raise error from None
            return response.content

        return self.retry(attempt)

    def retry(self, attempt: Callable[[], T]) -> T:
        """`attempt` under this API's retry policy."""
        return with_retries(attempt, self.policy, sleep=self._sleep, on_retry=self._on_retry)

    # --- one attempt ------------------------------------------------------------------------
    def _send(self, method: str, path: str, **options: Any) -> Any:
        try:
            response = self._client.request(method, path.lstrip("/"), **options)
        except httpx.HTTPError as exc:
            failure = transport_failure(exc, self.timeout_s)
            if failure is None:
                raise TrainingError(f"the {self.label} API could not be called ({type(exc).__name__})",
                                    provider=self.label) from None
            raise failure from None
        try:
            body: Any = response.json() if response.content else None
        except ValueError:
            body = response.text
        if response.status_code >= 400:
            error = status_error(self.label, response.status_code, response.headers, body, secret=self._api_key,
                                 key_hint=self._key_hint)
            if isinstance(error, GenerationError):
                raise training_error(error) from None
            raise error from None
        if body is not None and not isinstance(body, dict | list):
            snippet = redact(str(body)[:80], self._api_key)
            raise TransientError(f"malformed response (HTTP {response.status_code}, not JSON: {snippet!r})")
        return body
