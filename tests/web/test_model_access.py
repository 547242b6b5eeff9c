"""What a web client may make the server reach by naming a model: one rule for every route that takes one.

A model server (`base_url`) must be public unless the operator lists it (FINETUNE_ALLOWED_MODEL_HOSTS);
local mode, like the CLI, may use a loopback one. A base model is a Hub id, one of the caller's
registered models, or a folder under the operator's models directory (FINETUNE_MODELS_DIR): any other
server path is refused. The workspaces here do not let URLs reach 127.0.0.1 (the test default does).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from finetune_core.services import fine_tunes, jobs
from finetune_core.testing import made_up_text, open_test_workspace
from finetune_core.workspace import Workspace
from finetune_web import create_app
from finetune_web.settings import WebSettings
from flask import Flask
from flask.testing import FlaskClient
from kits.chat_completions import ChatServer
from kits.scripted_trainer import Script, dataset_project
from kits.web_api import assert_error, sign_up
from kits.web_uploads import part

PRIVATE = ("http://169.254.169.254/latest/v1", "http://10.0.0.7:11434/v1", "http://[::1]:8000/v1",
           "http://localhost:11434/v1", "http://metadata.google.internal/v1")


@pytest.fixture
def strict(tmp_path: Path, web_settings: WebSettings) -> Iterator[Callable[..., Flask]]:
    """`strict(**workspace_settings, local_mode=...)`: an app over a workspace that keeps URLs off loopback."""
    opened: list[Workspace] = []

    def make(*, local_mode: bool = False, **settings: Any) -> Flask:
        workspace = open_test_workspace(tmp_path / f"strict-{len(opened)}", allow_loopback_urls=False, **settings)
        opened.append(workspace)
        return create_app(web_settings.model_copy(update={"local_mode": local_mode}), workspace=workspace)

    yield make
    for workspace in opened:
        workspace.close()


def chunked_project(client: FlaskClient, headers: dict[str, str]) -> str:
    """A project of one loaded and chunked note; its id."""
    project_id = str(client.post("/api/projects", json={"name": "notes"}, headers=headers).get_json()["id"])
    uploaded = client.post(f"/api/projects/{project_id}/files/upload", headers=headers,
                           data={"files": [part(made_up_text(1, sentences=30).encode(), "n.txt")]},
                           content_type="multipart/form-data")
    assert uploaded.status_code == 201, uploaded.get_json()
    chunked = client.post(f"/api/projects/{project_id}/chunks/generate", json={}, headers=headers)
    assert chunked.status_code == 202, chunked.get_json()
    return project_id


def workspace_of(app: Flask) -> Workspace:
    found: Workspace = app.extensions["finetune"].workspace
    return found


def test_a_web_client_cannot_aim_a_generator_at_loopback_private_or_metadata_addresses(
        strict: Callable[..., Flask], chat_server: ChatServer) -> None:
    app = strict()
    client = app.test_client()
    alice = sign_up(client, "alice@example.com")
    project_id = chunked_project(client, alice.headers)
    workspace = workspace_of(app)
    queued_before = jobs.list_jobs(workspace, project_id=project_id)[1]
    for url in (chat_server.url, *PRIVATE):
        body = {"generator": "openai-compatible", "model": "m", "base_url": url}
        for path in ("dataset/preview", "dataset/generate"):
            refused = assert_error(client.post(f"/api/projects/{project_id}/{path}", json=body,
                                               headers=alice.headers), 400, "URL_NOT_ALLOWED")
            assert "FINETUNE_ALLOWED_MODEL_HOSTS" in refused["detail"], refused
        built = client.post("/api/datasets", headers=alice.headers, json={
            "project_id": project_id, "name": "d", "content_ids": [], "generator": "openai-compatible",
            "model": "m", "base_url": url})
        assert_error(built, 400, "URL_NOT_ALLOWED")
    assert chat_server.requests == []  # the server never called the listener
    assert jobs.list_jobs(workspace, project_id=project_id)[1] == queued_before  # and queued nothing


def test_a_job_queued_for_a_web_client_checks_its_model_server_again_when_it_runs(
        strict: Callable[..., Flask], chat_server: ChatServer) -> None:
    """The host may resolve elsewhere by the time the job runs: the job refuses it then too."""
    app = strict()
    client = app.test_client()
    alice = sign_up(client, "alice@example.com")
    project_id = chunked_project(client, alice.headers)
    job = jobs.enqueue(workspace_of(app), "dataset_preview", project_id=project_id, generator="openai-compatible",
                       settings={"model": "m", "base_url": chat_server.url}, origin="remote")
    assert job.status.value == "failed" and "URL not allowed" in (job.error_message or "")
    assert chat_server.requests == []


def test_the_operators_listed_model_hosts_and_local_mode_may_use_a_loopback_server(
        strict: Callable[..., Flask], chat_server: ChatServer) -> None:
    port = chat_server.httpd.server_address[1]
    for app in (strict(allowed_model_hosts=(f"127.0.0.1:{port}",)), strict(local_mode=True)):
        client = app.test_client()
        headers = {} if app.extensions["finetune"].settings.local_mode else \
            sign_up(client, "alice@example.com").headers
        project_id = chunked_project(client, headers)
        before = len(chat_server.requests)
        started = client.post(f"/api/projects/{project_id}/dataset/preview", headers=headers, json={
            "generator": "openai-compatible", "model": "m", "base_url": chat_server.url, "num_examples": 2})
        assert started.status_code == 202, started.get_json()
        job = jobs.get_job(workspace_of(app), started.get_json()["job_id"])
        assert job.status.value == "success", job.error_message
        assert len(chat_server.requests) > before
    listed_elsewhere = strict(allowed_model_hosts=(f"127.0.0.1:{port + 1}",))  # the host, on another port
    client = listed_elsewhere.test_client()
    alice = sign_up(client, "alice@example.com")
    project_id = chunked_project(client, alice.headers)
    assert_error(client.post(f"/api/projects/{project_id}/dataset/preview", headers=alice.headers, json={
        "generator": "openai-compatible", "model": "m", "base_url": chat_server.url}), 400, "URL_NOT_ALLOWED")


def test_training_refuses_server_paths_but_the_operators_models_directory(
        tmp_path: Path, strict: Callable[..., Flask], scripted: type[Script]) -> None:
    models = tmp_path / "models"
    (models / "org" / "tiny").mkdir(parents=True)
    app = strict(models_dir=models)
    workspace = workspace_of(app)
    client = app.test_client()
    alice, bob = sign_up(client, "alice@example.com"), sign_up(client, "bob@example.com")
    project_id = dataset_project(client, alice, workspace)
    bobs = dataset_project(client, bob, workspace, name="bob's")
    bobs_run = client.post(f"/api/projects/{bobs}/train/start", json={"trainer": "scripted"}, headers=bob.headers)
    assert bobs_run.status_code == 202, bobs_run.get_json()
    bobs_folder = workspace.files.local_path(f"fine_tunes/{bobs_run.get_json()['run_id']}")
    bobs_folder.mkdir(parents=True)

    def start(base_model: str) -> Any:
        return client.post(f"/api/projects/{project_id}/train/start", headers=alice.headers,
                           json={"trainer": "scripted", "base_model": base_model})

    for path in (str(tmp_path), str(bobs_folder), "/etc", "../elsewhere", "~/models", str(models / ".."),
                 "./models"):
        refused = assert_error(start(path), 400, "MODEL_PATH_NOT_ALLOWED")
        assert "FINETUNE_MODELS_DIR" in refused["detail"]
    client.patch(f"/api/projects/{project_id}", json={"base_model_id": "/etc"}, headers=alice.headers)
    assert_error(client.post(f"/api/projects/{project_id}/train/start", json={"trainer": "scripted"},
                             headers=alice.headers), 400, "MODEL_PATH_NOT_ALLOWED")  # a project's default too
    assert fine_tunes.list_fine_tunes(workspace, project_id=project_id)[1] == 0

    for name in ("org/tiny", str(models / "org" / "tiny")):  # under the models directory: relative or absolute
        started = start(name)
        assert started.status_code == 202, started.get_json()
        run = fine_tunes.get_fine_tune(workspace, started.get_json()["run_id"])
        assert run.base_model == str((models / "org" / "tiny").resolve())
    hub = start("meta-llama/Llama-3.1-8B")
    assert hub.status_code == 202 and fine_tunes.get_fine_tune(
        workspace, hub.get_json()["run_id"]).base_model == "meta-llama/Llama-3.1-8B"


def test_a_registered_model_of_the_callers_stands_for_what_it_points_at(
        strict: Callable[..., Flask], scripted: type[Script]) -> None:
    app = strict()
    workspace = workspace_of(app)
    client = app.test_client()
    alice, bob = sign_up(client, "alice@example.com"), sign_up(client, "bob@example.com")
    project_id = dataset_project(client, alice, workspace)
    model = client.post("/api/models", headers=alice.headers, json={
        "name": "mine", "base_model": "org/tiny-base", "version": "1", "provider": "together",
        "provider_model_id": "alice/ft-tiny-abc"}).get_json()
    started = client.post(f"/api/projects/{project_id}/train/start", headers=alice.headers,
                          json={"trainer": "scripted", "base_model": model["id"]})
    assert started.status_code == 202, started.get_json()
    assert fine_tunes.get_fine_tune(workspace, started.get_json()["run_id"]).base_model == "alice/ft-tiny-abc"
    bobs = dataset_project(client, bob, workspace, name="bob's")
    other = client.post(f"/api/projects/{bobs}/train/start", headers=bob.headers,
                        json={"trainer": "scripted", "base_model": model["id"]})
    assert other.status_code == 202  # to bob it is only a name: nothing of alice's is looked up for him
    assert fine_tunes.get_fine_tune(workspace, other.get_json()["run_id"]).base_model == model["id"]
