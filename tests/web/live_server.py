"""`finetune serve` for real, in a child process on a free 127.0.0.1 port (the tests that speak HTTP to it)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import httpx

FINETUNE = Path(sys.executable).parent / "finetune"
START_TIMEOUT_S = 120  # a busy laptop takes a while to import torch and friends
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], T], what: str, timeout: float = 60.0, every: float = 0.1) -> T:
    """`check()`'s first truthy answer; fails after `timeout` seconds (a bound: it ends as soon as it can)."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)


@contextmanager
def finetune_serve(tmp_path: Path, *serve_args: str, env: dict[str, str] | None = None,
                   workspace: Path | None = None) -> Iterator[str]:
    """The server's base URL once `/health` answers; its log is `tmp_path/server.log` (shown when it dies)."""
    port = free_port()
    log_path = tmp_path / "server.log"
    environment = {**os.environ, "FINETUNE_RATE_LIMITS": "off", **(env or {})}
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(FINETUNE), "--workspace", str(workspace or tmp_path / "ws"), "serve", "--port", str(port),
             *serve_args], env=environment, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            def healthy() -> bool:
                assert process.poll() is None, log_path.read_text()
                try:
                    return httpx.get(f"{base}/health", timeout=10).status_code == 200
                except httpx.TransportError:
                    return False

            wait_until(healthy, "the server to start", timeout=START_TIMEOUT_S, every=0.2)
            yield base
            assert process.poll() is None, f"the server died while in use:\n{log_path.read_text()}"
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
