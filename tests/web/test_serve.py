"""`finetune serve` for real: gunicorn on a free 127.0.0.1 port, spoken to over HTTP."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from click.testing import CliRunner
from finetune_core.cli import cli
from finetune_web.serve import error_page, refusal_status
from gunicorn.http.errors import InvalidHeader, LimitRequestHeaders, LimitRequestLine
from kits.live_server import finetune_serve


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    with finetune_serve(tmp_path, "--workers", "2") as live:
        yield live.base


def test_serve_speaks_http_on_loopback(server: str, tmp_path: Path) -> None:
    with httpx.Client(base_url=server, timeout=10) as http:
        health = http.get("/api/health").json()
        assert health["status"] == "ok" and health["db"] == "connected"
        assert http.post("/api/auth/register", json={"email": "live@example.com",
                                                     "password": "a long password"}).status_code == 201
        tokens = http.post("/api/auth/login", data={"username": "live@example.com",
                                                    "password": "a long password"}).json()
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        created = http.post("/api/projects", json={"name": "over HTTP"}, headers=headers)
        assert created.status_code == 201
        # two worker processes: each answers with the same signing secret, kept in the workspace
        for _ in range(8):
            assert http.get(f"/api/projects/{created.json()['id']}", headers=headers).status_code == 200
        assert http.get("/api/openapi.json").json()["openapi"].startswith("3.1")
        assert http.get("/api/nowhere").json()["error_code"] == "NOT_FOUND"
    assert (tmp_path / "ws" / "web" / "secret.key").stat().st_mode & 0o777 == 0o600


def exchange(base: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes to the server; its answer (status, headers with lower-case names, body), read to the close."""
    address = urlsplit(base)
    with socket.create_connection((address.hostname or "", address.port or 80), timeout=30) as sock:
        sock.sendall(request)
        received = b""
        while (chunk := sock.recv(65536)) and not answered(received := received + chunk):
            pass
    assert received, "the server closed the connection without an answer"
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, body


def answered(received: bytes) -> bool:
    """Whether `received` holds a whole answer with a Content-Length (else it is read to the close)."""
    head, found, body = received.partition(b"\r\n\r\n")
    lengths = [line.split(b":", 1)[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
    return bool(found and lengths and len(body) >= int(lengths[0]))


def error_body(status: int, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """The API's error body, as JSON with nosniff, whichever layer answered."""
    assert headers["content-type"].startswith("application/json"), (status, headers, body[:300])
    assert headers["x-content-type-options"] == "nosniff"
    parsed: dict[str, Any] = json.loads(body)
    assert set(parsed) == {"detail", "error_code", "context"} and parsed["detail"], parsed
    return parsed


def test_what_gunicorn_refuses_answers_in_the_error_body(server: str) -> None:
    """Refused before the app sees them (a request line or headers too long, a malformed request): the error body."""
    long_line = b"GET /api/health?pad=" + b"x" * 8200 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n"
    status, headers, body = exchange(server, long_line)
    assert (status, error_body(status, headers, body)["error_code"]) == (414, "REQUEST_URI_TOO_LONG")
    long_header = b"GET /api/health HTTP/1.1\r\nHost: localhost\r\nX-Pad: " + b"x" * 9000 + b"\r\n\r\n"
    status, headers, body = exchange(server, long_header)
    assert (status, error_body(status, headers, body)["error_code"]) == (431, "REQUEST_HEADER_FIELDS_TOO_LARGE")
    many_headers = b"".join(b"X-H%d: 1\r\n" % index for index in range(120))
    status, headers, body = exchange(server, b"GET /api/health HTTP/1.1\r\nHost: localhost\r\n" + many_headers
                                     + b"\r\n")
    assert (status, error_body(status, headers, body)["error_code"]) == (431, "REQUEST_HEADER_FIELDS_TOO_LARGE")
    status, headers, body = exchange(server, b"NOT AN HTTP REQUEST\r\n\r\n")
    assert (status, error_body(status, headers, body)["error_code"]) == (400, "BAD_REQUEST")


@pytest.mark.parametrize(("error", "status"), [
    (LimitRequestLine(9000, 8190), 414), (LimitRequestHeaders("too many"), 431), (InvalidHeader("X-A"), 400),
    (RuntimeError("the app failed"), 500),
])
def test_each_refusal_has_its_status_and_the_error_body(error: Exception, status: int) -> None:
    """The statuses a live server is not easily made to give (a 500 needs a broken app) checked on the page itself."""
    page = error_page(refusal_status(error), "it failed")
    head, _, body = page.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    assert int(status_line.split()[1]) == status
    assert int(headers["content-length"]) == len(body) and headers["connection"] == "close"
    assert error_body(status, headers, body)["detail"] == "it failed"


def test_a_long_query_string_within_the_request_line_limit_reaches_the_app(server: str) -> None:
    """Up to 8190 bytes (gunicorn's default is 4094) the app answers: here its 401, as no token is given."""
    line = b"PATCH /api/finetune/some-run/status?logs=" + b"x" * 8000 + b" HTTP/1.1\r\n"
    status, headers, body = exchange(server, line + b"Host: localhost\r\nContent-Length: 0\r\n\r\n")
    assert (status, error_body(status, headers, body)["error_code"]) == (401, "AUTHENTICATION_REQUIRED")


def test_a_chunked_json_body_over_the_limit_answers_413(server: str) -> None:
    """No Content-Length to refuse it by: refused once it passes the limit (not cut short and read as bad JSON)."""

    def chunks() -> Iterator[bytes]:
        yield b'{"email": "a@example.com", "password": "'
        for _ in range(40):
            yield b"p" * 65536
        yield b'"}'

    with httpx.Client(base_url=server, timeout=30) as http:
        refused = http.post("/api/auth/register", content=chunks(), headers={"Content-Type": "application/json"})
    headers = {name.lower(): value for name, value in refused.headers.items()}
    assert (refused.status_code, error_body(refused.status_code, headers, refused.content)["error_code"]) == \
        (413, "PAYLOAD_TOO_LARGE")


def test_serve_is_a_finetune_command() -> None:
    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0
    assert "--host" in result.output and "127.0.0.1" in result.output and "8000" in result.output
    assert "--workers" in result.output


PATCHED_PROGRAMS = """
from finetune_web.gevent_worker import UNPATCHED
from gevent import monkey
monkey.patch_all(**UNPATCHED)
import subprocess, gevent
from finetune_web import green

def run(word):
    return subprocess.run(["sh", "-c", f"echo {word}"], capture_output=True, text=True, timeout=60).stdout.strip()

assert green.patched()
pool = green.native_thread_pool(2)
print(pool.submit(run, "native").result(timeout=60), gevent.spawn(run, "greenlet").get(timeout=60), run("main"))
"""


def test_the_gevent_worker_lets_native_threads_and_greenlets_start_programs() -> None:
    """As the worker patches the standard library: a job on a native thread (ffmpeg, nvidia-smi...) and a request's
    greenlet can both run a program (gevent's subprocess cannot wait for a child from a native thread)."""
    result = subprocess.run([sys.executable, "-c", PATCHED_PROGRAMS], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["native", "greenlet", "main"]
