"""Socket.IO of chats (`finetune_web.realtime`) over real sockets on 127.0.0.1, spoken to by python-socketio's client.

`finetune serve` runs for real, with its gevent worker (the default) and with gthread: only a chat's owner joins
its room, a connection without a valid token is refused, `typing` reaches the owner's other clients and not the
sender, and every message stored in the chat (posted, or written by a streamed answer on a native thread)
arrives as `new_message`. With REDIS_URL, a message announced by another process reaches the server's clients
through Redis. An in-process server (threads) shows `announce` from a request and from another thread.
Every wait is on an event, with a timeout as a bound.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote
from wsgiref.types import WSGIApplication

import httpx
import jwt
import pytest
import socketio
from finetune_core.domain import ChatMessage
from finetune_core.testing import open_test_workspace
from finetune_web import realtime
from finetune_web.app import create_wsgi_app
from finetune_web.settings import WebSettings
from kits.chat_client import WAIT_S, Listener, bearer, make_chat, making_listeners, post_message, sign_up
from kits.chat_completions import Action, chat_server
from kits.live_server import LiveServer, finetune_serve, free_port
from kits.workers import running_redis
from werkzeug.serving import make_server

ANSWER = "Knead it for ten minutes."


@pytest.fixture
def listeners() -> Iterator[Callable[[], Listener]]:
    with making_listeners() as make:
        yield make


def refusal(base: str, make: Callable[[], Listener], token: str | None) -> dict[str, Any]:
    """The error body a refused connection carries in its `connect_error`."""
    listener = make()
    with pytest.raises(socketio.exceptions.ConnectionError):
        listener.connect(base, token)
    error: dict[str, Any] = listener.wait_for("connect_error")
    return dict(error["data"])


@pytest.fixture(params=["gevent", "gthread"])
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    # the fake model server of a streamed answer listens on 127.0.0.1, which the operator allows here
    env = {"FINETUNE_ALLOWED_MODEL_HOSTS": "127.0.0.1"}
    with finetune_serve(tmp_path, "--worker-class", request.param, env=env) as server:
        yield server


def test_only_the_owner_joins_and_typing_reaches_the_owners_other_clients(
        live: LiveServer, tmp_path: Path, listeners: Callable[[], Listener]) -> None:
    alice, alice_id = sign_up(live.base, "alice@example.com")
    bob, _ = sign_up(live.base, "bob@example.com")
    chat_id = make_chat(live.base, alice)

    first = listeners().connect(live.base, alice)  # websocket, after the polling handshake
    second = listeners().connect(live.base, alice, transports=["polling"])
    intruder = listeners().connect(live.base, bob, transports=["websocket"])
    assert first.call("join_chat", {"chat_id": chat_id}) == {"ok": True}
    assert second.call("join_chat", {"chat_id": chat_id}) == {"ok": True}

    refused = intruder.call("join_chat", {"chat_id": chat_id})
    assert refused["ok"] is False and refused["error_code"] == "NOT_FOUND"
    error = intruder.wait_for("error")
    assert error["error_code"] == "NOT_FOUND" and chat_id in error["detail"]
    assert intruder.call("join_chat", {})["error_code"] == "VALIDATION_ERROR"
    assert intruder.call("typing", {"chat_id": chat_id, "is_typing": True})["error_code"] == "NOT_JOINED"

    assert first.call("typing", {"chat_id": chat_id, "is_typing": True}) == {"ok": True}
    typing = second.wait_for("user_typing")
    assert typing == {"chat_id": chat_id, "user_id": alice_id, "is_typing": True}
    # anything emitted to the sender would have come before the answer to its next event
    assert first.call("typing", {"chat_id": chat_id, "is_typing": False}) == {"ok": True}
    assert second.wait_for("user_typing", lambda data: data["is_typing"] is False)
    assert first.events["user_typing"] == [] and intruder.events["user_typing"] == []

    assert second.call("leave_chat", {"chat_id": chat_id}) == {"ok": True}
    assert second.call("typing", {"chat_id": chat_id, "is_typing": True})["error_code"] == "NOT_JOINED"

    # no token, a bad one, an expired one, a refresh token: refused at connect
    assert refusal(live.base, listeners, None)["error_code"] == "AUTHENTICATION_REQUIRED"
    assert refusal(live.base, listeners, "not-a-token")["error_code"] == "INVALID_TOKEN"
    secret = (tmp_path / "ws" / "web" / "secret.key").read_text().strip()
    claims = jwt.decode(alice, secret, algorithms=["HS256"])
    expired = jwt.encode({**claims, "exp": int(time.time()) - 60}, secret, algorithm="HS256")
    assert refusal(live.base, listeners, expired)["error_code"] == "TOKEN_EXPIRED"
    forged = jwt.encode(claims, "another secret of at least thirty-two bytes", algorithm="HS256")
    assert refusal(live.base, listeners, forged)["error_code"] == "INVALID_TOKEN"

    # signed out: the token is refused, and a client still connected with it joins no more rooms
    assert httpx.post(f"{live.base}/api/auth/logout", headers=bearer(alice), timeout=WAIT_S).status_code == 200
    assert refusal(live.base, listeners, alice)["error_code"] == "TOKEN_REVOKED"
    assert first.call("join_chat", {"chat_id": chat_id})["error_code"] == "TOKEN_REVOKED"


def test_each_message_stored_in_a_chat_reaches_its_room(live: LiveServer, tmp_path: Path,
                                                        listeners: Callable[[], Listener]) -> None:
    alice, _alice_id = sign_up(live.base, "alice@example.com")
    bob, _bob_id = sign_up(live.base, "bob@example.com")
    with chat_server(lambda call: Action(text=ANSWER)) as model_server:
        agent = httpx.post(f"{live.base}/api/agents", json={"name": "Baker", "system_prompt": "You bake.",
                                                            "model": f"openai-compatible:fake@{model_server.url}"},
                           headers=bearer(alice), timeout=WAIT_S)
        assert agent.status_code == 201, agent.text
        chat_id = make_chat(live.base, alice, agent_id=agent.json()["id"])
        bobs_chat = make_chat(live.base, bob)
        watcher = listeners().connect(live.base, alice)
        other = listeners().connect(live.base, bob)
        assert watcher.call("join_chat", {"chat_id": chat_id}) == {"ok": True}
        assert other.call("join_chat", {"chat_id": bobs_chat}) == {"ok": True}

        stored = post_message(live.base, alice, chat_id, "How long do I knead?")
        arrived = watcher.wait_for("new_message", lambda data: data["id"] == stored["id"])
        assert arrived["chat_id"] == chat_id and arrived["role"] == "user"
        assert arrived["content"] == "How long do I knead?"

        # a streamed answer is stored on a native thread once complete: both messages are announced from there
        with httpx.stream("GET", f"{live.base}/api/messages/stream/{chat_id}?message={quote('And then?')}",
                          headers=bearer(alice), timeout=WAIT_S) as streamed:
            assert streamed.status_code == 200
            assert "[DONE]" in "".join(streamed.iter_text())
        answer = watcher.wait_for("new_message", lambda data: data["role"] == "assistant")
        assert answer["content"] == ANSWER and answer["chat_id"] == chat_id
        assert watcher.wait_for("new_message", lambda data: data["content"] == "And then?")["role"] == "user"

    theirs = post_message(live.base, bob, bobs_chat, "Mine")
    other.wait_for("new_message", lambda data: data["id"] == theirs["id"])
    assert [message["id"] for message in other.events["new_message"]] == [theirs["id"]]  # none of alice's


def test_with_redis_a_message_announced_by_another_process_reaches_the_clients(
        tmp_path: Path, listeners: Callable[[], Listener], monkeypatch: pytest.MonkeyPatch) -> None:
    with running_redis(tmp_path) as redis_url, \
            finetune_serve(tmp_path, "--workers", "2", env={"REDIS_URL": redis_url}) as live:
        alice, alice_id = sign_up(live.base, "alice@example.com")
        chat_id = make_chat(live.base, alice)
        # several worker processes: clients speak websocket only (polling would need sticky sessions)
        clients = [listeners().connect(live.base, alice, transports=["websocket"]) for _ in range(4)]
        for client in clients:
            assert client.call("join_chat", {"chat_id": chat_id}) == {"ok": True}
        assert clients[0].call("typing", {"chat_id": chat_id, "is_typing": True}) == {"ok": True}
        for client in clients[1:]:
            assert client.wait_for("user_typing")["user_id"] == alice_id

        # this test's process is another server of the deployment: what it announces goes through Redis
        monkeypatch.setattr(realtime, "current", None)
        settings = WebSettings(workspace=tmp_path / "ws", redis_url=redis_url, rate_limits=False)
        message = ChatMessage(chat_id=chat_id, role="assistant", content="From another process")
        with open_test_workspace(settings.workspace) as workspace:
            create_wsgi_app(settings, workspace=workspace)
            realtime.announce([message])
        for client in clients:
            assert client.wait_for("new_message")["id"] == message.id
            client.close()  # before the server stops: it would wait for its open connections


@pytest.fixture
def in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The API and its Socket.IO in this process (threads), served by werkzeug on 127.0.0.1."""
    monkeypatch.setattr(realtime, "current", None)
    settings = WebSettings(workspace=tmp_path / "ws", rate_limits=False)
    with open_test_workspace(settings.workspace) as workspace:
        app: WSGIApplication = create_wsgi_app(settings, workspace=workspace)
        server = make_server("127.0.0.1", free_port(), app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}"
        finally:
            server.shutdown()
            thread.join(WAIT_S)


def test_announce_reaches_the_room_from_a_request_and_from_another_thread(
        in_process: str, tmp_path: Path, listeners: Callable[[], Listener]) -> None:
    alice, _alice_id = sign_up(in_process, "alice@example.com")
    chat_id = make_chat(in_process, alice)
    watcher = listeners().connect(in_process, alice, transports=["polling"])
    assert watcher.call("join_chat", {"chat_id": chat_id}) == {"ok": True}

    stored = post_message(in_process, alice, chat_id, "From a request")
    assert watcher.wait_for("new_message", lambda data: data["id"] == stored["id"])["content"] == "From a request"

    messages = [ChatMessage(chat_id=chat_id, role=role, content=f"From a thread ({role})")
                for role in ("user", "assistant")]
    announcer = threading.Thread(target=realtime.announce, args=(messages,))
    announcer.start()
    announcer.join(WAIT_S)
    for message in messages:
        arrived = watcher.wait_for("new_message", lambda data, wanted=message.id: data["id"] == wanted)
        assert arrived == message.model_dump(mode="json")


def test_announce_does_nothing_where_no_socketio_is_served(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(realtime, "current", None)
    realtime.announce([ChatMessage(chat_id="nowhere", role="user", content="Hello")])
    realtime.announce([])
