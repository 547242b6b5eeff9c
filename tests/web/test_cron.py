"""Crealia's cron routes: `GET /api/cron/cleanup` and `/api/cron/metrics` behind the CRON_SECRET bearer; and
`finetune serve`'s in-process maintenance schedule, started by the server only, never by an app by itself."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from finetune_core.domain import AuthSession, Job, JobStatus, Payment, new_id, utcnow
from finetune_core.domain.conversations import Chat
from finetune_core.testing import open_test_workspace
from finetune_core.workspace import Workspace
from finetune_web.serve import ApiServer, start_maintenance
from finetune_web.settings import WebSettings
from flask import Flask
from flask.testing import FlaskClient
from kits.web_api import Account, assert_error, sign_up
from kits.workers import wait_until

SECRET = "a-cron-secret-long-enough"
ROUTES = ("/api/cron/cleanup", "/api/cron/metrics")
CRON = {"Authorization": f"Bearer {SECRET}"}


@pytest.fixture
def workspace(web_settings: WebSettings) -> Iterator[Workspace]:
    """The web tests' workspace, with a cron secret."""
    opened = open_test_workspace(web_settings.workspace, cron_secret=SECRET)
    try:
        yield opened
    finally:
        opened.close()


@pytest.mark.parametrize("path", ROUTES)
def test_a_missing_or_wrong_secret_is_refused(client: FlaskClient, alice: Account, path: str) -> None:
    refused = [{}, {"Authorization": "Bearer wrong-secret-of-some-length"}, {"Authorization": f"Basic {SECRET}"},
               {"Authorization": f"Bearer {SECRET}x"}, {"Authorization": f"Bearer {SECRET[:-1]}"},
               {"Authorization": SECRET}, alice.headers]  # a user's access token is no cron secret
    for headers in refused:
        response = client.get(path, headers=headers)
        assert_error(response, 401, "INVALID_CRON_SECRET")
        assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("path", ROUTES)
def test_without_a_cron_secret_every_call_is_refused(client: FlaskClient, workspace: Workspace,
                                                     monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    monkeypatch.setattr(workspace.settings, "cron_secret", None)
    for headers in ({}, CRON, {"Authorization": "Bearer "}, {"Authorization": "Bearer None"}):
        assert_error(client.get(path, headers=headers), 401, "INVALID_CRON_SECRET")


def test_the_cleanup_answers_what_it_removed(client: FlaskClient, workspace: Workspace, alice: Account) -> None:
    now = utcnow()
    with workspace.unit_of_work() as uow:
        expired = uow.auth_sessions.add(AuthSession(user_id=alice.id, expires_at=now - timedelta(days=2)), new_id())
    orphan = workspace.files.local_path(f"{new_id()}/{new_id()}/left.txt")
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"left behind")
    then = time.time() - 7200
    os.utime(orphan, (then, then))

    response = client.get("/api/cron/cleanup", headers=CRON)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == {"success", "cleaned", "details", "timestamp"} and body["success"] is True
    assert body["details"] == {"sessions": 1, "orphaned_files": 1, "abandoned_uploads": 0, "job_events": 0,
                               "erasures": 0}
    assert body["cleaned"] == 2 and body["timestamp"].endswith("Z")
    assert not orphan.exists()
    with workspace.unit_of_work() as uow:
        assert expired.id not in {session.id for session in uow.auth_sessions.of_user(alice.id)}
    assert client.get("/api/auth/me", headers=alice.headers).status_code == 200  # alice's live session stays


def test_the_metrics_answer_the_figures(client: FlaskClient, workspace: Workspace, alice: Account,
                                        bob: Account) -> None:
    now = utcnow()
    with workspace.unit_of_work() as uow:
        uow.payments.add(Payment(user_id=alice.id, amount=1900))
        uow.chats.add(Chat(owner_id=alice.id, updated_at=now - timedelta(hours=2)))
        uow.chats.add(Chat(owner_id=bob.id, updated_at=now - timedelta(days=3)))
        for status in (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.CANCELLED):
            uow.jobs.add(Job(type="ingest", status=status))
    sign_up(client, "carol@example.com")

    response = client.get("/api/cron/metrics", headers=CRON)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == {"success", "metrics", "timestamp"} and body["success"] is True
    assert body["metrics"] == {"total_users": 3, "active_users": 3, "total_payments": 1, "active_chat_sessions": 1,
                               "pending_jobs": 2}
    assert body["timestamp"].endswith("Z")


def test_the_cron_routes_are_documented_with_their_bearer(client: FlaskClient) -> None:
    paths = client.get("/api/openapi.json").get_json()["paths"]
    for path in ROUTES:
        operation = paths[path]["get"]
        assert operation.get("security") != [] and "CRON_SECRET" in operation["description"]


# the in-process schedule of `finetune serve` -------------------------------------------------------------------

def maintenance_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "finetune-maintenance"]


def test_an_app_starts_no_schedule_by_itself(make_app: Callable[..., Flask]) -> None:
    before = len(maintenance_threads())
    make_app()
    assert len(maintenance_threads()) == before


def test_the_server_runs_the_schedule_only_without_redis(web_settings: WebSettings, workspace: Workspace) -> None:
    assert start_maintenance(web_settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}), workspace) is None
    scheduler = start_maintenance(web_settings, workspace, {"cleanup": 0})
    assert scheduler is not None
    try:
        assert scheduler.running and [task.name for task in scheduler.tasks] == ["metrics"]
    finally:
        scheduler.stop()
    assert not scheduler.running


def test_the_server_process_starts_its_schedule_when_it_loads_the_app(tmp_path: Path) -> None:
    settings = WebSettings(workspace=tmp_path / "served", rate_limits=False)
    server = ApiServer(settings, {"bind": "127.0.0.1:0"}, maintenance_every_s={"metrics": 1})
    server.load()
    scheduler = server.maintenance
    assert scheduler is not None
    try:
        wait_until(lambda: scheduler.runs["metrics"] >= 1, 30, "the first metrics run (after its 1 s interval)")
        assert scheduler.running and scheduler.runs["cleanup"] == 0  # a day away
    finally:
        scheduler.stop()
        assert isinstance(scheduler.workspace, Workspace)
        scheduler.workspace.close()
