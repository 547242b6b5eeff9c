"""Event streams on `finetune serve` as it starts by default (one gevent worker), over real sockets.

500 clients follow job events and training logs while other clients use the API: every stream is live at
once, every ordinary request is answered, one new event reaches every stream of its job, and when the clients
hang up the server's sockets go back to what they were. The keep-alive is set far beyond the test's
waits (FINETUNE_STREAM_KEEPALIVE_S), so a socket can only be freed because the server noticed the client left,
not because a keep-alive write failed. The jobs that this server runs itself (no Redis) run on native threads
beside the streams: a whole pipeline is followed live over its streams.
"""

from __future__ import annotations

import asyncio
import io
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from finetune_core.domain import JobStatus, utcnow
from finetune_core.services import jobs
from finetune_core.testing import open_test_workspace
from finetune_core.workspace import Workspace
from kits.live_server import LiveServer, finetune_serve, open_sockets, wait_until

STREAMS = 500
TRAINING_STREAMS = 100  # of the STREAMS: a project's training log, before any run
READS = 200
PASSWORD = "a long enough password"
WAIT_S = 120  # a bound on each wait for the server, never a pace
KEEPALIVE_S = "600"  # never within the test: only a noticed hang-up frees a socket


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """The server's database: SQLite in its workspace, or PostgreSQL (psycopg under gevent)."""
    return str(request.getfixturevalue("postgres_url")) if request.param == "postgresql" else None


@pytest.fixture
def live(tmp_path: Path, database_url: str | None) -> Iterator[LiveServer]:
    env = {"FINETUNE_STREAM_KEEPALIVE_S": KEEPALIVE_S, **({"FINETUNE_DATABASE_URL": database_url} if database_url
                                                          else {})}
    with finetune_serve(tmp_path, env=env) as server:
        yield server


def sign_in(base: str) -> str:
    with httpx.Client(base_url=base, timeout=60) as http:
        assert http.post("/api/auth/register", json={"email": "streams@example.com",
                                                     "password": PASSWORD}).status_code == 201
        tokens = http.post("/api/auth/login", data={"username": "streams@example.com", "password": PASSWORD})
        return str(tokens.json()["access_token"])


def running_job(workspace: Workspace, project_id: str) -> str:
    """A job recorded as running, as a worker would leave it between two events."""
    job = jobs.new_job("fine_tune", project_id=project_id)
    with workspace.unit_of_work() as uow:
        uow.jobs.add(job)
        assert uow.jobs.claim(job.id, stale_before=utcnow())
    return job.id


class Stream:
    """One client's open event stream, read raw (HTTP/1.1, chunked) off its socket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.seen = reader, writer, b""

    @classmethod
    async def open(cls, port: int, path: str, token: str) -> Stream:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
                     "Accept: text/event-stream\r\n\r\n".encode())
        await writer.drain()
        stream = cls(reader, writer)
        await stream.until(b": stream open")
        assert stream.seen.startswith(b"HTTP/1.1 200"), stream.seen[:200]
        return stream

    async def until(self, text: bytes) -> None:
        while text not in self.seen:
            data = await asyncio.wait_for(self.reader.read(4096), WAIT_S)
            assert data, f"the server closed the stream before {text!r}: {self.seen[-300:]!r}"
            self.seen += data

    def hang_up(self) -> None:
        self.writer.transport.abort()  # as a closed browser tab: no goodbye


async def open_streams(port: int, token: str, paths: list[str]) -> list[Stream]:
    return list(await asyncio.gather(*(Stream.open(port, path, token) for path in paths)))


def reads(base: str, token: str, project_id: str) -> list[float]:
    """READS ordinary requests, one after another; each must be answered (a 30 s bound, never reached)."""
    latencies = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        for number in range(READS):
            path = "/api/projects" if number % 2 else f"/api/projects/{project_id}"
            start = time.perf_counter()
            answer = http.get(path)
            latencies.append(time.perf_counter() - start)
            assert answer.status_code == 200, answer.text
    return latencies


def test_500_streams_leave_the_api_answering_and_free_their_sockets_when_clients_leave(
        live: LiveServer, tmp_path: Path, database_url: str | None) -> None:
    token = sign_in(live.base)
    with httpx.Client(base_url=live.base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        project_ids = [http.post("/api/projects", json={"name": f"dashboard {n}"}).json()["id"] for n in range(2)]
    with open_test_workspace(tmp_path / "ws", database_url=database_url) as workspace:  # as a worker sees it
        job_ids = [running_job(workspace, project_ids[0]) for _ in range(2)]
        [worker] = live.worker_pids()
        baseline = open_sockets(worker)
        port = urlsplit(live.base).port or 0
        paths = [f"/api/jobs/{job_ids[n % 2]}/events/stream" for n in range(STREAMS - TRAINING_STREAMS)]
        paths += [f"/api/projects/{project_ids[1]}/train/logs/stream"] * TRAINING_STREAMS

        async def scenario() -> list[float]:
            streams = await open_streams(port, token, paths)
            assert open_sockets(worker) >= baseline + STREAMS  # all of them open at once, each being served
            latencies = await asyncio.to_thread(reads, live.base, token, project_ids[0])
            with workspace.unit_of_work() as uow:
                event = uow.jobs.add_event(job_ids[0], "log", {"message": "to every dashboard"})
            followers = [stream for stream, path in zip(streams, paths, strict=True) if job_ids[0] in path]
            await asyncio.gather(*(stream.until(f"id: {event.seq}\nevent: log".encode()) for stream in followers))
            for stream in streams:
                stream.hang_up()
            return latencies

        latencies = asyncio.run(scenario())
        wait_until(lambda: open_sockets(worker) <= baseline + 2, "the server to close the streams' sockets",
                   timeout=60, every=0.05)
        assert jobs.get_job(workspace, job_ids[0]).status is JobStatus.RUNNING  # hanging up cancels nothing
    print(f"\n{READS} reads beside {STREAMS} streams: p50 {1000 * statistics.median(latencies):.0f} ms, "
          f"max {1000 * max(latencies):.0f} ms")


def follow(http: httpx.Client, job_id: str) -> list[str]:
    """The job's event stream read to its end, over HTTP: the events' names."""
    names = []
    with http.stream("GET", f"/api/jobs/{job_id}/events/stream", timeout=httpx.Timeout(30, read=300)) as answer:
        assert answer.status_code == 200
        for line in answer.iter_lines():
            if line.startswith("event: "):
                names.append(line.removeprefix("event: "))
    return names


def test_a_pipeline_runs_in_the_server_and_is_followed_live(live: LiveServer) -> None:
    token = sign_in(live.base)
    notes = "# Tea\n\n" + "Green tea is steamed or pan-fired soon after picking, which keeps it green. " * 40
    with httpx.Client(base_url=live.base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        project_id = http.post("/api/projects", json={"name": "tea"}).json()["id"]
        uploaded = http.post(f"/api/projects/{project_id}/files/upload",
                             files={"files": ("tea.md", io.BytesIO(notes.encode()), "text/markdown")})
        assert uploaded.status_code == 201, uploaded.text
        steps = [uploaded.json()["job_id"]]
        assert follow(http, steps[0])[-1] == "complete"
        for path, body in ((f"/api/projects/{project_id}/chunks/generate", {}),
                           (f"/api/projects/{project_id}/dataset/generate", {"generator": "extractive"})):
            started = http.post(path, json=body)
            assert started.status_code == 202, started.text
            steps.append(started.json()["job_id"])
            assert follow(http, steps[-1])[-1] == "complete", http.get(f"/api/jobs/{steps[-1]}").text
        assert [http.get(f"/api/jobs/{job_id}").json()["status"] for job_id in steps] == ["success"] * 3
        examples = http.get(f"/api/projects/{project_id}/dataset/examples").json()
        assert examples["total"] > 0 and "tea" in str(examples["items"][0]).lower()
