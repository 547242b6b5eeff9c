"""The chat models, each provider faked at the HTTP boundary: answered at once and streamed; the judge end to end.

openai, anthropic and mistral answer through `httpx2.MockTransport` (a JSON body, or server-sent
events when the request streams); openai-compatible talks to a real server on 127.0.0.1
(kits.chat_completions) that streams when asked. Checked: text, finish reason and usage; deltas in
order; retries before a stream's first text and none after it; a refused key failing fast,
named and never quoted; registration through the plugin; the core judge on `openai-compatible`.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from finetune_core import Workspace
from finetune_core.chat import ChatModel, ChatReply, ChatSettings
from finetune_core.curation.judge import CRITERIA
from finetune_core.domain import Example, Message
from finetune_core.errors import GenerationError
from finetune_core.plugins import registries
from finetune_core.services import judging
from finetune_providers._base import ChatRequestFailed
from finetune_providers.chat_models import (
    AnthropicChatModel,
    LlamaCppChatModel,
    MistralChatModel,
    OpenAIChatModel,
    OpenAICompatibleChatModel,
    ProviderChatModel,
)
from finetune_providers.testing import completion_json
from kits.chat_completions import (
    STREAM_USAGE,
    Action,
    Call,
    chat_server,
    sse_event,
    stream_chunks,
    stream_pieces,
)

ANSWER = "Bread rises because yeast turns the sugars of the flour into gas, which the dough traps."
PIECES = stream_pieces(ANSWER)
MESSAGES = [Message(role="system", content="You answer in one sentence."),
            Message(role="user", content="Why does bread rise?")]
FAST_RETRIES = {"retry_initial_s": 0.001, "retry_max_s": 0.002}
USAGE = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
EVENT_STREAM = {"content-type": "text/event-stream"}


# --- the SDK providers, behind a MockTransport --------------------------------------------------------------------

def _openai_events(text: str) -> list[bytes]:
    return [sse_event(chunk) for chunk in stream_chunks(text, usage=USAGE)] + [sse_event("[DONE]")]


def _anthropic_whole(text: str) -> dict[str, Any]:
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 1000, "output_tokens": 500}}


def _anthropic_events(text: str) -> list[bytes]:
    start = {**_anthropic_whole(""), "content": [], "stop_reason": None, "usage": {"input_tokens": 1000,
                                                                                   "output_tokens": 1}}
    events = [sse_event({"type": "message_start", "message": start}, "message_start"),
              sse_event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                        "content_block_start"),
              sse_event({"type": "ping"}, "ping")]
    events += [sse_event({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
                         "content_block_delta") for piece in stream_pieces(text)]
    end = {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
           "usage": {"output_tokens": 500}}
    return [*events, sse_event({"type": "content_block_stop", "index": 0}, "content_block_stop"),
            sse_event(end, "message_delta"), sse_event({"type": "message_stop"}, "message_stop")]


@dataclass(frozen=True)
class Fake:
    """A hosted provider's chat model, its endpoint and key, and its answers (whole and streamed)."""

    model: type[ProviderChatModel]
    key: str
    url: str
    whole: Callable[[str], dict[str, Any]]
    events: Callable[[str], list[bytes]]
    label: str  # in messages
    finish: str
    text_before_break: int  # pieces of text in a stream cut after its first 4 events


FAKES = {
    "openai": Fake(OpenAIChatModel, "sk-proj-TESTKEY0123456789abcdefghij", "https://api.openai.com/v1/chat/completions",
                   lambda text: completion_json(text, model="gpt-4o-mini", prompt_tokens=1000,
                                                completion_tokens=500), _openai_events, "OpenAI", "stop", 3),
    "anthropic": Fake(AnthropicChatModel, "sk-ant-api03-TESTKEY0123456789abcdefghij",
                      "https://api.anthropic.com/v1/messages", _anthropic_whole, _anthropic_events, "Anthropic",
                      "end_turn", 1),
    "mistral": Fake(MistralChatModel, "TESTKEY0123456789abcdefghijABCDE", "https://api.mistral.ai/v1/chat/completions",
                    lambda text: completion_json(text, model="mistral-small-latest", prompt_tokens=1000,
                                                 completion_tokens=500), _openai_events, "Mistral", "stop", 3),
}
PRICES = {"openai": (0.15, 0.60), "anthropic": (1.00, 5.00), "mistral": (0.10, 0.30)}  # per 1M, the default table


async def _broken(events: list[bytes]) -> AsyncIterator[bytes]:
    for event in events:
        yield event
    raise httpx2.ReadError("connection reset by peer")


class FakeApi(httpx2.MockTransport):
    """Answers from a script: (status, headers, body), "broken" (a stream cut after 4 events), else the answer."""

    def __init__(self, fake: Fake, script: list[Any] | None = None) -> None:
        super().__init__(self.answer)
        self.fake = fake
        self.script = list(script or [])
        self.requests: list[httpx2.Request] = []
        self.closed = False

    def answer(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        step = self.script.pop(0) if self.script else "ok"
        if isinstance(step, tuple):
            status, headers, body = step
            return httpx2.Response(status, headers=headers, json=body)
        if step == "broken":
            return httpx2.Response(200, headers=EVENT_STREAM, content=_broken(self.fake.events(ANSWER)[:4]))
        if self.body().get("stream"):
            return httpx2.Response(200, headers=EVENT_STREAM, content=b"".join(self.fake.events(ANSWER)))
        return httpx2.Response(200, json=self.fake.whole(ANSWER))

    def body(self, index: int = -1) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.requests[index].content)
        return parsed

    async def aclose(self) -> None:
        self.closed = True


def _model(name: str, api: FakeApi, **settings: Any) -> ProviderChatModel:
    extra = {**FAST_RETRIES, **settings.pop("extra", {})}
    return FAKES[name].model(ChatSettings(api_key=FAKES[name].key, extra=extra, **settings), transport=api)


async def _collect(model: ChatModel, received: list[str] | None = None) -> list[str]:
    pieces = received if received is not None else []
    async for piece in model.stream(MESSAGES):
        pieces.append(piece)
    return pieces


def _ask(model: ChatModel, mode: str) -> ChatReply | list[str]:
    """`complete` or `stream` once, then close the model."""
    async def go() -> ChatReply | list[str]:
        try:
            return await model.complete(MESSAGES) if mode == "complete" else await _collect(model)
        finally:
            await model.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("name", sorted(FAKES))
def test_complete_returns_the_text_finish_reason_and_usage(name: str) -> None:
    fake, api = FAKES[name], FakeApi(FAKES[name])
    reply = _ask(_model(name, api), "complete")
    assert isinstance(reply, ChatReply)
    assert (reply.text, reply.input_tokens, reply.output_tokens, reply.finish_reason) == (ANSWER, 1000, 500,
                                                                                          fake.finish)
    price_in, price_out = PRICES[name]
    assert reply.usage == {"requests": 1, "retries": 0, "rate_limited": 0, "input_tokens": 1000, "output_tokens": 500,
                           "cost_usd": pytest.approx((1000 * price_in + 500 * price_out) / 1e6)}
    (sent,) = api.requests
    assert str(sent.url) == fake.url and sent.headers["authorization"] == f"Bearer {fake.key}"
    body = api.body()
    assert "response_format" not in body and not body.get("stream")  # no JSON mode unless asked for
    if name == "anthropic":
        assert body["system"] == MESSAGES[0].content and [m["role"] for m in body["messages"]] == ["user"]
    else:
        assert body["temperature"] == 0.2 and [m["role"] for m in body["messages"]] == ["system", "user"]


@pytest.mark.parametrize(("name", "cap_field"), [("openai", "max_completion_tokens"), ("mistral", "max_tokens"),
                                                 ("anthropic", "max_tokens")])
def test_json_mode_max_tokens_and_the_model_are_sent(name: str, cap_field: str) -> None:
    api = FakeApi(FAKES[name])
    _ask(_model(name, api, model="chosen-model", json_mode=True, max_tokens=64, temperature=0.0), "complete")
    body = api.body()
    assert body["model"] == "chosen-model" and body[cap_field] == 64
    if name != "anthropic":  # the Messages API has no JSON mode
        assert body["response_format"] == {"type": "json_object"} and body["temperature"] == 0.0


@pytest.mark.parametrize("name", sorted(FAKES))
def test_a_stream_yields_the_deltas_in_order(name: str) -> None:
    api = FakeApi(FAKES[name])
    model = _model(name, api)
    assert _ask(model, "stream") == PIECES
    body = api.body()
    assert body["stream"] is True
    if name == "openai":
        assert body["stream_options"] == {"include_usage": True}
    totals = model.totals  # type: ignore[attr-defined]
    assert (totals.requests, totals.input_tokens, totals.output_tokens) == (1, 1000, 500)
    assert api.closed  # aclose closed the HTTP client


@pytest.mark.parametrize("mode", ["complete", "stream"])
@pytest.mark.parametrize("name", sorted(FAKES))
def test_rate_limits_are_retried_before_the_first_text(name: str, mode: str) -> None:
    busy = {"error": {"type": "rate_limit_error", "message": "slow down"}}
    api = FakeApi(FAKES[name], [(429, {"retry-after-ms": "5"}, busy), (503, {}, {"error": {"message": "busy"}})])
    model = _model(name, api)
    answer = _ask(model, mode)
    assert (answer.text if isinstance(answer, ChatReply) else "".join(answer)) == ANSWER
    assert len(api.requests) == 3
    totals = model.totals  # type: ignore[attr-defined]
    assert (totals.requests, totals.retries, totals.rate_limited) == (3, 2, 1)


@pytest.mark.parametrize("name", sorted(FAKES))
def test_a_stream_broken_after_its_first_text_raises_and_is_not_retried(name: str) -> None:
    api = FakeApi(FAKES[name], ["broken"])
    model = _model(name, api)
    received: list[str] = []

    async def go() -> None:
        try:
            await _collect(model, received)
        finally:
            await model.aclose()

    with pytest.raises(ChatRequestFailed) as caught:
        asyncio.run(go())
    text_before_break = FAKES[name].text_before_break
    assert received == PIECES[:text_before_break] and len(api.requests) == 1
    assert caught.value.message.startswith(f"{FAKES[name].label}: the answer broke off after "
                                           f"{len(''.join(received))} characters (connection failed")


@pytest.mark.parametrize("mode", ["complete", "stream"])
@pytest.mark.parametrize("name", sorted(FAKES))
def test_a_refused_key_fails_fast_naming_the_provider_and_stops_later_calls(name: str, mode: str) -> None:
    fake = FAKES[name]
    leaky = {"error": {"message": f"Incorrect API key provided: {fake.key}", "type": "authentication_error"}}
    api = FakeApi(fake, [(401, {}, leaky)])
    model = _model(name, api)

    async def go() -> tuple[GenerationError, GenerationError]:
        try:
            with pytest.raises(GenerationError) as first:
                await (model.complete(MESSAGES) if mode == "complete" else _collect(model))
            with pytest.raises(GenerationError) as second:
                await model.complete(MESSAGES)
            return first.value, second.value
        finally:
            await model.aclose()

    first, second = asyncio.run(go())
    assert first.message == f"the {fake.label} key was refused (401); set {name.upper()}_API_KEY or pass --api-key"
    assert first.error_code == "PROVIDER_AUTH" and fake.key[-6:] not in str(first.context)
    assert second is first and len(api.requests) == 1  # nothing more was sent


def test_a_rejected_request_fails_that_call_only() -> None:
    api = FakeApi(FAKES["openai"], [(400, {}, {"error": {"message": "context too long"}})])
    model = _model("openai", api)

    async def go() -> ChatReply:
        with pytest.raises(GenerationError, match=r"the OpenAI API rejected the request \(400\): context too long"):
            await model.complete(MESSAGES)
        return await model.complete(MESSAGES)

    assert asyncio.run(go()).text == ANSWER and len(api.requests) == 2


def test_a_request_failing_every_retry_raises_chat_request_failed() -> None:
    api = FakeApi(FAKES["mistral"], [(500, {}, {"error": {"message": "boom"}})] * 3)
    with pytest.raises(ChatRequestFailed) as caught:
        _ask(_model("mistral", api, extra={"max_retries": 2}), "stream")
    assert caught.value.message == "Mistral: HTTP 500 (server error): boom (gave up after 3 attempts)"
    assert caught.value.error_code == "CHAT_REQUEST_FAILED" and len(api.requests) == 3


def test_keys_come_from_the_environment_with_the_same_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(GenerationError, match=r"^no Mistral API key: set MISTRAL_API_KEY or pass --api-key$"):
        MistralChatModel(ChatSettings())
    monkeypatch.setenv("OPENAI_API_KEY", FAKES["anthropic"].key)
    with pytest.raises(GenerationError, match=r"the OpenAI API key looks like an Anthropic key \(sk-ant-\.\.\.\)"):
        OpenAIChatModel(ChatSettings())
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKES["anthropic"].key)
    api = FakeApi(FAKES["anthropic"])
    _ask(AnthropicChatModel(ChatSettings(extra={"headers": {"x-team": "bakery"}}), transport=api), "complete")
    assert api.requests[0].headers["authorization"] == f"Bearer {FAKES['anthropic'].key}"
    assert api.requests[0].headers["x-team"] == "bakery"


# --- openai-compatible, against a real local server ----------------------------------------------------------------

def _local(url: str, **settings: Any) -> OpenAICompatibleChatModel:
    extra = {"retry_initial_s": 0.01, **settings.pop("extra", {})}
    return OpenAICompatibleChatModel(ChatSettings(base_url=url, model="local-model", extra=extra, **settings))


def test_openai_compatible_answers_and_streams_from_a_local_server() -> None:
    with chat_server(lambda call: Action(text=ANSWER)) as server:
        reply = _ask(_local(server.url), "complete")
        model = _local(server.url, api_key="local-secret")
        pieces = _ask(model, "stream")
    assert isinstance(reply, ChatReply) and reply.text == ANSWER and reply.finish_reason == "stop"
    assert reply.usage == {"requests": 1, "retries": 0, "rate_limited": 0, "input_tokens": 100, "output_tokens": 50}
    assert pieces == PIECES
    asked, streamed = server.calls
    assert asked.path == streamed.path == "/v1/chat/completions"
    assert "stream" not in asked.body and "response_format" not in asked.body and asked.body["temperature"] == 0.2
    assert streamed.body["stream"] is True and streamed.body["stream_options"] == {"include_usage": True}
    assert streamed.headers["authorization"] == "Bearer local-secret" and streamed.headers["accept"] == \
        "text/event-stream"
    assert (model.totals.input_tokens, model.totals.output_tokens) == (STREAM_USAGE["prompt_tokens"],
                                                                       STREAM_USAGE["completion_tokens"])


def test_openai_compatible_yields_text_as_it_arrives() -> None:
    rest_sent = threading.Event()  # the server sends the rest only once the first piece reached the caller

    async def go(model: OpenAICompatibleChatModel) -> list[str]:
        pieces = []
        try:
            async for piece in model.stream(MESSAGES):
                pieces.append(piece)
                rest_sent.set()
        finally:
            await model.aclose()
        return pieces

    with chat_server(lambda call: Action(text=ANSWER, hold=rest_sent)) as server:
        pieces = asyncio.run(go(_local(server.url)))
    assert pieces == PIECES  # a client that waited for more than the first piece would have had the stream cut


def test_openai_compatible_retries_a_stream_until_its_first_text() -> None:
    def decide(call: Call) -> Action:
        if call.attempt == 1:
            return Action(429, {"Retry-After": "0.05"}, {"error": {"message": "Rate limit reached"}})
        if call.attempt == 2:
            return Action(drop=True)
        return Action(text=ANSWER)

    with chat_server(decide) as server:
        model = _local(server.url)
        assert _ask(model, "stream") == PIECES
    assert [call.attempt for call in server.calls] == [1, 2, 3]
    assert (model.totals.requests, model.totals.retries, model.totals.rate_limited) == (3, 2, 1)
    assert server.calls[1].at - server.calls[0].at >= 0.05  # Retry-After honoured


def test_openai_compatible_does_not_repeat_a_stream_broken_midway() -> None:
    received: list[str] = []

    async def go(model: OpenAICompatibleChatModel) -> None:
        try:
            await _collect(model, received)
        finally:
            await model.aclose()

    broke_off = r"^OpenAI-compatible server: the answer broke off after 14 characters"
    with chat_server(lambda call: Action(text=ANSWER, drop_after=2)) as server, \
            pytest.raises(ChatRequestFailed, match=broke_off):
        asyncio.run(go(_local(server.url)))
    assert received == PIECES[:2] and len(server.calls) == 1


@pytest.mark.parametrize("mode", ["complete", "stream"])
def test_openai_compatible_refused_key(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    secret = "local-0123456789abcdefSECRET"
    monkeypatch.setenv("OPENAI_COMPATIBLE_API_KEY", secret)

    def decide(call: Call) -> Action:
        return Action(401, body={"error": {"message": f"invalid key {secret}", "code": "invalid_api_key"}})

    with chat_server(decide) as server, pytest.raises(GenerationError) as caught:
        _ask(_local(server.url), mode)
    assert caught.value.message == ("the OpenAI-compatible server key was refused (401); "
                                    "set OPENAI_COMPATIBLE_API_KEY or pass --api-key")
    assert len(server.calls) == 1 and server.calls[0].headers["authorization"] == f"Bearer {secret}"


def test_concurrency_and_requests_per_minute_hold() -> None:
    pairing, active, peak, pairing_off = threading.Condition(), [0], [0], [False]

    def decide(call: Call) -> Action:
        with pairing:  # each request is held until a second one is in flight beside it (a bound, not a pace)
            active[0] += 1
            peak[0] = max(peak[0], active[0])
            pairing.notify_all()
            # the last of the six has no partner left to wait for
            pairing.wait_for(lambda: active[0] >= 2 or pairing_off[0] or len(server.calls) >= 6, timeout=30)
        with pairing:
            active[0] -= 1
        return Action(text=ANSWER)

    async def go(model: OpenAICompatibleChatModel, calls: int) -> None:
        try:
            await asyncio.gather(*(model.complete(MESSAGES) for _ in range(calls)))
        finally:
            await model.aclose()

    with chat_server(decide) as server:
        asyncio.run(go(_local(server.url, concurrency=2), 6))
        assert peak[0] == 2 and len({call.peer for call in server.calls}) == 2
        pairing_off[0] = True  # the paced requests come one at a time
        server.reset()
        asyncio.run(go(_local(server.url, requests_per_minute=600), 4))  # one every 0.1 s
    starts = sorted(call.at for call in server.calls)
    assert starts[-1] - starts[0] >= 3 * 0.1 * 0.8


# --- llama-cpp, with a stand-in model ------------------------------------------------------------------------------

class StandInLlama:
    """Answers like llama_cpp.Llama.create_chat_completion, whole or as a stream of chunks."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail = fail

    def create_chat_completion(self, messages: list[dict[str, str]], stream: bool = False, **options: Any) -> Any:
        self.calls.append({"messages": messages, "stream": stream, **options})
        if self.fail is not None:
            raise self.fail
        if stream:
            return iter(stream_chunks(ANSWER))
        return completion_json(ANSWER, prompt_tokens=21, completion_tokens=17)


def test_llama_cpp_answers_and_streams_with_a_stand_in_model() -> None:
    llama = StandInLlama()
    model = LlamaCppChatModel(ChatSettings(json_mode=True, max_tokens=99), llama=llama)
    reply = _ask(model, "complete")
    assert isinstance(reply, ChatReply) and reply.text == ANSWER
    assert reply.usage == {"requests": 1, "retries": 0, "rate_limited": 0, "input_tokens": 21, "output_tokens": 17}
    assert _ask(model, "stream") == PIECES
    whole, streamed = llama.calls
    assert whole["messages"] == [{"role": m.role, "content": m.content} for m in MESSAGES]
    assert (whole["stream"], streamed["stream"]) == (False, True)
    assert whole["response_format"] == {"type": "json_object"} and whole["max_tokens"] == 99
    assert whole["temperature"] == 0.2 and model.totals.requests == 2


def test_llama_cpp_answers_on_the_callers_thread_piece_by_piece() -> None:
    """What services/model_streams asks of a model that computes in process: no event loop, each piece handed on."""
    llama = StandInLlama()
    model = LlamaCppChatModel(ChatSettings(max_tokens=99), llama=llama)
    assert model.computes_here
    pieces: list[str] = []
    reply = model.answer_here(MESSAGES, pieces.append)
    assert pieces == PIECES and reply.text == ANSWER and llama.calls[0]["stream"] is True
    assert reply.finish_reason == "stop" and model.totals.requests == 1
    refused = StandInLlama(ValueError("Requested tokens exceed context window"))
    with pytest.raises(ChatRequestFailed, match=r"^llama\.cpp: Requested tokens exceed context window$"):
        LlamaCppChatModel(ChatSettings(), llama=refused).answer_here(MESSAGES)


def test_llama_cpp_errors_fail_the_call() -> None:
    model = LlamaCppChatModel(ChatSettings(), llama=StandInLlama(ValueError("Requested tokens exceed context window")))
    for mode in ("complete", "stream"):
        with pytest.raises(ChatRequestFailed, match=r"^llama\.cpp: Requested tokens exceed context window$"):
            _ask(model, mode)


# --- the plugin ------------------------------------------------------------------------------------------------------

def test_the_chat_models_are_registered_with_their_key_providers() -> None:
    found = registries(refresh=True)
    expected = {"openai-compatible": "openai-compatible", "openai": "openai", "anthropic": "anthropic",
                "mistral": "mistral", "together": "together", "fireworks": "fireworks", "llama-cpp": None}
    assert set(expected) <= set(found.chat_models.names())
    for name, key_provider in expected.items():
        assert found.chat_models.owner(name) == "providers"
        assert found.chat_models.get(name).key_provider == key_provider
        assert found.generators.get(name).key_provider == key_provider


# --- the core judge, through openai-compatible ---------------------------------------------------------------------

def _verdict(call: Call) -> Action:
    user = str(call.body["messages"][-1]["content"])
    score = 2 if "wrong" in user.split("Example:")[-1] else 5
    return Action(text=json.dumps({**dict.fromkeys(CRITERIA, score), "reason": "wrong claim" if score == 2 else "ok"}))


def _judged_project(ws: Workspace) -> str:
    project = ws.create_project("judged")
    answers = ["Paris is the capital of France.", "This one is wrong about everything.",
               "Water boils at 100 degrees Celsius at sea level.", "Another wrong statement here."]
    with ws.unit_of_work() as uow:
        uow.examples.add([Example(project_id=project.id, request_key=f"m:{i}", split="train",
                                   messages=[Message(role="user", content=f"Question {i}?"),
                                             Message(role="assistant", content=answer)])
                           for i, answer in enumerate(answers)])
    return project.id


def test_the_judge_runs_on_the_openai_compatible_chat_model(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project_id = _judged_project(ws)
    with chat_server(_verdict) as server:
        summary = judging.judge(ws, project_id, chat_model_name="openai-compatible",
                                settings={"base_url": server.url, "model": "judge-model"}, threshold=3)
    assert (summary["judged"], summary["failed"], summary["below_threshold"], summary["valid"]) == (4, 0, 2, 2)
    assert summary["mean_score"] == 3.5 and summary["model"] == "judge-model"
    assert summary["usage"] == {"requests": 4.0, "retries": 0.0, "rate_limited": 0.0, "input_tokens": 400.0,
                                "output_tokens": 200.0}
    assert len(server.calls) == 4
    for call in server.calls:
        assert call.body["model"] == "judge-model" and call.body["response_format"] == {"type": "json_object"}
    examples = {example.question: example for example in ws.examples(project_id)}
    wrong = examples["Question 1?"]
    assert wrong.judge_score == 2.0 and wrong.judge_reason == "wrong claim" and not wrong.is_valid
    assert wrong.metadata["judge"]["chat_model"] == "openai-compatible"
    assert examples["Question 0?"].judge_score == 5.0 and examples["Question 0?"].is_valid


def test_a_refused_key_stops_the_judge(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project_id = _judged_project(ws)
    ws.set_key("openai-compatible", "stored-local-key")  # the chat model's key_provider: the core fills api_key
    refused = r"the OpenAI-compatible server key was refused \(401\)"
    with chat_server(lambda call: Action(401, body={"error": {"message": "bad key"}})) as server, \
            pytest.raises(GenerationError, match=refused):
        judging.judge(ws, project_id, chat_model_name="openai-compatible",
                      settings={"base_url": server.url, "model": "judge-model", "concurrency": 2})
    assert 1 <= len(server.calls) <= 2  # what was on the wire; nothing was sent after the refusal
    assert all(call.headers["authorization"] == "Bearer stored-local-key" for call in server.calls)
    assert all(example.judge_score is None for example in ws.examples(project_id))



def test_an_example_whose_request_keeps_failing_is_left_for_the_next_run(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project_id = _judged_project(ws)
    healed = False

    def decide(call: Call) -> Action:
        if "Question 2?" in str(call.body["messages"][-1]["content"]) and not healed:
            return Action(503, body={"error": {"message": "model is loading"}})
        return _verdict(call)

    settings = {"base_url": "", "model": "judge-model", "extra": {"max_retries": 1, "retry_initial_s": 0.01}}
    with chat_server(decide) as server:
        settings["base_url"] = server.url
        first = judging.judge(ws, project_id, chat_model_name="openai-compatible", settings=settings)
        assert (first["judged"], first["failed"]) == (3, 1)
        assert first["errors"] == {"OpenAI-compatible server: HTTP 503 (server error): model is loading "
                                   "(gave up after 2 attempts)": 1}
        healed = True
        second = judging.judge(ws, project_id, chat_model_name="openai-compatible", settings=settings)
    assert (second["to_judge"], second["judged"], second["failed"]) == (1, 1, 0)
