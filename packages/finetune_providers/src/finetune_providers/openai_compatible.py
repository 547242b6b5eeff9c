"""`openai-compatible`: any server speaking OpenAI's Chat Completions (Ollama, vLLM, LM Studio, llama.cpp).

No SDK: one pooled `aiohttp` session (HTTP/1.1 keep-alive, `concurrency` connections), the least
work per request. aiohttp rather than httpx2 (what the SDK generators run on): at 64 requests in
flight against a local server it spends about 0.4 ms of CPU per request where httpx2 spends 1.45
ms (its connection pool scans every connection on every state change), and on two cores that
CPU is what decides whether 64 requests in flight keep the server busy.

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

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from finetune_core.domain import Message
from finetune_core.errors import GenerationError
from finetune_core.generation.base import GeneratorSettings

from finetune_providers._base import Completion, Delta, ProviderClient, ProviderGenerator
from finetune_providers._keys import OPENAI_COMPATIBLE_KEY, KeySpec
from finetune_providers._retry import TransientError, redact, status_error
from finetune_providers._wire import chat_body, parse_chat_response, parse_stream_event, sse_data

if TYPE_CHECKING:
    import aiohttp


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


async def _lines(response: aiohttp.ClientResponse) -> AsyncIterator[str]:
    """The body's lines, without their line ends (server-sent events)."""
    async for raw in response.content:
        yield raw.decode("utf-8", "replace").rstrip("\r\n")


class OpenAICompatibleClient(ProviderClient):
    """Chat Completions over aiohttp against a base URL of your choice."""

    provider: ClassVar[str] = "OpenAI-compatible server"
    key_spec: ClassVar[KeySpec | None] = OPENAI_COMPATIBLE_KEY
    auto_by_default: ClassVar[bool] = False  # often a local server that queues: a fixed 8 unless auto is asked

    def __init__(self, settings: GeneratorSettings, *, used_by: str, transport: Any | None = None,
                 stops_all: Callable[[GenerationError], bool] | None = None) -> None:
        """No `transport` seam: tests run a real server on 127.0.0.1."""
        if transport is not None:
            raise TypeError("the openai-compatible client takes no transport: point base_url at a local server")
        super().__init__(settings, used_by=used_by, stops_all=stops_all)
        if not settings.base_url:
            raise GenerationError(f"the {used_by} needs the server's URL: pass --base-url "
                                  "(e.g. http://localhost:11434/v1 for Ollama, http://localhost:8000/v1 for vLLM)")
        self.url = chat_completions_url(settings.base_url)
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None

    def _http(self) -> aiohttp.ClientSession:
        """The pooled session, made on first use in the running loop (a session cannot move between loops)."""
        import aiohttp

        loop = asyncio.get_running_loop()
        if self._session is None or self._session_loop is not loop or self._session.closed:
            headers = {"Accept": "application/json", **self.options.headers}
            if self.api_key:
                headers["Authorization"] = f"Bearer {self.api_key}"
            timeout = self.settings.timeout_s
            connector = aiohttp.TCPConnector(limit=self.slot_count, limit_per_host=0, keepalive_timeout=30.0)
            self._session = aiohttp.ClientSession(
                headers=headers, connector=connector, trust_env=False,  # the user's own server: no proxy
                timeout=aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 10.0)),
                json_serialize=json.dumps)
            self._session_loop = loop
        return self._session

    def _body(self, messages: list[Message], *, stream: bool = False) -> dict[str, Any]:
        return chat_body(self.model, messages, temperature=self._temperature(), max_tokens=self._max_tokens(),
                         json_mode=self.json_mode, stream=stream)

    async def _complete(self, messages: list[Message], slot: int) -> Completion:
        import aiohttp

        try:
            async with self._http().post(self.url, json=self._body(messages), allow_redirects=False) as response:
                content = await response.read()
                return self._answer(response.status, response.headers, content)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._not_sent(exc) from None

    async def _stream(self, messages: list[Message], slot: int) -> AsyncGenerator[Delta, None]:
        import aiohttp

        request = self._http().post(self.url, json=self._body(messages, stream=True), allow_redirects=False,
                                    headers={"Accept": "text/event-stream"})
        try:
            async with request as response:
                if response.status >= 400 or response.content_type != "text/event-stream":
                    yield Delta.whole(self._answer(response.status, response.headers, await response.read()))
                    return
                done = False
                async with aclosing(sse_data(_lines(response))) as events:
                    async for data in events:  # read to the end after [DONE], so the connection is kept
                        if data.strip() == "[DONE]":
                            done = True
                        elif not done:
                            yield parse_stream_event(data)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._not_sent(exc) from None

    def _answer(self, status: int, headers: Mapping[str, str], content: bytes) -> Completion:
        """The completion in a whole response, or the error its status maps to."""
        self.observe_headers(headers)
        data: Any
        try:
            data = json.loads(content) if content else None
        except ValueError:
            data = content.decode("utf-8", "replace")
        if status >= 400:
            raise status_error(self.provider, status, headers, data, secret=self.api_key,
                               key_hint=self.key_spec.fix if self.key_spec else None) from None
        if not isinstance(data, dict):  # e.g. a web page: a base URL that is not the API root
            snippet = redact(" ".join(content[:200].decode("utf-8", "replace").split())[:80], self.api_key)
            raise TransientError(f"malformed response (HTTP {status}, not a JSON object: {snippet!r})")
        return parse_chat_response(data)

    def _not_sent(self, exc: BaseException) -> TransientError:
        """Timeouts, refused or dropped connections, broken bodies: all worth another try."""
        if isinstance(exc, TimeoutError):
            return TransientError(f"no answer within {self.settings.timeout_s:g} s")
        return TransientError(f"connection failed ({type(exc).__name__})")

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()


class OpenAICompatibleGenerator(ProviderGenerator):
    """Examples from any Chat Completions server."""

    name: ClassVar[str] = "openai-compatible"
    key_provider: ClassVar[str | None] = "openai-compatible"
    client_class: ClassVar[type[ProviderClient]] = OpenAICompatibleClient
