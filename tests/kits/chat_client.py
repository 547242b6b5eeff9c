"""A chat client over real sockets: python-socketio's `socketio.Client` that records what it receives, and the
HTTP calls that make users, chats and messages on a live `finetune serve` (tests of Socket.IO and of chats)."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import socketio

PASSWORD = "a long enough password"
WAIT_S = 30.0  # a bound on each wait, never a pace


class Listener:
    """A real `socketio.Client` that keeps the events it receives, and waits on them."""

    EVENTS = ("new_message", "user_typing", "error", "connect_error")

    def __init__(self) -> None:
        self.client = socketio.Client(reconnection=False)
        self.events: dict[str, list[Any]] = defaultdict(list)
        self.changed = threading.Condition()
        for name in self.EVENTS:
            self.client.on(name, self._recorder(name))

    def _recorder(self, name: str) -> Callable[..., None]:
        def record(data: Any = None) -> None:
            with self.changed:
                self.events[name].append(data)
                self.changed.notify_all()
        return record

    def connect(self, base: str, token: str | None, transports: list[str] | None = None) -> Listener:
        self.client.connect(base, socketio_path="/ws/socket.io", auth={"token": token} if token else None,
                            transports=transports, wait_timeout=WAIT_S)
        return self

    def wait_for(self, name: str, matches: Callable[[Any], bool] = lambda data: True) -> Any:
        with self.changed:
            assert self.changed.wait_for(lambda: any(matches(data) for data in self.events[name]), WAIT_S), \
                f"no {name} event came: {dict(self.events)}"
            return next(data for data in self.events[name] if matches(data))

    def call(self, event: str, data: dict[str, Any]) -> Any:
        return self.client.call(event, data, timeout=WAIT_S)

    def close(self) -> None:
        self.client.disconnect()


@contextmanager
def making_listeners() -> Iterator[Callable[[], Listener]]:
    """A maker of listeners, all closed at the end."""
    made: list[Listener] = []

    def make() -> Listener:
        made.append(Listener())
        return made[-1]

    try:
        yield make
    finally:
        for listener in made:
            listener.close()


def sign_up(base: str, email: str) -> tuple[str, str]:
    """A new user's access token and id."""
    with httpx.Client(base_url=base, timeout=WAIT_S) as http:
        assert http.post("/api/auth/register", json={"email": email, "password": PASSWORD}).status_code == 201
        token = str(http.post("/api/auth/login", json={"email": email, "password": PASSWORD}).json()["access_token"])
        me = http.get("/api/auth/me", headers=bearer(token)).json()
    return token, str(me["id"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_chat(base: str, token: str, **fields: Any) -> str:
    """A new chat of the token's user, made over the API: its id."""
    created = httpx.post(f"{base}/api/chats", json={"title": "Bread", **fields}, headers=bearer(token),
                         timeout=WAIT_S)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def post_message(base: str, token: str, chat_id: str, content: str) -> dict[str, Any]:
    """A user message stored as given (dualqueryintelligence's body): no model is asked."""
    posted = httpx.post(f"{base}/api/messages", json={"chat_id": chat_id, "role": "user", "content": content},
                        headers=bearer(token), timeout=WAIT_S)
    assert posted.status_code == 201, posted.text
    stored: dict[str, Any] = posted.json()
    return stored
