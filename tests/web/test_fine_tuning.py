"""Fine-tuning in its three shapes: finetuneflow's train/start|status|cancel, fintune-platform's /api/fine-tunings
and dualqueryintelligence's /api/finetune (with the workers' status PATCH), all over the same core fine-tunings.

The trainer is kits.scripted_trainer's `scripted` one (jobs run inline: a start answers once the run has ended),
or nothing runs at all (`HeldRunner`: every job stays queued); one test drives the hosted `together` trainer
against the fake Together AI of kits.hosted_providers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from finetune_core.domain import FineTuneStatus
from finetune_core.services import fine_tunes, jobs
from finetune_core.workspace import Workspace
from flask import Flask
from flask.testing import FlaskClient
from kits.hosted_providers import FakeTogether, hosted_server
from kits.hosted_providers import Script as RemoteScript
from kits.scripted_trainer import BASE_MODEL, HeldRunner, Script, add_examples, dataset_project, loss
from kits.web_api import Account, assert_error, field_errors, sign_up

KEY_VARS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "MISTRAL_API_KEY", "TOGETHER_API_KEY")
TOGETHER_KEY = "tgp_v1_" + "x9Y8" * 10
WORKER_TOKEN = "w0rker-" + "t0k3n" * 6


@pytest.fixture(autouse=True)
def no_provider_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KEY_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def project_id(client: FlaskClient, alice: Account, workspace: Workspace) -> str:
    return dataset_project(client, alice, workspace)


@pytest.fixture
def held_runner(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs are stored but never run: a started fine-tuning stays queued."""
    monkeypatch.setattr(workspace, "runner", HeldRunner())


def start(client: FlaskClient, account: Account, project_id: str, **body: Any) -> Any:
    return client.post(f"/api/projects/{project_id}/train/start", json={"trainer": "scripted", **body},
                       headers=account.headers)


# --- finetuneflow: train/start, train/status, train/cancel -------------------------------------------------------

def test_start_trains_with_the_projects_base_model_and_status_shows_the_run(
        client: FlaskClient, alice: Account, scripted: type[Script], project_id: str, workspace: Workspace) -> None:
    started = start(client, alice, project_id, method="qlora", hyperparams={"num_epochs": 3, "lora_r": 16})
    assert started.status_code == 202, started.get_json()
    body = started.get_json()
    assert set(body) == {"job_id", "run_id", "status", "message"}
    assert body["status"] == "success"  # the test workspace runs jobs inline: the run has ended already
    assert body["message"] == "Training job enqueued on default_queue"
    fine_tune = fine_tunes.get_fine_tune(workspace, body["run_id"])
    assert fine_tune.job_id == body["job_id"] and fine_tune.base_model == BASE_MODEL
    assert fine_tune.hyperparameters == {"num_epochs": 3, "lora_r": 16} and fine_tune.owner_id == alice.id

    status = client.get(f"/api/projects/{project_id}/train/status", headers=alice.headers)
    assert status.status_code == 200
    shown = status.get_json()
    assert (shown["run_id"], shown["job_id"], shown["status"], shown["fine_tune_status"]) == (
        body["run_id"], body["job_id"], "success", "completed")
    assert (shown["method"], shown["trainer"], shown["progress_pct"]) == ("qlora", "scripted", 100.0)
    assert shown["current_metrics"] == {"step": 4, "total_steps": 4, "train_loss": loss(4), "eval_loss": 1.5,
                                        "learning_rate": 2e-4, "epoch": 1.0}
    assert shown["started_at"].endswith("Z") and shown["finished_at"].endswith("Z")
    assert isinstance(shown["elapsed_seconds"], int) and shown["elapsed_seconds"] >= 0
    assert shown["model_id"] == fine_tune.model_id is not None


def test_start_refuses_what_cannot_run(client: FlaskClient, alice: Account, bob: Account, scripted: type[Script],
                                       project_id: str, workspace: Workspace) -> None:
    bare = client.post("/api/projects", json={"name": "no base model"}, headers=alice.headers).get_json()["id"]
    assert_error(start(client, alice, bare), 400, "BASE_MODEL_REQUIRED")
    no_data = assert_error(start(client, alice, bare, base_model="org/other"), 400, "INVALID_INPUT")
    assert "no valid examples" in no_data["detail"]
    assert_error(start(client, alice, project_id, method="dpo"), 400, "INVALID_INPUT")
    assert_error(start(client, alice, project_id, trainer="nobody"), 400, "UNKNOWN_PLUGIN")
    assert set(field_errors(start(client, alice, project_id, hyperparams="many"))) == {"hyperparams"}
    assert_error(start(client, bob, project_id), 404, "NOT_FOUND")
    assert_error(client.post(f"/api/projects/{project_id}/train/start", json={}), 401)
    assert fine_tunes.list_fine_tunes(workspace)[1] == 0


def test_before_any_run_status_and_cancel_answer_404_no_training_run(client: FlaskClient, alice: Account,
                                                                     project_id: str) -> None:
    assert_error(client.get(f"/api/projects/{project_id}/train/status", headers=alice.headers), 404,
                 "NO_TRAINING_RUN")
    assert_error(client.post(f"/api/projects/{project_id}/train/cancel", headers=alice.headers), 404,
                 "NO_TRAINING_RUN")
    assert_error(client.get("/api/projects/missing/train/status", headers=alice.headers), 404, "NOT_FOUND")


def test_a_second_start_is_409_while_one_runs_and_cancel_ends_a_queued_run(
        client: FlaskClient, alice: Account, scripted: type[Script], project_id: str, held_runner: None) -> None:
    first = start(client, alice, project_id).get_json()
    assert first["status"] == "queued" and first["message"] == "Training job enqueued on default_queue"
    again = assert_error(start(client, alice, project_id), 409, "TRAINING_ALREADY_RUNNING")
    assert again["detail"] == "A training job is already running for this project"
    assert again["context"]["fine_tune_id"] == first["run_id"]
    assert client.get(f"/api/projects/{project_id}/train/status", headers=alice.headers).get_json()["status"] \
        == "queued"

    cancelled = client.post(f"/api/projects/{project_id}/train/cancel", headers=alice.headers)
    assert cancelled.status_code == 200
    assert cancelled.get_json() == {"run_id": first["run_id"], "job_id": first["job_id"], "status": "cancelled",
                                    "cancel_requested": True, "message": "Training job cancelled"}
    assert_error(client.post(f"/api/projects/{project_id}/train/cancel", headers=alice.headers), 409,
                 "JOB_ALREADY_FINISHED")
    assert start(client, alice, project_id).status_code == 202  # the project is free again


def test_a_failed_run_shows_failed_with_its_error(client: FlaskClient, alice: Account, scripted: type[Script],
                                                  project_id: str) -> None:
    scripted.fail_at = 3
    assert start(client, alice, project_id).get_json()["status"] == "failed"
    status = client.get(f"/api/projects/{project_id}/train/status", headers=alice.headers).get_json()
    assert (status["status"], status["fine_tune_status"]) == ("failed", "error")
    assert status["error_message"] == "Scripted: CUDA out of memory" and status["current_metrics"]["step"] == 2


def test_the_local_trainer_is_the_default(client: FlaskClient, alice: Account, project_id: str, held_runner: None,
                                          workspace: Workspace) -> None:
    body = client.post(f"/api/projects/{project_id}/train/start", json={"method": "lora"},
                       headers=alice.headers).get_json()
    assert body["message"] == "Training job enqueued on gpu_queue"
    fine_tune = fine_tunes.get_fine_tune(workspace, body["run_id"])
    assert (fine_tune.trainer, fine_tune.method) == ("local", "lora")


def test_without_the_local_gpu_plugin_the_default_trainer_is_501(client: FlaskClient, alice: Account,
                                                                  project_id: str, workspace: Workspace,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(workspace.plugins.trainers._items, "local")
    assert_error(client.post(f"/api/projects/{project_id}/train/start", json={}, headers=alice.headers), 501,
                 "PLUGIN_NOT_INSTALLED")


# --- fintune-platform: /api/fine-tunings ---------------------------------------------------------------------

def create(client: FlaskClient, account: Account, **body: Any) -> Any:
    return client.post("/api/fine-tunings", json={"model": BASE_MODEL, "provider": "scripted", **body},
                       headers=account.headers)


def test_fine_tunings_create_answers_fintune_platform_fields(client: FlaskClient, alice: Account,
                                                             scripted: type[Script], project_id: str) -> None:
    created = create(client, alice, dataset_id=project_id, name="Mon fine-tuning", description="docs",
                     hyperparameters={"n_epochs": 3})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert {"id", "dataset_id", "name", "description", "model", "provider", "status", "progress", "hyperparameters",
            "external_id", "metrics", "error_message", "created_at", "updated_at", "completed_at"} <= set(body)
    assert (body["dataset_id"], body["name"], body["description"], body["model"], body["provider"]) == (
        project_id, "Mon fine-tuning", "docs", BASE_MODEL, "scripted")
    assert (body["status"], body["progress"], body["hyperparameters"]) == ("completed", 100.0, {"n_epochs": 3})
    assert body["metrics"] == {"training_loss": loss(4), "validation_loss": 1.5, "step": 4, "total_steps": 4}
    assert body["completed_at"].endswith("Z") and body["error_message"] is None and body["model_id"]
    assert client.get(f"/api/fine-tunings/{body['id']}", headers=alice.headers).get_json() == body


def test_fine_tunings_list_filters_and_shows_only_the_callers(client: FlaskClient, alice: Account, bob: Account,
                                                              scripted: type[Script], project_id: str,
                                                              workspace: Workspace) -> None:
    other = dataset_project(client, alice, workspace, name="second")
    first = create(client, alice, dataset_id=project_id).get_json()
    second = create(client, alice, dataset_id=other).get_json()
    listed = client.get("/api/fine-tunings", headers=alice.headers).get_json()
    assert [item["id"] for item in listed["items"]] == [second["id"], first["id"]] and listed["total"] == 2
    for query in (f"dataset_id={project_id}", f"project_id={project_id}"):
        only = client.get(f"/api/fine-tunings?{query}", headers=alice.headers).get_json()
        assert [item["id"] for item in only["items"]] == [first["id"]]
    both = client.get(f"/api/fine-tunings?dataset_id={project_id}&project_id={other}", headers=alice.headers)
    assert both.get_json()["total"] == 0
    assert client.get("/api/fine-tunings", headers=bob.headers).get_json()["total"] == 0
    assert_error(client.get(f"/api/fine-tunings?dataset_id={project_id}", headers=bob.headers), 404)
    assert_error(client.get("/api/fine-tunings"), 401)


def test_fine_tunings_update_delete_and_cancel(client: FlaskClient, alice: Account, bob: Account,
                                               scripted: type[Script], project_id: str,
                                               monkeypatch: pytest.MonkeyPatch, workspace: Workspace) -> None:
    done = create(client, alice, dataset_id=project_id, name="first").get_json()
    renamed = client.put(f"/api/fine-tunings/{done['id']}", json={"name": "renamed"}, headers=alice.headers)
    assert renamed.status_code == 200
    assert (renamed.get_json()["name"], renamed.get_json()["description"]) == ("renamed", None)
    assert set(field_errors(client.put(f"/api/fine-tunings/{done['id']}", json={"name": ""},
                                       headers=alice.headers))) == {"name"}
    assert_error(client.post(f"/api/fine-tunings/{done['id']}/cancel", headers=alice.headers), 409,
                 "JOB_ALREADY_FINISHED")

    monkeypatch.setattr(workspace, "runner", HeldRunner())
    queued = create(client, alice, dataset_id=project_id).get_json()
    assert queued["status"] == "queued" and queued["completed_at"] is None
    assert_error(create(client, alice, dataset_id=project_id), 409, "TRAINING_ALREADY_RUNNING")
    assert_error(client.delete(f"/api/fine-tunings/{queued['id']}", headers=alice.headers), 409, "CONFLICT")
    assert_error(client.post(f"/api/fine-tunings/{queued['id']}/cancel", headers=bob.headers), 404)
    cancelled = client.post(f"/api/fine-tunings/{queued['id']}/cancel", json={"reason": "Coût trop élevé"},
                            headers=alice.headers).get_json()
    assert (cancelled["status"], cancelled["error_message"]) == ("cancelled", "Coût trop élevé")
    assert cancelled["completed_at"].endswith("Z")

    assert client.delete(f"/api/fine-tunings/{done['id']}", headers=alice.headers).status_code == 204
    assert_error(client.get(f"/api/fine-tunings/{done['id']}", headers=alice.headers), 404)
    assert client.get(f"/api/models/{done['model_id']}", headers=alice.headers).status_code == 200  # the model stays


def test_fine_tunings_refusals(client: FlaskClient, alice: Account, bob: Account, project_id: str,
                               workspace: Workspace) -> None:
    missing_key = assert_error(create(client, alice, dataset_id=project_id, provider="openai",
                                      model="gpt-4o-mini-2024-07-18"), 401, "API_KEY_MISSING")
    assert missing_key["context"] == {"provider": "openai"} and "OPENAI_API_KEY" in missing_key["detail"]
    anthropic = assert_error(create(client, alice, dataset_id=project_id, provider="anthropic",
                                    model="claude-3-haiku"), 400, "NOT_SUPPORTED")
    assert "anthropic" in anthropic["detail"].lower()
    empty = client.post("/api/projects", json={"name": "empty"}, headers=alice.headers).get_json()["id"]
    client.post("/api/users/me/api-keys", json={"provider": "together", "key": TOGETHER_KEY}, headers=alice.headers)
    not_ready = assert_error(create(client, alice, dataset_id=empty, provider="together", method="lora",
                                    model="meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"), 400, "INVALID_INPUT")
    assert "dataset" in not_ready["detail"]
    refused_url = create(client, alice, dataset_id=project_id, provider="together", method="lora",
                         options={"base_url": "http://169.254.169.254/v1"})
    assert_error(refused_url, 400, "URL_NOT_ALLOWED")
    assert_error(create(client, alice, dataset_id="missing"), 404)
    assert_error(create(client, bob, dataset_id=project_id), 404)
    assert set(field_errors(client.post("/api/fine-tunings", json={"dataset_id": project_id},
                                        headers=alice.headers))) == {"model"}
    assert fine_tunes.list_fine_tunes(workspace)[1] == 0


def test_a_together_fine_tuning_through_the_api(client: FlaskClient, alice: Account, project_id: str,
                                                workspace: Workspace) -> None:
    stored = client.post("/api/users/me/api-keys", json={"provider": "together", "key": TOGETHER_KEY},
                         headers=alice.headers)
    assert stored.status_code == 201
    with hosted_server(FakeTogether(api_key=TOGETHER_KEY, script=RemoteScript(steps=3))) as server:
        created = create(client, alice, dataset_id=project_id, provider="together", method="lora",
                         model="meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", hyperparameters={"n_epochs": 2},
                         options={"base_url": server.url, "poll_interval_s": 0.01, "retry_initial_s": 0.01})
        assert created.status_code == 201, created.get_json()
        body = created.get_json()
        [remote_id] = server.provider.jobs
    assert (body["status"], body["provider"], body["external_id"]) == ("completed", "together", remote_id)
    assert body["metrics"]["step"] == 3 and body["metrics"]["training_loss"] is not None
    model = client.get(f"/api/models/{body['model_id']}", headers=alice.headers).get_json()
    assert (model["provider"], model["provider_model_id"]) == (
        "together", f"user/meta-llama/Meta-Llama-3.1-8B-Instruct-Reference-{remote_id}")
    stream = client.get(f"/api/projects/{project_id}/train/logs/stream", headers=alice.headers)
    names = [line.removeprefix("event: ") for line in stream.get_data(as_text=True).splitlines()
             if line.startswith("event: ")]
    assert names.count("log") == 3 and names.count("checkpoint") == 3 and names[-1] == "complete"


# --- dualqueryintelligence: /api/finetune ---------------------------------------------------------------------

def test_finetune_jobs_in_dualqueryintelligence_shape(client: FlaskClient, alice: Account, bob: Account,
                                                      scripted: type[Script], project_id: str) -> None:
    created = client.post("/api/finetune", json={"dataset_id": project_id, "base_model": BASE_MODEL,
                                                 "trainer": "scripted", "status": "preparing", "logs": "ignored"},
                          headers=alice.headers)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert {"id", "user_id", "model_id", "dataset_id", "base_model", "status", "progress", "current_step", "logs",
            "created_at", "completed_at"} <= set(body)
    assert (body["user_id"], body["dataset_id"], body["base_model"], body["status"]) == (
        alice.id, project_id, BASE_MODEL, "completed")
    assert (body["progress"], body["current_step"], body["logs"]) == (100.0, "Completed", None)
    assert body["model_id"] and body["completed_at"].endswith("Z")
    assert client.get(f"/api/finetune/{body['id']}", headers=alice.headers).get_json() == body
    listed = client.get("/api/finetune", headers=alice.headers).get_json()
    assert [item["id"] for item in listed["items"]] == [body["id"]]
    assert_error(client.get(f"/api/finetune/{body['id']}", headers=bob.headers), 404)
    assert_error(client.post("/api/finetune", json={"dataset_id": "missing", "base_model": "b"},
                             headers=alice.headers), 404)
    assert set(field_errors(client.post("/api/finetune", json={"dataset_id": project_id},
                                        headers=alice.headers))) == {"base_model"}


def test_finetune_jobs_default_to_the_local_trainer(client: FlaskClient, alice: Account, project_id: str,
                                                    held_runner: None) -> None:
    body = client.post("/api/finetune", json={"dataset_id": project_id, "base_model": BASE_MODEL},
                       headers=alice.headers).get_json()
    assert (body["trainer"], body["method"], body["status"], body["current_step"]) == ("local", "lora", "queued",
                                                                                     "Queued")


@pytest.fixture
def worker_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(worker_token=WORKER_TOKEN)


def test_status_patch_is_for_workers_and_admins(worker_app: Flask, alice: Account, scripted: type[Script],
                                                project_id: str, held_runner: None, workspace: Workspace) -> None:
    client = worker_app.test_client()
    run = client.post("/api/finetune", json={"dataset_id": project_id, "base_model": BASE_MODEL,
                                             "trainer": "scripted"}, headers=alice.headers).get_json()
    path = f"/api/finetune/{run['id']}/status"
    owner = assert_error(client.patch(f"{path}?status_update=training", headers=alice.headers), 403, "FORBIDDEN")
    assert "WORKER_TOKEN" in owner["detail"]
    worker = {"Authorization": f"Bearer {WORKER_TOKEN}"}
    updated = client.patch(f"{path}?status_update=training&progress=50&current_step=Training%20model"
                           "&logs=Epoch%205/10%20completed", headers=worker)
    assert updated.status_code == 200, updated.get_json()
    shown = updated.get_json()
    assert (shown["status"], shown["progress"], shown["current_step"], shown["logs"]) == (
        "training", 50.0, "Training model", "Epoch 5/10 completed")
    assert shown["completed_at"] is None
    assert client.get(f"/api/finetune/{run['id']}", headers=alice.headers).get_json()["current_step"] \
        == "Training model"
    events = jobs.events(workspace, run["job_id"])
    assert events[-1].type == "progress" and events[-1].data["message"] == "Epoch 5/10 completed"

    done = client.patch(path, json={"status_update": "completed", "progress": 100, "logs": "Fine-tuning completed"},
                        headers=worker).get_json()
    assert (done["status"], done["progress"], done["logs"]) == ("completed", 100.0, "Fine-tuning completed")
    assert done["completed_at"].endswith("Z") and done["current_step"] == "Completed"
    assert fine_tunes.get_fine_tune(workspace, run["id"]).status is FineTuneStatus.COMPLETED

    assert_error(client.patch(path, headers=worker), 400, "NO_CHANGES")
    assert set(field_errors(client.patch(f"{path}?status_update=lost", headers=worker))) == {"status_update"}
    assert set(field_errors(client.patch(path, json={"progress": 150}, headers=worker))) == {"progress"}
    assert_error(client.patch("/api/finetune/missing/status?progress=1", headers=worker), 404)
    assert_error(client.patch(f"{path}?progress=1", headers={"Authorization": "Bearer not-the-token"}), 401)
    assert_error(client.patch(f"{path}?progress=1"), 401)

    admin = sign_up(client, "admin@example.com")
    with workspace.unit_of_work() as uow:
        user = uow.users.get(admin.id)
        user.is_admin = True
        uow.users.save(user)
    by_admin = client.patch(f"{path}?status_update=error&logs=stopped%20by%20an%20admin", headers=admin.headers)
    assert by_admin.status_code == 200 and by_admin.get_json()["logs"] == "stopped by an admin"


def test_without_a_worker_token_configured_no_bearer_is_a_worker(client: FlaskClient, alice: Account,
                                                                 scripted: type[Script], project_id: str,
                                                                 held_runner: None) -> None:
    run = client.post("/api/finetune", json={"dataset_id": project_id, "base_model": BASE_MODEL,
                                             "trainer": "scripted"}, headers=alice.headers).get_json()
    assert_error(client.patch(f"/api/finetune/{run['id']}/status?progress=1", headers={"Authorization": "Bearer "}),
                 401)
    assert_error(client.patch(f"/api/finetune/{run['id']}/status?progress=1", headers=alice.headers), 403)


def test_local_mode_trains_without_a_token(make_app: Callable[..., Flask], scripted: type[Script],
                                           workspace: Workspace) -> None:
    local = make_app(local_mode=True).test_client()
    project = local.post("/api/projects", json={"name": "local"}).get_json()["id"]
    local.patch(f"/api/projects/{project}", json={"base_model_id": BASE_MODEL})
    add_examples(workspace, project)
    run = local.post(f"/api/projects/{project}/train/start", json={"trainer": "scripted"}).get_json()
    assert local.get(f"/api/projects/{project}/train/status").get_json()["status"] == "success"
    assert [item["id"] for item in local.get("/api/fine-tunings").get_json()["items"]] == [run["run_id"]]
    assert local.get("/api/finetune").get_json()["items"][0]["user_id"] is None
    assert local.get("/api/models").get_json()["total"] == 1
    assert_error(local.patch(f"/api/finetune/{run['run_id']}/status?progress=1"), 403, "FORBIDDEN")


def test_a_provider_closed_to_fine_tuning_answers_409_and_the_list_says_which_trainers_take_a_job(
        client: FlaskClient, alice: Account, scripted: type[Script], project_id: str) -> None:
    stored = client.post("/api/users/me/api-keys", json={"provider": "mistral", "key": "Ab3" * 10 + "Zz"},
                         headers=alice.headers)
    assert stored.status_code == 201, stored.get_json()
    refused = assert_error(create(client, alice, dataset_id=project_id, provider="mistral",
                                  model="open-mistral-nemo"), 409, "PROVIDER_FINE_TUNING_UNAVAILABLE")
    assert "deprecated" in refused["context"]["reason"] and "scripted" in refused["context"]["alternatives"]
    assert "openai" not in refused["context"]["alternatives"]  # Alice has no OpenAI key
    listed = client.get("/api/fine-tunings", headers=alice.headers).get_json()
    assert listed["total"] == 0
    choices = {choice["name"]: choice for choice in listed["trainers"]}
    assert choices["scripted"]["available"] is True and choices["mistral"]["available"] is False
    assert choices["openai"] == {**choices["openai"], "available": False, "reason": "no OpenAI API key"}
    assert create(client, alice, dataset_id=project_id).status_code == 201  # the same dataset, another trainer
