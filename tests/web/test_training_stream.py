"""GET /api/projects/{id}/train/logs/stream: the latest run's job events as finetuneflow's Server-Sent Events.

Read with the Flask test client: whole (`get_data`) for a run that has ended, chunk by chunk
(`buffered=False`, `response.response`) for one that is live or not started yet.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from finetune_core.services import training_runs
from finetune_core.workspace import Workspace
from finetune_web import event_feed, sse
from flask import Flask
from flask.testing import FlaskClient
from kits.scripted_trainer import Script, dataset_project, loss
from kits.web_api import Account, assert_error, parse_stream

Event = dict[str, Any]


def parse(text: str) -> list[Event]:
    return parse_stream(text)  # type: ignore[return-value]


def named(events: list[Event], *names: str) -> list[Event]:
    return [event for event in events if event["event"] in names]


@pytest.fixture
def project_id(client: FlaskClient, alice: Account, workspace: Workspace) -> str:
    return dataset_project(client, alice, workspace)


@pytest.fixture
def fast_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sse, "POLL_S", 0.01)
    monkeypatch.setattr(event_feed, "TICK_S", 0.01)
    monkeypatch.setattr(sse, "HEARTBEAT_S", 0.05)


def stream_url(project_id: str) -> str:
    return f"/api/projects/{project_id}/train/logs/stream"


def train(client: FlaskClient, account: Account, project_id: str) -> dict[str, Any]:
    started = client.post(f"/api/projects/{project_id}/train/start", json={"trainer": "scripted"},
                          headers=account.headers)
    assert started.status_code == 202, started.get_json()
    body: dict[str, Any] = started.get_json()
    return body


def test_an_ended_run_streams_finetuneflows_events_in_order(client: FlaskClient, alice: Account,
                                                            scripted: type[Script], project_id: str) -> None:
    train(client, alice, project_id)
    response = client.get(stream_url(project_id), headers=alice.headers)
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    events = parse(response.get_data(as_text=True))
    assert [event["id"] for event in events] == list(range(1, len(events) + 1))
    assert [event["event"] for event in named(events, "log", "eval", "checkpoint", "complete", "error")] == [
        "log", "log", "eval", "checkpoint", "log", "log", "complete"]
    assert {event["event"] for event in events} == {"log", "progress", "eval", "checkpoint", "complete"}

    logs = named(events, "log")
    assert logs[0]["data"] == {"step": 1, "train_loss": loss(1), "learning_rate": 2e-4, "epoch": 0.25}
    assert named(events, "eval")[0]["data"] == {"step": 2, "eval_loss": 1.5, "perplexity": 4.4817}
    assert named(events, "checkpoint")[0]["data"] == {"step": 2, "path": "checkpoint-2"}
    complete = events[-1]["data"]
    assert complete["status"] == "success" and complete["final_train_loss"] == loss(4)
    assert isinstance(complete["duration_seconds"], float) and complete["final_eval_loss"] is None

    progress = named(events, "progress")
    assert all(set(event["data"]) == {"progress_pct", "message"} for event in progress)
    steps = [event["data"] for event in progress if event["data"]["message"].startswith("Step ")]
    assert steps == [{"progress_pct": 25.0, "message": "Step 1/4"}, {"progress_pct": 50.0, "message": "Step 2/4"},
                     {"progress_pct": 75.0, "message": "Step 3/4"}, {"progress_pct": 100.0, "message": "Step 4/4"}]
    messages = [event["data"]["message"] for event in progress]
    assert messages[:3] == ["fine_tune started", "status: preparing", "training lora for 4 steps"]
    assert progress[0]["data"]["progress_pct"] == 0.0 and progress[-1]["data"]["progress_pct"] == 100.0
    assert messages[-1] == "training completed"


def test_last_event_id_resumes_after_what_was_seen(client: FlaskClient, alice: Account, scripted: type[Script],
                                                   project_id: str) -> None:
    train(client, alice, project_id)
    everything = parse(client.get(stream_url(project_id), headers=alice.headers).get_data(as_text=True))
    second_log = named(everything, "log")[1]["id"]
    resumed = client.get(stream_url(project_id), headers={**alice.headers, "Last-Event-ID": str(second_log)})
    rest = parse(resumed.get_data(as_text=True))
    assert [event["id"] for event in rest] == [event["id"] for event in everything if event["id"] > second_log]
    assert rest == [event for event in everything if event["id"] > second_log]  # the same events, the same payloads
    by_query = client.get(f"{stream_url(project_id)}?last_event_id={everything[-1]['id']}", headers=alice.headers)
    assert parse(by_query.get_data(as_text=True)) == []
    bad = client.get(stream_url(project_id), headers={**alice.headers, "Last-Event-ID": "later"})
    assert_error(bad, 400, "INVALID_LAST_EVENT_ID")


def test_a_resumed_stream_knows_the_progress_reached_before(client: FlaskClient, alice: Account,
                                                            scripted: type[Script], project_id: str) -> None:
    train(client, alice, project_id)
    everything = parse(client.get(stream_url(project_id), headers=alice.headers).get_data(as_text=True))
    registered = next(event for event in everything if event["data"].get("message", "").startswith("model "))
    resumed = parse(client.get(stream_url(project_id), headers={
        **alice.headers, "Last-Event-ID": str(registered["id"] - 1)}).get_data(as_text=True))
    assert resumed[0] == registered and registered["data"]["progress_pct"] == 100.0


def chunks(response: Any) -> Iterator[str]:
    for chunk in response.response:
        yield chunk.decode() if isinstance(chunk, bytes) else chunk


def read_until(stream: Iterator[str], last_event: str) -> str:
    text = ""
    for chunk in stream:
        text += chunk
        if f"event: {last_event}\n" in chunk:
            break
    return text


def test_the_stream_answers_before_any_run_and_follows_the_first_one(
        client: FlaskClient, alice: Account, scripted: type[Script], project_id: str, workspace: Workspace,
        fast_stream: None) -> None:
    response = client.get(stream_url(project_id), headers=alice.headers, buffered=False)
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    stream = chunks(response)
    assert next(stream) == ": stream open\n\n"
    assert next(stream) == ": keep-alive\n\n"  # no run yet: the stream stays open
    runner = threading.Thread(target=training_runs.start_training, args=(workspace, project_id),
                              kwargs={"trainer": "scripted", "owner_id": alice.id})
    runner.start()
    try:
        text = read_until(stream, "complete")
    finally:
        runner.join()
        response.close()
    events = parse(text)
    assert events[0]["id"] == 1
    assert [event["event"] for event in named(events, "log", "eval", "checkpoint", "complete")] == [
        "log", "log", "eval", "checkpoint", "log", "log", "complete"]


def test_a_live_run_cancelled_ends_its_stream_with_a_cancelled_error(
        app: Flask, client: FlaskClient, alice: Account, scripted: type[Script], project_id: str,
        workspace: Workspace, fast_stream: None) -> None:
    scripted.hold = threading.Event()
    runner = threading.Thread(target=training_runs.start_training, args=(workspace, project_id),
                              kwargs={"trainer": "scripted", "owner_id": alice.id})
    runner.start()
    assert scripted.started.wait(60)
    cancelled: list[dict[str, Any]] = []

    def cancel() -> None:
        answer = app.test_client().post(f"/api/projects/{project_id}/train/cancel", headers=alice.headers)
        cancelled.append(answer.get_json())

    response = client.get(stream_url(project_id), headers=alice.headers, buffered=False)
    try:
        stream = chunks(response)
        seen = read_until(stream, "progress")
        assert "keep-alive" not in seen
        canceller = threading.Thread(target=cancel)
        canceller.start()
        canceller.join()
        text = seen + "".join(stream)  # the stream ends by itself once the run has
    finally:
        scripted.hold.set()
        runner.join()
        response.close()
    # the answer is composed while the run stops: it may have stopped already (a busy machine lets it)
    assert cancelled[0]["status"] in ("running", "cancelled") and cancelled[0]["cancel_requested"] is True
    events = parse(text)
    assert named(events, "log") == []
    errors = named(events, "error")
    assert [event["data"]["status"] for event in errors] == ["cancelled"]
    assert events[-1]["event"] == "progress" and events[-1]["data"]["message"] == "cancelled"
    status = client.get(f"/api/projects/{project_id}/train/status", headers=alice.headers).get_json()
    assert (status["status"], status["fine_tune_status"]) == ("cancelled", "cancelled")


def test_a_failed_run_ends_with_a_failed_error(client: FlaskClient, alice: Account, scripted: type[Script],
                                               project_id: str) -> None:
    scripted.fail_at = 2
    train(client, alice, project_id)
    events = parse(client.get(stream_url(project_id), headers=alice.headers).get_data(as_text=True))
    assert events[-1] == {"id": events[-1]["id"], "event": "error",
                          "data": {"status": "failed", "error": "Scripted: CUDA out of memory"}}
    assert [event["data"]["step"] for event in named(events, "log")] == [1]


def test_a_worker_report_reaches_the_stream(make_app: Any, alice: Account, scripted: type[Script],
                                            project_id: str, workspace: Workspace,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from kits.scripted_trainer import HeldRunner

    monkeypatch.setattr(workspace, "runner", HeldRunner())
    client = make_app(worker_token="w" * 40).test_client()
    run = train(client, alice, project_id)
    worker = {"Authorization": "Bearer " + "w" * 40}
    client.patch(f"/api/finetune/{run['run_id']}/status?status_update=training&progress=40&logs=Epoch%202/5",
                 headers=worker)
    client.patch(f"/api/finetune/{run['run_id']}/status?current_step=Evaluating", headers=worker)
    client.patch(f"/api/finetune/{run['run_id']}/status?status_update=cancelled", headers=worker)
    client.post(f"/api/jobs/{run['job_id']}/cancel", headers=alice.headers)  # the job ends: so does the stream
    events = parse(client.get(stream_url(project_id), headers=alice.headers).get_data(as_text=True))
    assert [(event["event"], event["data"]) for event in events[:3]] == [
        ("progress", {"progress_pct": 40.0, "message": "Epoch 2/5"}),
        ("progress", {"progress_pct": 40.0, "message": "Evaluating"}),
        ("error", {"status": "cancelled", "error": "status: cancelled"})]


def test_the_stream_is_the_owners_only(client: FlaskClient, alice: Account, bob: Account, project_id: str) -> None:
    assert_error(client.get(stream_url(project_id), headers=bob.headers), 404)
    assert_error(client.get(stream_url("missing"), headers=alice.headers), 404)
    assert_error(client.get(stream_url(project_id)), 401)
