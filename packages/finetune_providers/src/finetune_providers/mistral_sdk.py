"""`mistral`: Mistral's chat completions through the official `mistralai` SDK (3.x, on httpx2).

`from mistralai.client import Mistral`, given our pooled httpx2 client as `async_client` and no
`retry_config` (so the SDK does not retry: the shared retries apply) and a silent debug logger
(with `MISTRAL_DEBUG` set, the SDK would otherwise log request headers, the key among them).
JSON mode is on by default for the generator. `base_url` overrides the server
(`https://api.mistral.ai`; a trailing `/v1` is dropped, the SDK adds it). Streams come from
`chat.stream_async`, the usage in the last chunk. The key comes from `api_key` or `MISTRAL_API_KEY`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from finetune_core.domain import Message

from finetune_providers._base import Completion, Delta, ProviderClient, ProviderGenerator
from finetune_providers._keys import MISTRAL_KEY, KeySpec
from finetune_providers._retry import TransientError, status_error
from finetune_providers._sdk import as_transport_failure, httpx2_client

if TYPE_CHECKING:
    import httpx2
    from mistralai.client import Mistral


class _SilentLogger:
    def debug(self, msg: str, *args: Any, **kwargs: Any) -> None:
        return None


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content chunks
        return "".join(str(getattr(part, "text", "") or "") for part in content)
    return ""


def _body(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _delta(chunk: Any) -> Delta:
    choice = chunk.choices[0] if chunk.choices else None
    usage = chunk.usage
    return Delta(text=_text(choice.delta.content) if choice else "",
                 input_tokens=usage.prompt_tokens if usage else None,
                 output_tokens=usage.completion_tokens if usage else None,
                 finish_reason=str(choice.finish_reason) if choice and choice.finish_reason is not None else None)


class MistralClient(ProviderClient):
    """Mistral's chat completions (default model `mistral-small-latest`)."""

    provider: ClassVar[str] = "Mistral"
    key_spec: ClassVar[KeySpec | None] = MISTRAL_KEY
    default_model: ClassVar[str | None] = "mistral-small-latest"
    json_mode_default: ClassVar[bool] = True
    _client: Mistral | None = None
    _http: httpx2.AsyncClient | None = None

    def _sdk(self) -> Mistral:
        if self._client is None:
            from mistralai.client import Mistral

            server_url = self.settings.base_url.rstrip("/") if self.settings.base_url else None
            if server_url and server_url.endswith("/v1"):
                server_url = server_url[: -len("/v1")]
            self._http = httpx2_client(concurrency=self.slot_count, timeout_s=self.settings.timeout_s,
                                       transport=self.transport, on_headers=self.observe_headers)
            self._client = Mistral(api_key=self.api_key, server_url=server_url, async_client=self._http,
                                   timeout_ms=int(self.settings.timeout_s * 1000), debug_logger=_SilentLogger())
        return self._client

    def _request(self, messages: list[Message]) -> dict[str, Any]:
        request = {"model": self.model, "messages": [{"role": message.role, "content": message.content}
                                                     for message in messages], **self._chat_options()}
        if self.options.headers:
            request["http_headers"] = self.options.headers
        return request

    @contextmanager
    def _sdk_errors(self) -> Iterator[None]:
        """The SDK's errors turned into TransientError (retried) or GenerationError, around a call or a stream."""
        from mistralai.client import errors

        try:
            yield
        except errors.ResponseValidationError:
            raise TransientError("malformed response from the Mistral API") from None
        except errors.MistralError as exc:
            raise status_error(self.provider, exc.status_code, exc.headers, _body(exc.body), secret=self.api_key,
                               key_hint=MISTRAL_KEY.fix) from None
        except errors.NoResponseError:
            raise TransientError("no response from the Mistral API") from None
        except Exception as exc:
            raise as_transport_failure(exc, self.settings.timeout_s) from None

    async def _complete(self, messages: list[Message], slot: int) -> Completion:
        with self._sdk_errors():
            response = await self._sdk().chat.complete_async(**self._request(messages))
        if not response.choices:
            raise TransientError("malformed response from the Mistral API: no choices")
        choice = response.choices[0]
        usage = response.usage
        content = choice.message.content if choice.message else None
        return Completion(text=_text(content), input_tokens=usage.prompt_tokens,
                          output_tokens=usage.completion_tokens, finish_reason=str(choice.finish_reason))

    async def _stream(self, messages: list[Message], slot: int) -> AsyncGenerator[Delta, None]:
        with self._sdk_errors():
            stream = await self._sdk().chat.stream_async(**self._request(messages))
            async with stream:
                async for event in stream:
                    yield _delta(event.data)

    async def aclose(self) -> None:
        http, self._http, self._client = self._http, None, None
        if http is not None:
            await http.aclose()


class MistralGenerator(ProviderGenerator):
    """Examples from Mistral models."""

    name: ClassVar[str] = "mistral"
    key_provider: ClassVar[str | None] = "mistral"
    client_class: ClassVar[type[ProviderClient]] = MistralClient
