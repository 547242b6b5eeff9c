"""Jobs against real servers on 127.0.0.1 tell the truth: what failed, what was partial, and cancel that cancels.

A run whose every request fails (a web page where the API should be) ends `failed` with the error and
its counts; one where some fail ends `success` marked partial, with a message. A server that accepts
the connection and never answers cannot hold a job: a cancel ends it `cancelled` within seconds, for
every provider client, and the client closes its connections; what was stored before stays stored.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from finetune_core import JobStatus, Workspace
from finetune_core.domain import Example, Job, Message
from finetune_core.jobs import InProcessRunner
from finetune_core.services import jobs as jobs_service
from finetune_core.testing import made_up_text, open_test_workspace
from finetune_providers._retry import RetryPolicy, TransientError, with_retries
from finetune_providers.testing import answer
from kits.chat_completions import Action, Call, chat_server, generated, stored_keys, text_project

FAST_RETRIES = {"retry_initial_s": 0.01, "retry_max_s": 0.05}
WEB_PAGE = b"<!DOCTYPE html><html><head><title>Open WebUI</title></head><body>Sign in</body></html>"
# a bound for a busy machine, never a pace; below the clients' 120 s request timeout, so a silent server's job
# that ends within it was ended by the cancel interrupting its requests, not by a timeout
DEADLINE_S = 60.0


def _settings(url: str, *, concurrency: int = 4, **extra: Any) -> dict[str, Any]:
    return {"base_url": url, "concurrency": concurrency, "extra": {**FAST_RETRIES, **extra}}


def _wait_until(condition: Callable[[], bool], what: str, timeout_s: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what} after {timeout_s} s"
        time.sleep(0.02)


# --- (a) a job that made nothing fails; a partial one says so ----------------------------------------------------

def test_every_request_answered_with_a_web_page_fails_the_job_with_the_error_and_the_counts(
        finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project_id = text_project(ws, "html", 4)
    with chat_server(lambda call: Action(200, body=WEB_PAGE)) as server:
        job = jobs_service.enqueue(ws, "dataset_generate", project_id=project_id, num_examples_target=8,
                                   examples_per_chunk=2, settings=_settings(server.url, max_retries=2))
        assert len(server.calls) == 4 * 3  # every request, each retried twice
    assert job.status is JobStatus.FAILED
    page = WEB_PAGE.decode()[:80]  # the start of the page, for the user to see what answered
    error = (f"OpenAI-compatible server: malformed response (HTTP 200, not a JSON object: {page!r}) "
             "(gave up after 3 attempts)")
    assert job.error_message == f"no example generated: all 4 requests failed with: {error}"
    summary = job.result_summary
    assert (summary["requests"], summary["failed_requests"], summary["new_examples"]) == (4, 4, 0)
    assert (summary["requested"], summary["total_generated"], summary["partial"]) == (8, 0, True)
    assert summary["errors"] == {error: 4}
    last = jobs_service.events(ws, job.id)[-1]
    assert (last.type, last.data["message"], last.data["result_summary"]) == ("error", job.error_message, summary)
    # nothing usable was stored; each failed request is on record, for the next run to retry
    assert [example.validation_errors for example in generated(ws, project_id)] == [["generation_failed"]] * 4


def test_some_requests_failing_is_a_partial_success_and_a_rerun_completes_then_has_nothing_left(
        finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project_id = text_project(ws, "partial", 6)
    broken = {made_up_text(i).strip() for i in (2, 5)}
    healed = False

    def decide(call: Call) -> Action:
        if call.passage in broken and not healed:
            return Action(500, body={"error": {"message": "CUDA out of memory"}})
        return Action()

    with chat_server(decide) as server:
        settings = _settings(server.url, max_retries=1)
        first = ws.generate(project_id, target=12, examples_per_chunk=2, settings=settings)
        healed = True
        second = ws.generate(project_id, target=12, examples_per_chunk=2, settings=settings)
        server.reset()
        third = ws.generate(project_id, target=12, examples_per_chunk=2, settings=settings)
        assert server.calls == []  # nothing left to ask

    assert first.status is JobStatus.SUCCESS
    summary = first.result_summary
    assert (summary["partial"], summary["requested"], summary["total_generated"]) == (True, 12, 8)
    assert (summary["requests"], summary["failed_requests"], summary["new_examples"]) == (6, 2, 8)
    error = "OpenAI-compatible server: HTTP 500 (server error): CUDA out of memory (gave up after 2 attempts)"
    assert summary["message"] == (f"8 of 12 examples generated (8 new from 6 requests); 2 of 6 requests failed "
                                  f"with: {error}; a rerun retries them")
    complete = jobs_service.events(ws, first.id)[-1]
    assert (complete.type, complete.data["message"]) == ("complete", summary["message"])

    assert (second.result_summary["partial"], second.result_summary["new_examples"]) == (False, 4)
    assert second.result_summary["message"] == "12 of 12 examples generated (4 new from 2 requests)"
    assert (third.status, third.result_summary["requests"], third.result_summary["partial"]) == (
        JobStatus.SUCCESS, 0, False)
    assert third.result_summary["message"] == "nothing left to do: the 12 examples asked for are already generated"
    assert len(generated(ws, project_id)) == 12 and all(e.is_valid for e in generated(ws, project_id))


# --- (b) cancel interrupts requests in flight, whatever the server does ------------------------------------------

class SilentServer:
    """HTTP/1.1 on 127.0.0.1 that reads every request and answers only the first `answered` ones (as the fake
    Chat Completions model does); the others are never answered. It counts the connections it accepted and
    those the client closed."""

    def __init__(self, answered: int = 0) -> None:
        self.answered = answered
        self.requests = 0  # received in full
        self.accepted = 0
        self.closed = 0  # closed by the client
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/v1"

    @property
    def hanging(self) -> int:
        with self._lock:
            return max(0, self.requests - self.answered)

    @property
    def open(self) -> int:
        with self._lock:
            return self.accepted - self.closed

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                self._connections.append(connection)
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        pending = b""
        with suppress(OSError):
            while True:
                while b"\r\n\r\n" not in pending:
                    data = connection.recv(65536)
                    if not data:
                        raise ConnectionResetError  # the client closed the connection
                    pending += data
                head, _, pending = pending.partition(b"\r\n\r\n")
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(pending) < length:
                    data = connection.recv(65536)
                    if not data:
                        raise ConnectionResetError
                    pending += data
                body, pending = pending[:length], pending[length:]
                with self._lock:
                    self.requests += 1
                    answer_it = self.requests <= self.answered
                if answer_it:
                    payload = json.dumps(answer(json.loads(body))).encode()
                    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                       b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload))
        if not self._stopping.is_set():
            with self._lock:
                self.closed += 1

    def stop(self) -> None:
        self._stopping.set()
        self._listener.close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()
        self._thread.join(5)


@contextmanager
def silent_server(answered: int = 0) -> Iterator[SilentServer]:
    server = SilentServer(answered)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def threaded(tmp_path: Path) -> Iterator[Workspace]:
    """A workspace whose jobs run on a thread, so the test can cancel them while they run."""
    ws = open_test_workspace(tmp_path / "threaded", runner=InProcessRunner(1))
    try:
        yield ws
    finally:
        ws.close()


def _cancel_and_wait(ws: Workspace, job: Job, server: SilentServer, in_flight: int) -> Job:
    """Once `in_flight` requests hang on the server, cancel the job; the job once finished (within DEADLINE_S)."""
    _wait_until(lambda: server.hanging >= in_flight, f"{in_flight} requests hanging on the server")
    assert jobs_service.get_job(ws, job.id).status is JobStatus.RUNNING
    jobs_service.cancel_job(ws, job.id)
    return jobs_service.wait_for(ws, job.id, timeout_s=DEADLINE_S, poll_s=0.05)


KEYS = {"openai": "sk-test-0123456789abcdef0123", "anthropic": "sk-ant-api03-TESTKEY0123456789abcdefghij",
        "mistral": "0123456789abcdefABCDEF0123456789"}


@pytest.mark.parametrize("generator", ["openai-compatible", "openai", "anthropic", "mistral"])
def test_cancel_ends_a_generation_whose_server_never_answers_and_closes_its_connections(
        threaded: Workspace, generator: str) -> None:
    ws = threaded
    project_id = text_project(ws, "silent", 6)
    if generator in KEYS:
        ws.set_key(generator, KEYS[generator])
    with silent_server() as server:
        job = jobs_service.enqueue(ws, "dataset_generate", project_id=project_id, num_examples_target=12,
                                   examples_per_chunk=2, generator=generator,
                                   settings={**_settings(server.url), "model": "fake-model"})
        finished = _cancel_and_wait(ws, job, server, in_flight=4)
        assert finished.status is JobStatus.CANCELLED, finished.error_message
        _wait_until(lambda: server.open == 0, "the client to close its connections")
        assert server.accepted >= 4 and server.requests == 4  # the 4 slots; nothing was sent after the cancel
    kinds = [event.type for event in jobs_service.events(ws, job.id)]
    assert kinds[-1] == "log" and jobs_service.events(ws, job.id)[-1].data["message"] == "cancelled"
    assert generated(ws, project_id) == []


def test_what_was_stored_before_a_cancel_stays_and_a_rerun_asks_only_for_the_rest(threaded: Workspace) -> None:
    ws = threaded
    project_id = text_project(ws, "resumable", 8)
    with silent_server(answered=3) as server:  # three answers, then silence
        job = jobs_service.enqueue(ws, "dataset_generate", project_id=project_id, num_examples_target=16,
                                   examples_per_chunk=2, settings=_settings(server.url, concurrency=2))
        assert _cancel_and_wait(ws, job, server, in_flight=2).status is JobStatus.CANCELLED
        _wait_until(lambda: server.open == 0, "the client to close its connections")
    kept = stored_keys(ws, project_id)
    assert len(kept) == 3 and len(generated(ws, project_id)) == 6

    with chat_server() as healthy:
        rerun = ws.generate(project_id, target=16, examples_per_chunk=2, settings=_settings(healthy.url))
        asked = {call.key for call in healthy.calls}
    assert asked.isdisjoint(kept) and len(asked) == 5
    assert rerun.result_summary["new_examples"] == 10 and len(generated(ws, project_id)) == 16


def test_cancel_ends_a_judge_job_whose_server_never_answers(threaded: Workspace) -> None:
    ws = threaded
    project = ws.create_project("judged")
    with ws.unit_of_work() as uow:
        uow.examples.add([Example(project_id=project.id, request_key=f"m:{i}", split="train",
                                   messages=[Message(role="user", content=f"Question {i}?"),
                                             Message(role="assistant", content=f"Answer number {i}.")])
                           for i in range(6)])
    with silent_server(answered=1) as server:  # one verdict, then silence
        job = jobs_service.enqueue(ws, "dataset_judge", project_id=project.id, chat_model="openai-compatible",
                                   settings={"base_url": server.url, "model": "judge-model", "concurrency": 3})
        assert _cancel_and_wait(ws, job, server, in_flight=3).status is JobStatus.CANCELLED
        _wait_until(lambda: server.open == 0, "the client to close its connections")
    scores = Counter(example.judge_score is not None for example in ws.examples(project.id))
    assert scores == {True: 1, False: 5}  # the verdict that came back was stored before the cancel


# --- the shared retry loop lets a cancel through ---------------------------------------------------------------------

def test_a_cancel_goes_through_the_retry_loop_during_an_attempt_and_during_a_backoff() -> None:
    policy = RetryPolicy(max_attempts=5, initial_s=60.0, max_s=60.0)

    async def scenario(fail_first: bool) -> int:
        attempts = 0
        started = asyncio.Event()

        async def attempt() -> str:
            nonlocal attempts
            attempts += 1
            started.set()
            if fail_first:
                raise TransientError("HTTP 503 (server error)")  # then a 30-60 s backoff
            await asyncio.get_running_loop().create_future()  # an answer that never comes
            return "never"

        task = asyncio.create_task(with_retries(attempt, policy, rng=random.Random(1)))
        await started.wait()
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=5)
        return attempts

    assert asyncio.run(scenario(fail_first=False)) == 1
    assert asyncio.run(scenario(fail_first=True)) == 1
