"""`openai-compatible`: any server speaking OpenAI's Chat Completions (Ollama, vLLM, LM Studio, llama.cpp).

No SDK: pooled `httpx2` clients (HTTP/1.1 keep-alive, `concurrency` connections in all), the
least work per request. httpx2 (the httpx fork the SDKs use, same API) rather than httpx:
httpcore 1.0's pool scans every connection on every request and state change, which left 64
requests in flight CPU-bound at about 0.2 of the bound on two cores, where httpx2 reaches about
0.9. httpx2's pool still scans its connections, so they are split over clients of at most
`CONNECTIONS_PER_CLIENT` each, and a request's slot number picks its client: every client then
carries at most that many requests at once (a third less CPU per request at 64 in flight).

The base URL is the API root, as the OpenAI SDK takes it
(`http://localhost:11434/v1` for Ollama, `http://localhost:8000/v1` for vLLM); a bare host gets
`/v1`, and a URL already ending in `/chat/completions` is used as it is.

Streaming (the chat model): `stream: true` with `stream_options: {"include_usage": true}`,
server-sent events read line by line up to `data: [DONE]`, the usage from the last chunk when the
server sends one; a server that answers a stream request with one JSON body is read as a whole.

Settings: `base_url` (required), `model` (required), `api_key` (optional; else the
`OPENAI_COMPATIBLE_API_KEY` environment variable; never `OPENAI_API_KEY`, which must not reach
a server of unknown ownership), `extra["json_mode"]` (send `response_format={"type":
"json_object"}`, off by default since not every server supports it), `extra["max_tokens"]`,
`extra["headers"]`.
"""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx2
from finetune_core.domain import Message
from finetune_core.errors import GenerationError
from finetune_core.generation.base import GeneratorSettings

from finetune_providers._base import Completion, Delta, ProviderClient, ProviderGenerator
from finetune_providers._keys import OPENAI_COMPATIBLE_KEY, KeySpec
from finetune_providers._retry import TransientError, status_error
from finetune_providers._wire import chat_body, parse_chat_response, parse_stream_event, sse_data, transport_failure

CONNECTIONS_PER_CLIENT = 8


def chat_completions_url(base_url: str) -> str:
    """The Chat Completions endpoint under `base_url` (see the module doc)."""
    url = base_url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise GenerationError(f"the base URL must be an http(s) URL such as http://localhost:11434/v1, not {url!r}")
    if url.endswith("/chat/completions"):
        return url
    if parts.path in ("", "/"):
        url += "/v1"
    return url + "/chat/completions"


def _is_event_stream(response: httpx2.Response) -> bool:
    return "text/event-stream" in response.headers.get("content-type", "")


class OpenAICompatibleClient(ProviderClient):
    """Chat Completions over httpx2 against a base URL of your choice."""

    provider: ClassVar[str] = "OpenAI-compatible server"
    key_spec: ClassVar[KeySpec | None] = OPENAI_COMPATIBLE_KEY

    def __init__(self, settings: GeneratorSettings, *, used_by: str, transport: httpx2.AsyncBaseTransport | None = None,
                 stops_all: Callable[[GenerationError], bool] | None = None) -> None:
        super().__init__(settings, used_by=used_by, transport=transport, stops_all=stops_all)
        if not settings.base_url:
            raise GenerationError(f"the {used_by} needs the server's URL: pass --base-url "
                                  "(e.g. http://localhost:11434/v1 for Ollama, http://localhost:8000/v1 for vLLM)")
        self.url = chat_completions_url(settings.base_url)
        self._clients: list[httpx2.AsyncClient] = []

    def _http(self, slot: int) -> httpx2.AsyncClient:
        if not self._clients:
            headers = {"Accept": "application/json", **self.options.headers}
            if self.api_key:
                headers["Authorization"] = f"Bearer {self.api_key}"
            timeout = self.settings.timeout_s
            per_client = min(self.slot_count, CONNECTIONS_PER_CLIENT)
            self._clients = [httpx2.AsyncClient(
                headers=headers,
                timeout=httpx2.Timeout(timeout, connect=min(timeout, 10.0)),
                limits=httpx2.Limits(max_connections=per_client, max_keepalive_connections=per_client,
                                     keepalive_expiry=30.0),
                transport=self.transport,
                follow_redirects=False,
                trust_env=False,  # the user's own server: no proxy from the environment
            ) for _ in range(math.ceil(self.slot_count / per_client))]
        return self._clients[(slot // CONNECTIONS_PER_CLIENT) % len(self._clients)]

    def _body(self, messages: list[Message], *, stream: bool = False) -> dict[str, Any]:
        return chat_body(self.model, messages, temperature=self._temperature(), max_tokens=self._max_tokens(),
                         json_mode=self.json_mode, stream=stream)

    async def _complete(self, messages: list[Message], slot: int) -> Completion:
        try:
            response = await self._http(slot).post(self.url, json=self._body(messages))
        except httpx2.HTTPError as exc:
            raise self._not_sent(exc) from None
        return self._answer(response)

    async def _stream(self, messages: list[Message], slot: int) -> AsyncGenerator[Delta, None]:
        request = self._http(slot).stream("POST", self.url, json=self._body(messages, stream=True),
                                          headers={"Accept": "text/event-stream"})
        try:
            async with request as response:
                if response.status_code >= 400 or not _is_event_stream(response):
                    await response.aread()
                    yield Delta.whole(self._answer(response))
                    return
                done = False
                async with aclosing(sse_data(response.aiter_lines())) as events:
                    async for data in events:  # read to the end after [DONE], so the connection is kept
                        if data.strip() == "[DONE]":
                            done = True
                        elif not done:
                            yield parse_stream_event(data)
        except httpx2.HTTPError as exc:
            raise self._not_sent(exc) from None

    def _answer(self, response: httpx2.Response) -> Completion:
        """The completion in a whole response, or the error its status maps to."""
        content = response.content
        data: Any
        try:
            data = response.json() if content else None
        except ValueError:
            data = content.decode("utf-8", "replace")
        if response.status_code >= 400:
            raise status_error(self.provider, response.status_code, response.headers, data, secret=self.api_key,
                               key_hint=self.key_spec.fix if self.key_spec else None) from None
        if not isinstance(data, dict):
            raise TransientError(f"malformed response (HTTP {response.status_code}, not a JSON object)")
        return parse_chat_response(data)

    def _not_sent(self, exc: httpx2.HTTPError) -> TransientError | GenerationError:
        failure = transport_failure(exc, self.settings.timeout_s)
        return failure or GenerationError(f"the {self.provider} request could not be sent: {type(exc).__name__}")

    async def aclose(self) -> None:
        clients, self._clients = self._clients, []
        for client in clients:
            await client.aclose()


class OpenAICompatibleGenerator(ProviderGenerator):
    """Examples from any Chat Completions server."""

    name: ClassVar[str] = "openai-compatible"
    key_provider: ClassVar[str | None] = "openai-compatible"
    client_class: ClassVar[type[ProviderClient]] = OpenAICompatibleClient
