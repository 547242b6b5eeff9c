"""The SDK generators (`openai`, `anthropic`, `mistral`) faked at the HTTP boundary with httpx2.MockTransport.

Wire format (endpoint, auth header, body shape, Anthropic's top-level system), parsing and usage,
and the shared error handling through each SDK: 429 and 5xx retried with the SDK's own retries
off, dropped connections and timeouts retried, a refused key and a rejected request stopping
the run with a message that names the provider and never the key.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from finetune_core import Chunk, GenerationError, GenerationRequest, GenerationResult, GeneratorSettings, TaskType
from finetune_core.testing import made_up_text
from finetune_providers._base import ProviderGenerator
from finetune_providers.anthropic_sdk import AnthropicGenerator
from finetune_providers.mistral_sdk import MistralGenerator
from finetune_providers.openai_sdk import OpenAIGenerator
from finetune_providers.openai_style_hosts import FireworksGenerator, TogetherGenerator
from finetune_providers.testing import examples_text

OPENAI_KEY = "sk-proj-TESTKEY0123456789abcdefghij"
ANTHROPIC_KEY = "sk-ant-api03-TESTKEY0123456789abcdefghij"
MISTRAL_KEY = "TESTKEY0123456789abcdefghijABCDE"
PASSAGE = made_up_text(3).strip()
Handler = Callable[[httpx2.Request], httpx2.Response]


def _request(task_type: TaskType = TaskType.QA, n_examples: int = 2) -> GenerationRequest:
    chunk = Chunk(id="chunk-1", project_id="p", source_id="s", chunk_index=0, content=PASSAGE,
                  token_count=len(PASSAGE.split()))
    return GenerationRequest(key="gen:chunk-1:0", chunk=chunk, task_type=task_type, n_examples=n_examples,
                             source_name="note-03.txt")


def _openai_ok(text: str) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}}


def _anthropic_ok(text: str) -> dict[str, Any]:
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 1000, "output_tokens": 500}}


@dataclass(frozen=True)
class Provider:
    generator: type[ProviderGenerator]
    key: str
    url: str
    ok: Callable[[str], dict[str, Any]]
    name: str  # in messages


PROVIDERS = {
    "openai": Provider(OpenAIGenerator, OPENAI_KEY, "https://api.openai.com/v1/chat/completions", _openai_ok,
                       "OpenAI"),
    "anthropic": Provider(AnthropicGenerator, ANTHROPIC_KEY, "https://api.anthropic.com/v1/messages",
                          _anthropic_ok, "Anthropic"),
    "mistral": Provider(MistralGenerator, MISTRAL_KEY, "https://api.mistral.ai/v1/chat/completions", _openai_ok,
                        "Mistral"),
}


class Recorder:
    """A MockTransport handler answering from a script of (status, headers, body) or exceptions."""

    def __init__(self, provider: Provider, script: list[Any] | None = None) -> None:
        self.provider = provider
        self.script = list(script or [])
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        step = self.script.pop(0) if self.script else 200
        if isinstance(step, Exception):
            raise step
        status, headers, body = step if isinstance(step, tuple) else (step, {}, None)
        if status == 200 and body is None:
            body = self.provider.ok(examples_text(PASSAGE, 0, 2))
        return httpx2.Response(status, headers=headers, json=body)

    def body(self, index: int = 0) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.requests[index].content)
        return parsed


def _generator(provider: Provider, recorder: Recorder, **settings: Any) -> ProviderGenerator:
    extra = {"retry_initial_s": 0.001, "retry_max_s": 0.002, **settings.pop("extra", {})}
    return provider.generator(GeneratorSettings(api_key=provider.key, extra=extra, **settings),
                              transport=httpx2.MockTransport(recorder))


def _run(generator: ProviderGenerator, *requests: GenerationRequest) -> list[GenerationResult]:
    async def go() -> list[GenerationResult]:
        try:
            return [await generator.generate_one(request) for request in requests]
        finally:
            await generator.aclose()

    return asyncio.run(go())


# --- wire format --------------------------------------------------------------------------------------------------

def test_openai_wire_format_and_usage() -> None:
    recorder = Recorder(PROVIDERS["openai"])
    (result,) = _run(_generator(PROVIDERS["openai"], recorder), _request())
    (sent,) = recorder.requests
    assert str(sent.url) == "https://api.openai.com/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert sent.headers["x-stainless-retry-count"] == "0"
    body = recorder.body()
    assert body["model"] == "gpt-4o-mini"
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert PASSAGE in body["messages"][1]["content"]
    assert body["response_format"] == {"type": "json_object"}
    assert body["temperature"] == 0.7
    assert "max_completion_tokens" not in body and "stream" not in body
    assert result.error is None and len(result.drafts) == 2
    assert all(not draft.errors and draft.evidence and draft.evidence in PASSAGE for draft in result.drafts)
    assert result.usage == {"requests": 1, "retries": 0, "rate_limited": 0, "input_tokens": 1000,
                            "output_tokens": 500, "cost_usd": pytest.approx((1000 * 0.15 + 500 * 0.60) / 1e6)}


@pytest.mark.parametrize(("generator", "key", "url"), [
    (TogetherGenerator, "tgp_v1_" + "k" * 40, "https://api.together.xyz/v1/chat/completions"),
    (FireworksGenerator, "fw_" + "k" * 24, "https://api.fireworks.ai/inference/v1/chat/completions"),
], ids=["together", "fireworks"])
def test_together_and_fireworks_speak_chat_completions_at_their_own_url(generator: type[ProviderGenerator], key: str,
                                                                        url: str) -> None:
    provider = Provider(generator, key, url, _openai_ok, generator.name)
    recorder = Recorder(provider)
    (result,) = _run(_generator(provider, recorder, model="some/open-model", extra={"max_tokens": 300}), _request())
    (sent,) = recorder.requests
    assert str(sent.url) == url and sent.headers["authorization"] == f"Bearer {key}"
    body = recorder.body()
    assert body["model"] == "some/open-model" and body["max_tokens"] == 300
    assert "max_completion_tokens" not in body and "response_format" not in body  # not every open model takes it
    assert result.error is None and len(result.drafts) == 2
    with pytest.raises(GenerationError, match="needs a model name"):
        generator(GeneratorSettings(api_key=key))


def test_openai_options_max_tokens_json_mode_and_reasoning_models() -> None:
    recorder = Recorder(PROVIDERS["openai"])
    _run(_generator(PROVIDERS["openai"], recorder, model="o4-mini", extra={"max_tokens": 800, "json_mode": False}),
         _request())
    body = recorder.body()
    assert body["model"] == "o4-mini" and body["max_completion_tokens"] == 800
    assert "response_format" not in body and "temperature" not in body  # o-series models refuse a temperature


def test_anthropic_wire_format_puts_the_system_prompt_on_top() -> None:
    recorder = Recorder(PROVIDERS["anthropic"])
    (result,) = _run(_generator(PROVIDERS["anthropic"], recorder), _request())
    (sent,) = recorder.requests
    assert str(sent.url) == "https://api.anthropic.com/v1/messages"
    assert sent.headers["authorization"] == f"Bearer {ANTHROPIC_KEY}"  # anthropic 2.x: a bearer, not x-api-key
    assert sent.headers["anthropic-version"]
    body = recorder.body()
    assert body["model"] == "claude-haiku-4-5"
    assert isinstance(body["system"], str) and body["system"].startswith("You write high-quality training examples")
    assert [m["role"] for m in body["messages"]] == ["user"]
    assert PASSAGE in body["messages"][0]["content"]
    assert body["max_tokens"] == 4096
    assert "temperature" not in body  # the Messages API of anthropic 2.x has none
    assert result.error is None and len(result.drafts) == 2
    assert result.usage["input_tokens"] == 1000 and result.usage["output_tokens"] == 500
    assert result.usage["cost_usd"] == pytest.approx((1000 * 1.00 + 500 * 5.00) / 1e6)


def test_anthropic_sends_a_clamped_temperature_only_when_asked() -> None:
    recorder = Recorder(PROVIDERS["anthropic"])
    _run(_generator(PROVIDERS["anthropic"], recorder, temperature=1.4, model="claude-older-test-model",
                    extra={"send_temperature": True}), _request())
    body = recorder.body()
    assert body["temperature"] == 1.0 and body["model"] == "claude-older-test-model"


def test_mistral_wire_format() -> None:
    recorder = Recorder(PROVIDERS["mistral"])
    (result,) = _run(_generator(PROVIDERS["mistral"], recorder, extra={"max_tokens": 700}), _request())
    (sent,) = recorder.requests
    assert str(sent.url) == "https://api.mistral.ai/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {MISTRAL_KEY}"
    body = recorder.body()
    assert body["model"] == "mistral-small-latest"
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert body["response_format"] == {"type": "json_object"}
    assert body["max_tokens"] == 700 and body["temperature"] == 0.7
    assert result.error is None and len(result.drafts) == 2
    assert result.usage["cost_usd"] == pytest.approx((1000 * 0.10 + 500 * 0.30) / 1e6)


def test_mistral_base_url_override_drops_a_trailing_v1() -> None:
    recorder = Recorder(PROVIDERS["mistral"])
    _run(_generator(PROVIDERS["mistral"], recorder, base_url="https://eu.example.test/v1/"), _request())
    assert str(recorder.requests[0].url) == "https://eu.example.test/v1/chat/completions"


def test_summaries_get_the_user_turn_in_the_passage_language() -> None:
    recorder = Recorder(PROVIDERS["openai"], [(200, {}, _openai_ok(json.dumps(
        {"examples": [{"summary": "Un résumé assez long pour passer.", "evidence": PASSAGE[:40]}]})))])
    request = _request(TaskType.SUMMARIZATION, 1).model_copy(update={"language": "fr"})
    (result,) = _run(_generator(PROVIDERS["openai"], recorder), request)
    (draft,) = result.drafts
    assert draft.messages[0].content.startswith("Résumez le passage suivant.\n\n")


# --- the shared error handling, through each SDK ------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_rate_limits_and_server_errors_are_retried_with_the_sdk_retries_off(name: str) -> None:
    provider = PROVIDERS[name]
    busy = {"error": {"type": "rate_limit_error", "message": "slow down"}}
    recorder = Recorder(provider, [(429, {"retry-after-ms": "5"}, busy), (529 if name == "anthropic" else 503, {},
                                   {"error": {"message": "overloaded"}}), 200])
    (result,) = _run(_generator(provider, recorder), _request())
    assert result.error is None and len(result.drafts) == 2
    assert len(recorder.requests) == 3
    assert (result.usage["requests"], result.usage["retries"], result.usage["rate_limited"]) == (3, 2, 1)


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_a_request_failing_every_attempt_is_returned_as_a_failed_result(name: str) -> None:
    provider = PROVIDERS[name]
    recorder = Recorder(provider, [(500, {}, {"error": {"message": "boom"}})] * 3)
    (result,) = _run(_generator(provider, recorder, extra={"max_retries": 2}), _request())
    assert len(recorder.requests) == 3  # ours: 1 + 2 retries; the SDK added none
    assert result.drafts == [] and result.error is not None
    assert result.error.startswith(f"{provider.name}: HTTP 500 (server error)")
    assert result.error.endswith("(gave up after 3 attempts)")
    assert result.usage["requests"] == 3 and result.usage["retries"] == 2


@pytest.mark.parametrize("name", sorted(PROVIDERS))
@pytest.mark.parametrize("failure", [httpx2.ConnectError("refused"), httpx2.RemoteProtocolError("dropped"),
                                     httpx2.ReadTimeout("slow")], ids=["connect", "dropped", "timeout"])
def test_dropped_connections_and_timeouts_are_retried(name: str, failure: Exception) -> None:
    provider = PROVIDERS[name]
    recorder = Recorder(provider, [failure, failure, 200])
    (result,) = _run(_generator(provider, recorder), _request())
    assert result.error is None and len(result.drafts) == 2
    assert len(recorder.requests) == 3 and result.usage["retries"] == 2


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_a_refused_key_stops_the_run_naming_the_provider_and_not_the_key(name: str) -> None:
    provider = PROVIDERS[name]
    leaky = {"error": {"message": f"Incorrect API key provided: {provider.key}", "type": "authentication_error"}}
    recorder = Recorder(provider, [(401, {}, leaky)])
    generator = _generator(provider, recorder)

    async def go() -> tuple[GenerationError, GenerationError]:
        try:
            with pytest.raises(GenerationError) as first:
                await generator.generate_one(_request())
            with pytest.raises(GenerationError) as second:  # the run is over: nothing more is sent
                await generator.generate_one(_request())
            return first.value, second.value
        finally:
            await generator.aclose()

    first, second = asyncio.run(go())
    assert first.message.startswith(f"the {provider.name} key was refused (401)")
    assert f"{name.upper()}_API_KEY" in first.message and "--api-key" in first.message
    assert provider.key not in first.message and provider.key[-6:] not in first.message
    assert second is first and len(recorder.requests) == 1


@pytest.mark.parametrize("name", sorted(PROVIDERS))
@pytest.mark.parametrize("status", [400, 404, 422])
def test_a_rejected_request_is_not_retried(name: str, status: int) -> None:
    provider = PROVIDERS[name]
    recorder = Recorder(provider, [(status, {}, {"error": {"message": f"model 'nope' is not valid ({provider.key})"}})])
    generator = _generator(provider, recorder)
    with pytest.raises(GenerationError) as caught:
        _run(generator, _request())
    assert caught.value.message.startswith(f"the {provider.name} API rejected the request ({status})")
    assert "model 'nope' is not valid" in caught.value.message
    assert provider.key not in caught.value.message
    assert len(recorder.requests) == 1


def test_an_exhausted_quota_is_not_retried() -> None:
    recorder = Recorder(PROVIDERS["openai"], [(429, {"retry-after": "1"}, {"error": {
        "message": "You exceeded your current quota", "type": "insufficient_quota", "code": "insufficient_quota"}})])
    with pytest.raises(GenerationError, match=r"the OpenAI account has no quota left \(429\)"):
        _run(_generator(PROVIDERS["openai"], recorder), _request())
    assert len(recorder.requests) == 1


def test_unparseable_answers_keep_the_raw_text() -> None:
    garbage = "Sorry, I cannot help with that."
    recorder = Recorder(PROVIDERS["anthropic"], [(200, {}, _anthropic_ok(garbage))])
    (result,) = _run(_generator(PROVIDERS["anthropic"], recorder), _request())
    assert result.error is None and result.raw_text == garbage
    (draft,) = result.drafts
    assert draft.errors == ["json_invalid"] and draft.raw == garbage


# --- openai-compatible against a local server: odd answers ------------------------------------------------------------

def test_openai_compatible_retries_malformed_answers_and_reads_content_parts() -> None:
    from finetune_providers.openai_compatible import OpenAICompatibleGenerator
    from kits.chat_completions import Action, Call, chat_server

    answers = [Action(body=b"<html>gateway hiccup</html>"),
               Action(body={"object": "chat.completion", "choices": []}),
               Action(body={"choices": [{"message": {"role": "assistant", "content": [
                   {"type": "text", "text": examples_text(PASSAGE, 0, 2)}]}, "finish_reason": "stop"}]})]

    def decide(call: Call) -> Action:
        return answers.pop(0)

    with chat_server(decide) as server:
        generator = OpenAICompatibleGenerator(GeneratorSettings(
            base_url=server.url, model="served-model", extra={"retry_initial_s": 0.001}))
        (result,) = _run(generator, _request())
        assert [call.path for call in server.calls] == ["/v1/chat/completions"] * 3
    assert result.error is None and len(result.drafts) == 2
    assert result.usage["requests"] == 3 and result.usage["retries"] == 2
    assert result.usage["input_tokens"] == 0  # the server reported no usage
