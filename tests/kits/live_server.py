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
from dataclasses import dataclass
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


@dataclass
class LiveServer:
    base: str  # http://127.0.0.1:<port>
    process: subprocess.Popen[bytes]  # gunicorn's arbiter

    def worker_pids(self) -> list[int]:
        """gunicorn's worker processes: the arbiter's children."""
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if parent == self.process.pid:
                pids.append(int(stat.parent.name))
        return pids


def open_sockets(pid: int) -> int:
    """How many sockets process `pid` holds open (its listening socket and its clients' connections)."""
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(fd).startswith("socket:")
        except OSError:  # closed meanwhile
            continue
    return count


@contextmanager
def finetune_serve(tmp_path: Path, *serve_args: str, env: dict[str, str] | None = None,
                   workspace: Path | None = None) -> Iterator[LiveServer]:
    """The server once `/health` answers; its log is `tmp_path/server.log` (shown when it dies)."""
    port = free_port()
    log_path = tmp_path / "server.log"
    # no scheduled maintenance in a test's server (its first run would come 5 minutes in): tests ask for it
    environment = {**os.environ, "FINETUNE_RATE_LIMITS": "off", "FINETUNE_CLEANUP_EVERY_S": "0",
                   "FINETUNE_METRICS_EVERY_S": "0", **(env or {})}
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
            yield LiveServer(base, process)
            assert process.poll() is None, f"the server died while in use:\n{log_path.read_text()}"
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
