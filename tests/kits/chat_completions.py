"""Fake OpenAI Chat Completions servers on 127.0.0.1, canned SDK answers, and small text projects.

`FakeChatServer` answers each request with `{"examples": [...]}` quoting sentences of the passage found
in the prompt, as many as the prompt asks for; a test's `decide(call)` can instead make it answer
an error status, another text, wait, or drop the connection without answering. A request with
`"stream": true` is answered with server-sent chunks (`stream_pieces` of the text), the usage in
a last chunk when `stream_options.include_usage` asks for it, then `data: [DONE]`.

`ChatServer` is the plain one: every request answered by finetune_providers.testing's `answer` (examples or
a judge's scores), each kept in `requests`.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from finetune_core import Example, Workspace
from finetune_core.services import sources as sources_service
from finetune_core.testing import made_up_text
from finetune_providers.testing import answer, completion_json, examples_text, parse_prompt

HOLD_BOUND_S = 60.0  # a bound, never a pace: the hold ends as soon as its event is set

@dataclass
class Call:
    """One HTTP request the server received."""

    index: int
    at: float
    path: str
    headers: dict[str, str]  # names in lower case
    body: dict[str, Any]
    passage: str
    round: int
    count: int
    attempt: int  # 1 for the first time this (passage, round) was asked, 2 for the next...
    peer: int  # the client's port: one per connection

    @property
    def key(self) -> tuple[str, int]:
        return self.passage, self.round


@dataclass
class Action:
    """How to answer a call: a status and body, after a delay, or by dropping the connection."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # None with 200: the examples answer
    delay_s: float = 0.0
    drop: bool = False
    text: str | None = None  # with 200 and no body: the answer's text instead of the examples
    drop_after: int | None = None  # a stream: the connection is cut after this many pieces of text
    # a stream: after its first piece, the rest waits for this; never set within HOLD_BOUND_S: the stream is cut
    hold: threading.Event | None = None


STREAM_USAGE = {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150}
PIECE_CHARS = 7


def stream_pieces(text: str) -> list[str]:
    """How a streamed answer is cut into deltas."""
    return [text[start:start + PIECE_CHARS] for start in range(0, len(text), PIECE_CHARS)]


def stream_chunk(*, content: str | None = None, role: str | None = None, finish: str | None = None,
                 usage: dict[str, int] | None = None, model: str = "fake-model") -> dict[str, Any]:
    """One Chat Completions stream chunk (the usage chunk has no choices)."""
    delta = {key: value for key, value in (("role", role), ("content", content)) if value is not None}
    chunk: dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_700_000_000,
                             "model": model, "choices": [] if usage else [
                                 {"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage:
        chunk["usage"] = usage
    return chunk


def stream_chunks(text: str, *, usage: dict[str, int] | None = None, model: str = "fake-model") -> list[dict[str, Any]]:
    """The chunks of a streamed answer: the role, the text's pieces, the finish, then the usage if given."""
    chunks = [stream_chunk(role="assistant", content="", model=model)]
    chunks += [stream_chunk(content=piece, model=model) for piece in stream_pieces(text)]
    chunks.append(stream_chunk(finish="stop", model=model))
    if usage:
        chunks.append(stream_chunk(usage=usage, model=model))
    return chunks


def sse_event(data: dict[str, Any] | str, event: str | None = None) -> bytes:
    """One server-sent event."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {data if isinstance(data, str) else json.dumps(data)}\n\n".encode()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        return None  # a client that gave up (timeout, cancel) resets its connection: expected here


class FakeChatServer:
    """A threaded HTTP/1.1 (keep-alive) server on 127.0.0.1 speaking Chat Completions."""

    def __init__(self, decide: Callable[[Call], Action] | None = None) -> None:
        self.decide = decide
        self.calls: list[Call] = []
        self.answered: list[Call] = []  # the calls answered 200 with examples
        self._lock = threading.Lock()
        self._attempts: dict[tuple[str, int], int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                call = server._record(self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                                      int(self.client_address[1]))
                action = server.decide(call) if server.decide else Action()
                if action.delay_s:
                    time.sleep(action.delay_s)
                if action.drop:
                    self.close_connection = True
                    with suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                payload = action.body
                if payload is None and action.status == 200:
                    text = action.text if action.text is not None else examples_text(call.passage, call.round,
                                                                                     call.count)
                    with server._lock:
                        server.answered.append(call)
                    if body.get("stream"):
                        self._stream(text, body, action)
                        return
                    payload = completion_json(text, model=str(body.get("model")))
                data = payload if isinstance(payload, bytes) else json.dumps(payload or {}).encode()
                try:
                    self.send_response(action.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in action.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (timeout) and closed the socket
                    self.close_connection = True

            def _stream(self, text: str, body: dict[str, Any], action: Action) -> None:
                usage = STREAM_USAGE if (body.get("stream_options") or {}).get("include_usage") else None
                events = [sse_event(chunk) for chunk in stream_chunks(text, usage=usage, model=str(body.get("model")))]
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for index, event in enumerate([*events, sse_event("[DONE]")]):
                        if action.drop_after is not None and index == 1 + action.drop_after:  # [0] is the role
                            self.close_connection = True
                            self.connection.shutdown(socket.SHUT_RDWR)
                            return
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                        if index == 1 and action.hold is not None and not action.hold.wait(HOLD_BOUND_S):
                            self.close_connection = True  # the client waited for more than one piece: cut
                            self.connection.shutdown(socket.SHUT_RDWR)
                            return
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:
                    self.close_connection = True

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def _record(self, path: str, headers: dict[str, str], body: dict[str, Any], peer: int) -> Call:
        passage, round_, count = parse_prompt(body)
        with self._lock:
            attempt = self._attempts.get((passage, round_), 0) + 1
            self._attempts[(passage, round_)] = attempt
            call = Call(index=len(self.calls), at=time.monotonic(), path=path, headers=headers, body=body,
                        passage=passage, round=round_, count=count, attempt=attempt, peer=peer)
            self.calls.append(call)
        return call

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.answered.clear()
            self._attempts.clear()

    def start(self) -> FakeChatServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class ChatServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 answering every request with finetune_providers.testing's `answer`.

    Start it with `.thread.start()`; stop it with `.httpd.shutdown()` and `.httpd.server_close()`.
    """

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                data = json.dumps(answer(body)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"


@contextmanager
def chat_server(decide: Callable[[Call], Action] | None = None) -> Iterator[FakeChatServer]:
    server = FakeChatServer(decide).start()
    try:
        yield server
    finally:
        server.stop()


# --- projects of small text sources ----------------------------------------------------------------

def text_project(ws: Workspace, name: str, sources: int, **config: Any) -> str:
    """A project of `sources` small notes, one chunk each, set to the openai-compatible generator."""
    project = ws.create_project(name, config={"generator": "openai-compatible", "model": "fake-model", **config})
    for index in range(sources):
        sources_service.add_file(ws, project.id, f"note-{index:02d}.txt", made_up_text(index).encode())
    ws.ingest(project.id)
    ws.chunk(project.id)
    assert len(ws.chunks(project.id, limit=None)) == sources
    return project.id


def generated(ws: Workspace, project_id: str) -> list[Example]:
    with ws.unit_of_work() as uow:
        return [example for example in uow.examples.iterate(project_id)
                if example.request_key and example.request_key.startswith("gen:")]


def stored_keys(ws: Workspace, project_id: str) -> set[tuple[str, int]]:
    """(passage, round) of every stored generated request, comparable with the server's calls."""
    chunks = {chunk.id: chunk.content.strip() for chunk in ws.chunks(project_id, limit=None)}
    keys = set()
    for example in generated(ws, project_id):
        assert example.request_key is not None
        _, chunk_id, round_ = example.request_key.split(":")
        keys.add((chunks[chunk_id], int(round_)))
    return keys
