"""`mistral`: Mistral's chat completions through the official `mistralai` SDK (3.x, on httpx2).

`from mistralai.client import Mistral`, given our pooled httpx2 client as `async_client` and no
`retry_config` (so the SDK does not retry: the shared retries apply) and a silent debug logger
(with `MISTRAL_DEBUG` set, the SDK would otherwise log request headers, the key among them).
JSON mode is on by default. `base_url` overrides the server (`https://api.mistral.ai`; a
trailing `/v1` is dropped, the SDK adds it). The key comes from `api_key` or `MISTRAL_API_KEY`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar

from finetune_core.domain import Message
from finetune_core.generation.base import GenerationRequest, GeneratorSettings

from finetune_providers._base import Completion, ProviderGenerator
from finetune_providers._keys import MISTRAL_KEY, KeySpec
from finetune_providers._retry import TransientError, status_error
from finetune_providers._sdk import httpx2_client
from finetune_providers._wire import transport_failure

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


class MistralGenerator(ProviderGenerator):
    """Mistral models (default `mistral-small-latest`)."""

    name: ClassVar[str] = "mistral"
    provider: ClassVar[str] = "Mistral"
    key_spec: ClassVar[KeySpec | None] = MISTRAL_KEY
    default_model: ClassVar[str | None] = "mistral-small-latest"
    json_mode_default: ClassVar[bool] = True

    def __init__(self, settings: GeneratorSettings | None = None, *, transport: Any | None = None) -> None:
        """`transport`: an `httpx2` transport (e.g. `httpx2.MockTransport`) in tests."""
        super().__init__(settings, transport=transport)
        self._client: Mistral | None = None
        self._http: httpx2.AsyncClient | None = None

    def _sdk(self) -> Mistral:
        if self._client is None:
            from mistralai.client import Mistral

            server_url = self.settings.base_url.rstrip("/") if self.settings.base_url else None
            if server_url and server_url.endswith("/v1"):
                server_url = server_url[: -len("/v1")]
            self._http = httpx2_client(concurrency=self.slot_count, timeout_s=self.settings.timeout_s,
                                       transport=self.transport)
            self._client = Mistral(api_key=self.api_key, server_url=server_url, async_client=self._http,
                                   timeout_ms=int(self.settings.timeout_s * 1000), debug_logger=_SilentLogger())
        return self._client

    async def _complete(self, messages: list[Message], request: GenerationRequest, slot: int) -> Completion:
        from mistralai.client import errors

        client = self._sdk()
        options = self._chat_options()
        if self.options.headers:
            options["http_headers"] = self.options.headers
        wire: Any = [{"role": message.role, "content": message.content} for message in messages]
        try:
            response = await client.chat.complete_async(model=self.model, messages=wire, **options)
        except errors.ResponseValidationError:
            raise TransientError("malformed response from the Mistral API") from None
        except errors.MistralError as exc:
            raise status_error(self.provider, exc.status_code, exc.headers, _body(exc.body), secret=self.api_key,
                               key_hint=MISTRAL_KEY.fix) from None
        except errors.NoResponseError:
            raise TransientError("no response from the Mistral API") from None
        except Exception as exc:
            failure = transport_failure(exc, self.settings.timeout_s)
            if failure is None:
                raise
            raise failure from None
        if not response.choices:
            raise TransientError("malformed response from the Mistral API: no choices")
        choice = response.choices[0]
        usage = response.usage
        content = choice.message.content if choice.message else None
        return Completion(text=_text(content), input_tokens=usage.prompt_tokens,
                          output_tokens=usage.completion_tokens, finish_reason=str(choice.finish_reason))

    async def _close_client(self) -> None:
        http, self._http, self._client = self._http, None, None
        if http is not None:
            await http.aclose()


def _body(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
