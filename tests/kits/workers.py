"""`finetune worker` subprocesses and a throwaway redis-server for them; waiting on a condition."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from finetune_core.testing import unavailable

TESTS = Path(__file__).resolve().parents[1]  # on the workers' PYTHONPATH, for `--import kits.worker_jobs`
STALE_AFTER_S = 2.0  # FINETUNE_JOB_STALE_AFTER_S for the workers and the test workspaces


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# how long a worker process may take to exit: generous, since each wait ends as soon as it has (a busy
# machine starts and stops Python processes slowly)
PROCESS_WAIT_S = 120.0


def wait_until(condition: Callable[[], object], timeout_s: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(0.05)


def descendants(pid: int) -> list[int]:
    """The pids of every process below `pid`, read from /proc."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def kill_tree(process: subprocess.Popen[bytes], sig: int = signal.SIGKILL,
              timeout_s: float = PROCESS_WAIT_S) -> None:
    """Signal a process started with `start_new_session`, its group and every process below it.

    The group alone is not enough: rq's spawning worker starts each work horse in a group of its own.
    """
    below = descendants(process.pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)
    for pid in below:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        if sig == signal.SIGKILL:
            raise  # not even SIGKILL: say so rather than signal it forever
        kill_tree(process, signal.SIGKILL, timeout_s)


@contextlib.contextmanager
def running_redis(folder: Path) -> Iterator[str]:
    """A redis-server on a free loopback port, nothing written to disk; yields its URL (skips without one)."""
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis", "redis-server is not installed (apt-get install -y redis-server)")
    import redis

    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                "no", "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)

    def answers() -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    try:
        wait_until(answers, 60, "redis-server to answer")
        yield url
    finally:
        client.close()
        process.terminate()
        process.wait(60)


class Workers:
    """Starts `finetune worker` subprocesses (each in its own process group) and kills what is left at the end."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.processes: list[subprocess.Popen[bytes]] = []
        bin_dir = Path(sys.executable).parent
        self.finetune = bin_dir / "finetune"
        self.env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
                    "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])),
                    "FINETUNE_JOB_STALE_AFTER_S": str(STALE_AFTER_S)}
        self.env.pop("REDIS_URL", None)

    def start(self, root: Path, redis_url: str, *, database_url: str | None = None, queues: str = "default",
              burst: bool = False, name: str | None = None, reap_interval_s: float = 0.5) -> subprocess.Popen[bytes]:
        if not self.finetune.exists():
            pytest.skip(f"no finetune console script next to {sys.executable}")
        command = [str(self.finetune), "--workspace", str(root)]
        if database_url:
            command += ["--database-url", database_url]
        command += ["worker", "--queues", queues, "--redis-url", redis_url, "--import", "kits.worker_jobs",
                    "--reap-interval", str(reap_interval_s)]
        if burst:
            command.append("--burst")
        if name:
            command += ["--name", name]
        log = open(self.logs / f"worker-{len(self.processes)}.log", "wb")  # noqa: SIM115 - the process keeps it
        process = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        log.close()
        self.processes.append(process)
        return process

    def run_burst(self, root: Path, redis_url: str, *, timeout_s: float = PROCESS_WAIT_S,
                  **options: object) -> None:
        process = self.start(root, redis_url, burst=True, **options)  # type: ignore[arg-type]
        assert process.wait(timeout_s) == 0, self.output()

    def kill(self, process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        """Signal the worker's group: the worker, its reaper and scheduler; a spawned work horse, in a group of
        its own, runs on (as after an out-of-memory kill of the worker alone)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        process.wait(PROCESS_WAIT_S)

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        """A warm shutdown (SIGTERM to the worker alone), as a process manager would do."""
        process.terminate()
        try:
            process.wait(PROCESS_WAIT_S)
        finally:
            self.kill(process)

    def output(self) -> str:
        return "\n".join(f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}"
                         for path in sorted(self.logs.glob("worker-*.log")))

    def close(self) -> None:
        """Kill every worker and whatever still runs below it (a work horse in a group of its own included)."""
        for process in self.processes:
            kill_tree(process, timeout_s=PROCESS_WAIT_S)
