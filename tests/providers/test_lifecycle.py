"""Whole generation jobs through the core with `openai-compatible` against a real local HTTP server.

Success, 429 storms honouring Retry-After, 5xx, timeouts and dropped connections recovered by
retries, a refused key stopping the job fast, requests that fail every retry (stored as
`generation_failed`, retried by the next run), cancel and resume, a crashed server and resume.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from finetune_core import GenerationResult, JobStatus, Workspace
from finetune_core.jobs import InProcessRunner
from finetune_core.services import jobs as jobs_service
from finetune_core.testing import made_up_text, open_test_workspace
from finetune_providers import sum_usage
from kits.chat_completions import Action, Call, chat_server, generated, stored_keys, text_project

FAST_RETRIES = {"retry_initial_s": 0.01, "retry_max_s": 0.05}


STALL_S = 30.0  # a reply later than any client timeout here (the server's thread just sleeps)

def _settings(url: str, **extra: Any) -> dict[str, Any]:
    return {"base_url": url, "concurrency": 8, "extra": {**FAST_RETRIES, **extra}}


def _assert_exactly_once(ws: Workspace, project_id: str, expected: int) -> None:
    examples = generated(ws, project_id)
    pairs = Counter((example.request_key, example.position) for example in examples)
    assert [pair for pair, count in pairs.items() if count > 1] == []
    assert len(examples) == expected


def test_a_run_stores_every_example_grounded_in_its_chunk(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project_id = text_project(ws, "ok", 10)
    with chat_server() as server:
        job = ws.generate(project_id, target=20, examples_per_chunk=2, settings=_settings(server.url))
    summary = job.result_summary
    assert (summary["generator"], summary["requests"], summary["failed_requests"]) == ("openai-compatible", 10, 0)
    assert summary["valid"] == 20, summary["validation_errors"]
    _assert_exactly_once(ws, project_id, 20)
    chunks = {chunk.id: chunk.content for chunk in ws.chunks(project_id, limit=None)}
    for example in generated(ws, project_id):
        assert example.generator == "openai-compatible"
        assert example.evidence and example.evidence in chunks[example.chunk_id]  # type: ignore[index]
    # the wire: one POST per request to /v1/chat/completions, system + user, no key, no JSON mode by default
    assert len(server.calls) == 10
    for call in server.calls:
        assert call.path == "/v1/chat/completions"
        assert call.body["model"] == "fake-model"
        assert [m["role"] for m in call.body["messages"]] == ["system", "user"]
        assert call.body["temperature"] == 0.7
        assert "response_format" not in call.body
        assert "authorization" not in call.headers
    assert {call.passage for call in server.calls} == {made_up_text(i).strip() for i in range(10)}


def test_json_mode_key_and_keep_alive_on_request(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project_id = text_project(ws, "wire", 4)
    ws.set_key("openai-compatible", "local-secret")  # the generator's key_provider: the core passes it on
    with chat_server() as server:
        ws.generate(project_id, target=4, examples_per_chunk=1, settings={
            **_settings(server.url, json_mode=True, max_tokens=300), "concurrency": 1})
    assert len(server.calls) == 4
    for call in server.calls:
        assert call.body["response_format"] == {"type": "json_object"}
        assert call.body["max_tokens"] == 300
        assert call.headers.get("authorization") == "Bearer local-secret"
    # one connection, kept alive: every request came on the same socket (no new handshake)
    assert len({call.peer for call in server.calls}) == 1


def test_a_429_storm_honours_retry_after_and_every_example_is_stored(
        finetune_workspace: Workspace, recording: list[GenerationResult]) -> None:
    ws = finetune_workspace
    project_id = text_project(ws, "storm", 8)

    def decide(call: Call) -> Action:
        if call.attempt == 1:  # everyone is turned away once with a 1 s Retry-After...
            return Action(429, {"Retry-After": "1"}, {"error": {"message": "Rate limit reached", "code": None}})
        if call.attempt == 2:  # ...and once more with OpenAI's millisecond header
            return Action(429, {"retry-after-ms": "150"}, {"error": {"message": "Rate limit reached"}})
        return Action()

    with chat_server(decide) as server:
        # a 5 s backoff would be used if Retry-After were ignored
        settings = _settings(server.url, retry_initial_s=10.0, retry_max_s=10.0)
        summary = ws.generate(project_id, target=16, examples_per_chunk=2, generator="recording-openai-compatible",
                              settings=settings).result_summary
    assert summary["failed_requests"] == 0
    _assert_exactly_once(ws, project_id, 16)
    assert len(server.calls) == 24 and len(server.answered) == 8
    by_key: dict[tuple[str, int], list[Call]] = {}
    for call in server.calls:
        by_key.setdefault(call.key, []).append(call)
    for calls in by_key.values():
        first, second, third = sorted(calls, key=lambda c: c.attempt)
        # the server's waits, not the 10 s backoff (upper bounds far from both, for a busy machine)
        assert 1.0 <= second.at - first.at < 9.0  # Retry-After: 1
        assert 0.15 <= third.at - second.at < 9.0  # retry-after-ms: 150
    usage = sum_usage(result.usage for result in recording)
    assert usage["requests"] == 24 and usage["retries"] == 16 and usage["rate_limited"] == 16
    assert usage["input_tokens"] == 8 * 100 and usage["output_tokens"] == 8 * 50
    assert "cost_usd" not in usage  # a local model has no price unless given one


@pytest.mark.parametrize("failure", ["5xx", "timeout", "dropped connection"])
def test_transient_failures_are_retried_until_success(finetune_workspace: Workspace,
                                                      recording: list[GenerationResult], failure: str) -> None:
    ws = finetune_workspace
    project_id = text_project(ws, "transient", 6)

    def decide(call: Call) -> Action:
        if call.attempt > 2:
            return Action()
        if failure == "5xx":
            return Action([500, 503][call.attempt - 1], body={"error": {"message": "upstream overloaded"}})
        if failure == "timeout":
            return Action(delay_s=STALL_S)  # never answered within the client's timeout
        return Action(drop=True)

    with chat_server(decide) as server:
        # only the stalled calls may time out: a timeout that a busy machine's quick answers never reach
        settings = {**_settings(server.url), **({"timeout_s": 2.0} if failure == "timeout" else {})}
        summary = ws.generate(project_id, target=6, examples_per_chunk=1, generator="recording-openai-compatible",
                              settings=settings).result_summary
    assert summary["failed_requests"] == 0 and summary["valid"] == 6
    _assert_exactly_once(ws, project_id, 6)
    assert Counter(call.attempt for call in server.calls) == {1: 6, 2: 6, 3: 6}
    usage = sum_usage(result.usage for result in recording)
    assert (usage["requests"], usage["retries"], usage["rate_limited"]) == (18, 12, 0)


def test_a_refused_key_fails_the_job_fast_with_a_clear_message(finetune_workspace: Workspace,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    ws = finetune_workspace
    secret = "sk-local-0123456789abcdefSECRET"
    monkeypatch.setenv("OPENAI_COMPATIBLE_API_KEY", secret)
    project_id = text_project(ws, "refused", 30)

    def decide(call: Call) -> Action:
        return Action(401, body={"error": {"message": f"Incorrect API key provided: {secret[:10]}...{secret[-4:]}",
                                           "code": "invalid_api_key"}})

    with chat_server(decide) as server:
        job = jobs_service.enqueue(ws, "dataset_generate", project_id=project_id, num_examples_target=60,
                                   examples_per_chunk=2, settings=_settings(server.url, retry_initial_s=5.0))
    assert job.status is JobStatus.FAILED
    assert job.error_message is not None
    assert job.error_message.startswith("the OpenAI-compatible server key was refused (401)")
    assert "OPENAI_COMPATIBLE_API_KEY" in job.error_message  # how to fix it
    assert all(call.attempt == 1 for call in server.calls)  # no retry, so no backoff
    assert len(server.calls) <= 8  # at most the requests already on the wire; the rest never left
    events = jobs_service.events(ws, job.id)
    for text in [job.error_message, *(str(event.data) for event in events)]:
        assert secret not in text and secret[-4:] not in text and secret[:10] not in text
    assert generated(ws, project_id) == []


def test_a_request_failing_every_retry_is_stored_failed_and_retried_by_the_next_run(
        finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project_id = text_project(ws, "flaky", 8)
    broken = {made_up_text(i).strip() for i in (1, 4, 6)}
    healed = False

    def decide(call: Call) -> Action:
        if call.passage in broken and not healed:
            return Action(503, body={"error": {"message": "model is loading"}})
        return Action()

    with chat_server(decide) as server:
        settings = _settings(server.url, max_retries=2)
        summary = ws.generate(project_id, target=16, examples_per_chunk=2, settings=settings).result_summary
        assert summary["failed_requests"] == 3
        assert Counter(call.passage in broken for call in server.calls) == {True: 9, False: 5}  # 3 x 3 attempts
        failed = [e for e in generated(ws, project_id) if "generation_failed" in e.validation_errors]
        assert len(failed) == 3 and {e.position for e in failed} == {-1}
        for example in failed:
            assert not example.is_valid
            assert example.metadata["error"] == ("OpenAI-compatible server: HTTP 503 (server error): model is "
                                                 "loading (gave up after 3 attempts)")
        failed_keys = {e.request_key for e in failed}
        assert ws.stats(project_id)["validation_errors"] == {"generation_failed": 3}

        healed = True
        server.reset()
        summary = ws.generate(project_id, target=16, examples_per_chunk=2, settings=settings).result_summary
    assert summary["failed_requests"] == 0 and summary["requests"] == 3
    assert {call.passage for call in server.calls} == broken  # only the failed requests ran again
    _assert_exactly_once(ws, project_id, 16)
    assert all(example.is_valid for example in generated(ws, project_id))
    assert failed_keys <= {example.request_key for example in generated(ws, project_id)}
    assert ws.stats(project_id)["validation_errors"] == {}


def test_cancel_mid_run_then_resume_loses_nothing_and_stores_nothing_twice(tmp_path: Path) -> None:
    ws = open_test_workspace(tmp_path / "threaded", runner=InProcessRunner(1))
    slow = True

    def decide(call: Call) -> Action:
        return Action(delay_s=0.5 if slow else 0.0)  # 24 requests two at a time: about 6 s, cancelled well before

    try:
        project_id = text_project(ws, "cancel", 24)
        with chat_server(decide) as server:
            job = jobs_service.enqueue(ws, "dataset_generate", project_id=project_id, num_examples_target=48,
                                       examples_per_chunk=2, settings={**_settings(server.url), "concurrency": 2})
            deadline = time.monotonic() + 120  # a bound, never a pace
            while not generated(ws, project_id):
                assert time.monotonic() < deadline, "nothing was stored"
                time.sleep(0.02)
            jobs_service.cancel_job(ws, job.id)
            finished = jobs_service.wait_for(ws, job.id, timeout_s=120, poll_s=0.02)
            assert finished.status is JobStatus.CANCELLED
            kept = generated(ws, project_id)
            assert 0 < len(kept) < 48
            kept_keys = stored_keys(ws, project_id)

            slow = False
            server.reset()
            ws.generate(project_id, target=48, examples_per_chunk=2, settings=_settings(server.url))
            asked_again = {call.key for call in server.calls}
        assert asked_again.isdisjoint(kept_keys), "the rerun asked again for requests already stored"
        assert len(asked_again) == 24 - len(kept_keys)
        _assert_exactly_once(ws, project_id, 48)
        assert {e.id for e in kept} <= {e.id for e in generated(ws, project_id)}
    finally:
        ws.close()


def test_a_crashed_server_fails_the_rest_and_the_next_run_completes(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project_id = text_project(ws, "crash", 12)
    state = {"down": False, "served": 0}

    def decide(call: Call) -> Action:
        if state["down"]:
            return Action(drop=True)  # the server died: every connection is cut without an answer
        state["served"] += 1
        if state["served"] >= 4:
            state["down"] = True
        return Action(delay_s=0.05)

    with chat_server(decide) as server:
        settings = {**_settings(server.url, max_retries=2), "concurrency": 2}
        summary = ws.generate(project_id, target=24, examples_per_chunk=2, settings=settings).result_summary
        served = len(server.answered)
        assert 4 <= served < 12
        assert summary["failed_requests"] == 12 - served
        survivors = stored_keys(ws, project_id)
        assert len(survivors) == 12  # answered requests and failed ones are all on record
        ok_before = {e.request_key for e in generated(ws, project_id) if e.is_valid}
        assert len(ok_before) == served

        state["down"] = False
        state["served"] = -1000  # restarted: healthy for good
        server.reset()
        summary = ws.generate(project_id, target=24, examples_per_chunk=2, settings=settings).result_summary
    assert summary["failed_requests"] == 0 and summary["requests"] == 12 - served
    assert {e.request_key for e in generated(ws, project_id) if e.is_valid} >= ok_before
    _assert_exactly_once(ws, project_id, 24)
    assert all(example.is_valid for example in generated(ws, project_id))


def test_the_openai_sdk_generator_runs_a_job_against_the_same_server(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project_id = text_project(ws, "sdk", 5)
    ws.set_key("openai", "sk-test-0123456789abcdef0123")
    with chat_server() as server:
        summary = ws.generate(project_id, target=10, examples_per_chunk=2, generator="openai", settings={
            "base_url": server.url, "model": "gpt-4o-mini", "concurrency": 4}).result_summary
    assert summary["valid"] == 10 and summary["failed_requests"] == 0
    _assert_exactly_once(ws, project_id, 10)
    for call in server.calls:
        assert call.headers["authorization"] == "Bearer sk-test-0123456789abcdef0123"
        assert call.body["response_format"] == {"type": "json_object"}
        assert call.headers.get("x-stainless-retry-count") == "0"


def test_requests_per_minute_pace_the_whole_run(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project_id = text_project(ws, "paced", 12)
    with chat_server() as server:
        settings = {**_settings(server.url), "requests_per_minute": 600}  # 10 a second, 8 allowed in flight
        ws.generate(project_id, target=12, examples_per_chunk=1, settings=settings)
    starts = sorted(call.at for call in server.calls)
    assert len(starts) == 12
    assert starts[-1] - starts[0] >= 11 * 0.1 * 0.8  # not one burst of 8
    window = 0.5
    busiest = max(sum(1 for t in starts if s <= t < s + window) for s in starts)
    assert busiest <= 5 + 1  # 10/s over 0.5 s, with one request of tolerance
    _assert_exactly_once(ws, project_id, 12)
