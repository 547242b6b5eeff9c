"""One watcher per server process tells each open event stream when its job has news, or its client left.

Without it every open stream would ask the database about its job twice a second: 500 dashboards, 1,000
queries a second, and the ordinary requests wait behind them. The feed asks once per tick for every job
followed (`jobs.progress`: one query per 500 jobs) and wakes only the streams whose job moved on, ended or
went away; those read their events themselves. In the same tick it polls the streams' sockets, so a client
that hung up is noticed within a tick and its stream ends, freeing its socket, instead of at its next
keep-alive write.

    follower = feed.follow(connection)      # connection: the client's socket (gunicorn's), None in tests
    follower.watch(job_id, after_seq)       # once the stream knows its job; again after each batch it sent
    follower.wait(timeout)                  # True when there may be news (or the client is gone)
    feed.leave(follower)
"""

from __future__ import annotations

import _socket
import logging
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from finetune_core.services import jobs

from finetune_web.green import system_poll

if TYPE_CHECKING:
    from finetune_core.workspace import Workspace

log = logging.getLogger(__name__)
TICK_S = 0.5
HUNG_UP = select.POLLHUP | select.POLLERR | select.POLLNVAL | getattr(select, "POLLRDHUP", 0)


@dataclass(eq=False)
class Follower:
    """One open stream: the job it follows (None until known), the last seq it sent, its client's socket."""

    connection: socket.socket | None
    job_id: str | None = None
    after_seq: int = 0
    gone: bool = False
    news: threading.Event = field(default_factory=threading.Event)

    def watch(self, job_id: str, after_seq: int) -> None:
        self.job_id, self.after_seq = job_id, after_seq

    def wait(self, timeout: float) -> bool:
        """Block until the feed says there may be news, or `timeout` seconds; False when nothing came."""
        woken = self.news.wait(timeout)
        self.news.clear()
        return woken


def hung_up(connections: list[socket.socket]) -> set[int]:
    """The file descriptors among `connections` whose peer closed or reset (a poll that never blocks)."""
    poller = system_poll()
    for connection in connections:
        poller.register(connection.fileno(), select.POLLIN | HUNG_UP)
    closed: set[int] = set()
    for fd, events in poller.poll(0):
        if events & HUNG_UP or (events & select.POLLIN and not peek(fd)):
            closed.add(fd)
    return closed


def peek(fd: int) -> bytes:
    """A byte the client sent, left in place; b"" when it closed its side (or the socket failed)."""
    probe = _socket.socket(fileno=fd)  # the C socket: gevent's would switch the descriptor to non-blocking
    try:
        return probe.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return b"?"  # nothing after all: still open
    except OSError:
        return b""
    finally:
        probe.detach()  # the descriptor stays the server's


class EventFeed:
    """The process's one watcher over the jobs its streams follow (its thread starts with the first stream)."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._followers: set[Follower] = set()
        self._lock = threading.Lock()
        self._someone = threading.Event()
        self._thread: threading.Thread | None = None

    def follow(self, connection: Any = None) -> Follower:
        follower = Follower(connection if isinstance(connection, socket.socket) else None)
        with self._lock:
            self._followers.add(follower)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="finetune-event-feed", daemon=True)
                self._thread.start()
        self._someone.set()
        return follower

    def leave(self, follower: Follower) -> None:
        with self._lock:
            self._followers.discard(follower)
            if not self._followers:
                self._someone.clear()

    def tick(self) -> None:
        """Wake the followers whose job has news, ended or was deleted, and those whose client hung up."""
        with self._lock:
            followers = list(self._followers)
        connections = [follower.connection for follower in followers if follower.connection is not None]
        closed = hung_up(connections) if connections else set()
        following = [follower for follower in followers if follower.job_id is not None]
        progress = jobs.progress(self.workspace, {follower.job_id for follower in following if follower.job_id})
        for follower in followers:
            if follower.connection is not None and follower.connection.fileno() in closed:
                follower.gone = True
                follower.news.set()
        for follower in following:
            found = progress.get(follower.job_id or "")
            if found is None or found.finished or found.last_seq > follower.after_seq:
                follower.news.set()

    def _run(self) -> None:
        while True:
            self._someone.wait()
            try:
                self.tick()
            except Exception:  # the database is away for a moment: the streams' own checks still run
                log.warning("the event feed could not read the jobs' progress", exc_info=True)
            time.sleep(TICK_S)
