"""Issued API keys over REST (/api/apikeys) and the OpenAI-compatible /v1 they open, through the Flask test client;
the key's model is a keyless test chat model (`echo`), registered as a plugin, that repeats the last question."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

import pytest
from finetune_core.chat.base import ChatModel, ChatReply
from finetune_core.domain import Message
from finetune_core.hookspecs import hookimpl
from finetune_core.storage.tables import IssuedKeyRow
from flask.testing import FlaskClient
from kits.web_api import Account, assert_error

ECHO = "echo"


class EchoModel(ChatModel):
    """Answers `echo: <the last message>`, cut at the first stop sequence; streamed a word at a time."""

    name: ClassVar[str] = ECHO
    seen: ClassVar[list[ChatModel]] = []
    failing: ClassVar[bool] = False

    def _text(self, messages: list[Message]) -> str:
        if EchoModel.failing:
            raise RuntimeError("the echo model is down")
        EchoModel.seen.append(self)
        text = f"echo: {messages[-1].content}"
        for stop in self.settings.extra.get("stop", []):
            text = text.split(stop)[0]
        return text

    async def complete(self, messages: list[Message]) -> ChatReply:
        text = self._text(messages)
        return ChatReply(text=text, input_tokens=7, output_tokens=len(text.split()), finish_reason="stop")

    async def stream(self, messages: list[Message]) -> AsyncIterator[str]:
        for index, word in enumerate(self._text(messages).split(" ")):
            yield word if index == 0 else " " + word


class EchoPlugin:
    @hookimpl
    def finetune_register_chat_models(self, register: Callable[[Any], None]) -> None:
        register(EchoModel)


@pytest.fixture(autouse=True)
def echo(register_finetune_plugin: Callable[..., str]) -> None:
    EchoModel.seen.clear()
    EchoModel.failing = False
    register_finetune_plugin(EchoPlugin(), name="test-echo-chat-model")


def a_model(client: FlaskClient, account: Account, name: str = "bread-bot", provider: str = ECHO) -> str:
    created = client.post("/api/models", json={"name": name, "base_model": "SmolLM2-135M", "version": "1",
                                               "provider": provider}, headers=account.headers)
    assert created.status_code == 201, created.get_json()
    return str(created.get_json()["id"])


def a_key(client: FlaskClient, account: Account, model_id: str) -> dict[str, Any]:
    created = client.post("/api/apikeys", json={"model_id": model_id, "name": "prod"}, headers=account.headers)
    assert created.status_code == 201, created.get_json()
    return dict(created.get_json())


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def ask(client: FlaskClient, secret: str, **body: Any) -> Any:
    return client.post("/v1/chat/completions", headers=bearer(secret),
                       json={"model": body.pop("model"), "messages": [{"role": "user", "content": "hello there"}],
                             **body})


def openai_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert set(error) >= {"message", "type", "code"}
    if code is not None:
        assert error["code"] == code
    return dict(error)


def test_a_key_is_shown_once_listed_by_prefix_and_revoked(client: FlaskClient, alice: Account, bob: Account) -> None:
    model_id = a_model(client, alice)
    created = a_key(client, alice, model_id)
    assert created["key"].startswith("ftk-") and created["prefix"] == created["key"][:12]
    assert (created["user_id"], created["model_id"], created["name"]) == (alice.id, model_id, "prod")
    listed = client.get("/api/apikeys", headers=alice.headers).get_json()
    assert listed["total"] == 1 and listed["items"][0]["prefix"] == created["prefix"]
    assert "key" not in listed["items"][0] and created["key"] not in json.dumps(listed)
    assert client.get("/api/apikeys", headers=bob.headers).get_json()["total"] == 0
    assert_error(client.post("/api/apikeys", json={"model_id": model_id, "name": "x"}, headers=bob.headers), 404)
    assert_error(client.post("/api/apikeys", json={"name": "x"}, headers=alice.headers), 422)
    assert_error(client.delete(f"/api/apikeys/{created['id']}", headers=bob.headers), 404)
    assert client.get("/v1/models", headers=bearer(created["key"])).status_code == 200
    assert client.delete(f"/api/apikeys/{created['id']}", headers=alice.headers).status_code == 204
    openai_error(client.get("/v1/models", headers=bearer(created["key"])), 401, "invalid_api_key")
    assert client.get("/api/apikeys", headers=alice.headers).get_json()["total"] == 0
    assert_error(client.delete(f"/api/apikeys/{created['id']}", headers=alice.headers), 404)


def test_chat_completions_answer_with_the_keys_model_and_count_usage(client: FlaskClient, alice: Account) -> None:
    model_id = a_model(client, alice)
    secret = a_key(client, alice, model_id)["key"]
    answered = ask(client, secret, model=model_id, max_tokens=20, temperature=0, stop="there")
    assert answered.status_code == 200, answered.get_json()
    completion = answered.get_json()
    assert completion["object"] == "chat.completion" and completion["model"] == model_id
    choice = completion["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "echo: hello "} and choice["finish_reason"] == "stop"
    assert completion["usage"] == {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}
    settings = EchoModel.seen[-1].settings
    assert (settings.max_tokens, settings.temperature, settings.extra["stop"]) == (20, 0, ["there"])
    by_name = ask(client, secret, model="bread-bot", max_completion_tokens=5, stop=["x", "y"])
    assert by_name.status_code == 200 and EchoModel.seen[-1].settings.max_tokens == 5
    models = client.get("/v1/models", headers=bearer(secret)).get_json()
    assert models["object"] == "list" and [m["id"] for m in models["data"]] == [model_id]
    assert models["data"][0]["object"] == "model" and isinstance(models["data"][0]["created"], int)
    listed = client.get("/api/apikeys", headers=alice.headers).get_json()["items"][0]
    assert (listed["requests"], listed["input_tokens"]) == (2, 14) and listed["last_used_at"] is not None
    assert client.get("/api/auth/me", headers=alice.headers).get_json()["queries_used"] == 2


def test_a_streamed_completion_comes_as_chunks_then_done(client: FlaskClient, alice: Account) -> None:
    model_id = a_model(client, alice)
    secret = a_key(client, alice, model_id)["key"]
    streamed = ask(client, secret, model=model_id, stream=True, stream_options={"include_usage": True})
    assert streamed.status_code == 200 and streamed.mimetype == "text/event-stream"
    events = [line.removeprefix("data: ") for line in streamed.get_data(as_text=True).splitlines()
              if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks if chunk["choices"])
    assert text == "echo: hello there"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    assert client.get("/api/apikeys", headers=alice.headers).get_json()["items"][0]["requests"] == 1


def test_v1_refuses_in_openais_shape(client: FlaskClient, alice: Account, bob: Account) -> None:
    model_id = a_model(client, alice)
    secret = a_key(client, alice, model_id)["key"]
    openai_error(client.get("/v1/models"), 401, "invalid_api_key")
    openai_error(client.get("/v1/models", headers=alice.headers), 401, "invalid_api_key")  # a JWT is no key
    openai_error(ask(client, "ftk-not-a-key", model=model_id), 401, "invalid_api_key")
    openai_error(ask(client, secret, model=a_model(client, bob, "bob's")), 404, "model_not_found")
    openai_error(ask(client, secret, model=model_id, n=2), 400)
    openai_error(ask(client, secret, model=model_id, temperature=5), 400)
    openai_error(client.post("/v1/chat/completions", headers=bearer(secret), data="nope"), 400)
    openai_error(client.post("/v1/chat/completions", headers=bearer(secret), json={"model": model_id}), 400)
    EchoModel.failing = True
    openai_error(ask(client, secret, model=model_id), 503, "model_unavailable")
    openai_error(ask(client, secret, model=model_id, stream=True), 503, "model_unavailable")
    manual = a_key(client, alice, a_model(client, alice, "elsewhere", provider="manual"))["key"]
    openai_error(ask(client, manual, model="elsewhere"), 503, "model_unavailable")


def test_a_key_over_its_rate_limit_answers_429_with_retry_after(client: FlaskClient, alice: Account) -> None:
    model_id = a_model(client, alice)
    created = a_key(client, alice, model_id)
    assert created["rate_limit_per_minute"] == 60
    with client.application.extensions["finetune"].workspace.unit_of_work() as uow:  # a tiny limit, for the test
        uow.session.get(IssuedKeyRow, created["id"]).rate_limit_per_minute = 2
    assert ask(client, created["key"], model=model_id).status_code == 200
    assert ask(client, created["key"], model=model_id).status_code == 200
    limited = ask(client, created["key"], model=model_id)
    openai_error(limited, 429, "rate_limit_exceeded")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
