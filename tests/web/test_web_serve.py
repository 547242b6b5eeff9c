"""`finetune serve` for real: gunicorn on a free 127.0.0.1 port, spoken to over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from finetune_core.cli import cli

FINETUNE = Path(sys.executable).parent / "finetune"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "FINETUNE_RATE_LIMITS": "off"}
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen([str(FINETUNE), "--workspace", str(tmp_path / "ws"), "serve", "--port", str(port),
                                "--workers", "2", "--threads", "4"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.3)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


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


def test_serve_is_a_finetune_command() -> None:
    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0
    assert "--host" in result.output and "127.0.0.1" in result.output and "8000" in result.output
    assert "--workers" in result.output
