"""Jobs: a project's list, one job (≡ studio path), cancel (409 once ended), and the SSE stream of its events."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from finetune_core.domain import Job, JobStatus, utcnow
from finetune_core.services import jobs, projects
from finetune_core.workspace import Workspace
from finetune_web import event_feed, sse
from flask.testing import FlaskClient
from kits.web_api import Account, assert_error, field_errors, parse_stream


@pytest.fixture
def project_id(client: FlaskClient, alice: Account) -> str:
    return str(client.post("/api/projects", json={"name": "jobs"}, headers=alice.headers).get_json()["id"])


def stored_job(workspace: Workspace, project_id: str, type: str = "chunk", *, running: bool = False) -> Job:
    """A job recorded but handed to no runner: it stays queued (or running, once claimed)."""
    job = jobs.new_job(type, project_id=project_id)
    with workspace.unit_of_work() as uow:
        uow.jobs.add(job)
        if running:
            assert uow.jobs.claim(job.id, stale_before=utcnow() - timedelta(hours=1))
    return jobs.get_job(workspace, job.id)


def finished_job(workspace: Workspace, project_id: str) -> Job:
    job = jobs.enqueue(workspace, "curate", project_id=project_id)  # the test workspace runs it inline
    assert job.status is JobStatus.SUCCESS
    return job


def test_a_projects_jobs_are_listed_newest_first_with_filters(client: FlaskClient, alice: Account,
                                                              workspace: Workspace, project_id: str) -> None:
    done = finished_job(workspace, project_id)
    queued = stored_job(workspace, project_id)
    listed = client.get(f"/api/projects/{project_id}/jobs", headers=alice.headers).get_json()
    assert [item["id"] for item in listed["items"]] == [queued.id, done.id] and listed["total"] == 2
    assert listed["items"][1]["status"] == "success" and listed["items"][1]["progress_pct"] == 100.0
    only = client.get(f"/api/projects/{project_id}/jobs?status=queued&type=chunk", headers=alice.headers).get_json()
    assert [item["id"] for item in only["items"]] == [queued.id]
    assert set(field_errors(client.get(f"/api/projects/{project_id}/jobs?status=lost", headers=alice.headers))) \
        == {"status"}
    assert_error(client.get("/api/projects/missing/jobs", headers=alice.headers), 404)
    assert_error(client.get(f"/api/projects/{project_id}/jobs"), 401)


@pytest.mark.parametrize("prefix", ["/api/jobs", "/api/studio/jobs"])
def test_one_job_and_its_studio_alias(client: FlaskClient, alice: Account, workspace: Workspace,
                                      project_id: str, prefix: str) -> None:
    job = finished_job(workspace, project_id)
    body = client.get(f"{prefix}/{job.id}", headers=alice.headers).get_json()
    assert body["id"] == job.id and body["type"] == "curate" and body["finished_at"].endswith("Z")
    assert body["params"] == {"project_id": project_id}
    assert_error(client.get(f"{prefix}/no-such-job", headers=alice.headers), 404, "NOT_FOUND")
    assert_error(client.get(f"{prefix}/{job.id}"), 401)


def test_cancel_ends_a_queued_job_flags_a_running_one_and_409s_an_ended_one(
        client: FlaskClient, alice: Account, workspace: Workspace, project_id: str) -> None:
    queued = stored_job(workspace, project_id)
    cancelled = client.post(f"/api/jobs/{queued.id}/cancel", headers=alice.headers)
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    again = assert_error(client.post(f"/api/jobs/{queued.id}/cancel", headers=alice.headers), 409,
                         "JOB_ALREADY_FINISHED")
    assert again["context"] == {"job_id": queued.id}
    running = stored_job(workspace, project_id, running=True)
    flagged = client.post(f"/api/jobs/{running.id}/cancel", headers=alice.headers).get_json()
    assert flagged["status"] == "running" and flagged["cancel_requested"] is True
    assert "next check" in flagged["message"]
    assert_error(client.post("/api/jobs/missing/cancel", headers=alice.headers), 404)
    assert_error(client.post(f"/api/jobs/{running.id}/cancel"), 401)


def test_the_stream_of_an_ended_job_sends_every_event_then_ends(client: FlaskClient, alice: Account,
                                                                workspace: Workspace, project_id: str) -> None:
    job = finished_job(workspace, project_id)
    response = client.get(f"/api/jobs/{job.id}/events/stream", headers=alice.headers)
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    events = parse_stream(response.get_data(as_text=True))
    recorded = jobs.events(workspace, job.id)
    assert [event["id"] for event in events] == [event.seq for event in recorded]
    assert events[-1]["event"] == "complete" and events[0]["event"] == "log"
    assert events[-1]["data"] == recorded[-1].data


def test_the_stream_resumes_after_last_event_id(client: FlaskClient, alice: Account, workspace: Workspace,
                                                project_id: str) -> None:
    job = finished_job(workspace, project_id)
    last = jobs.events(workspace, job.id)[-1].seq
    by_header = client.get(f"/api/jobs/{job.id}/events/stream", headers={**alice.headers,
                                                                         "Last-Event-ID": str(last - 1)})
    assert [event["id"] for event in parse_stream(by_header.get_data(as_text=True))] == [last]
    by_query = client.get(f"/api/jobs/{job.id}/events/stream?last_event_id={last}", headers=alice.headers)
    assert parse_stream(by_query.get_data(as_text=True)) == []
    bad = client.get(f"/api/jobs/{job.id}/events/stream", headers={**alice.headers, "Last-Event-ID": "x"})
    assert_error(bad, 400, "INVALID_LAST_EVENT_ID")


def test_the_stream_follows_a_running_job_live_with_keep_alives(
        client: FlaskClient, alice: Account, workspace: Workspace, project_id: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sse, "POLL_S", 0.02)
    monkeypatch.setattr(event_feed, "TICK_S", 0.02)
    monkeypatch.setattr(sse, "HEARTBEAT_S", 0.1)
    job = stored_job(workspace, project_id, "fine_tune", running=True)

    def train() -> None:
        time.sleep(0.3)
        with workspace.unit_of_work() as uow:
            uow.jobs.add_event(job.id, "log", {"step": 1, "train_loss": 2.45})
            uow.jobs.add_event(job.id, "eval", {"step": 1, "eval_loss": 1.85})
        time.sleep(0.3)
        with workspace.unit_of_work() as uow:
            uow.jobs.add_event(job.id, "complete", {"status": "success"})
            uow.jobs.update(job.id, status=JobStatus.SUCCESS.value, finished_at=utcnow())

    trainer = threading.Thread(target=train)
    trainer.start()
    text = client.get(f"/api/jobs/{job.id}/events/stream", headers=alice.headers).get_data(as_text=True)
    trainer.join()
    assert text.startswith(": stream open") and ": keep-alive" in text
    assert [event["event"] for event in parse_stream(text)] == ["log", "eval", "complete"]
    assert parse_stream(text)[0]["data"] == {"step": 1, "train_loss": 2.45}


def test_the_stream_helper_waits_for_a_job_to_exist(workspace: Workspace, project_id: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sse, "HEARTBEAT_S", 0.05)
    found: list[str] = []
    stream = sse.job_events(workspace, lambda: found[0] if found else None, poll_s=0.01)
    assert next(stream) == ": stream open\n\n"
    assert next(stream) == ": keep-alive\n\n"  # no run yet: the stream stays open
    found.append(finished_job(workspace, project_id).id)
    assert next(stream).startswith("id: 1\nevent: log\n")
    assert list(stream)[-1].startswith(f"id: {jobs.events(workspace, found[0])[-1].seq}\nevent: complete")


def test_the_stream_of_a_missing_job_is_404(client: FlaskClient, alice: Account) -> None:
    assert_error(client.get("/api/jobs/missing/events/stream", headers=alice.headers), 404)
    assert_error(client.get("/api/jobs/missing/events/stream"), 401)


def test_the_stream_ends_when_its_job_is_deleted(workspace: Workspace, project_id: str) -> None:
    job = stored_job(workspace, project_id, running=True)
    stream = sse.job_events(workspace, job.id, poll_s=0.01)
    assert next(stream) == ": stream open\n\n"
    projects.delete_project(workspace, project_id)
    assert list(stream) == []
