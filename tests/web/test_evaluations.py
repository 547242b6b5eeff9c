"""`POST /api/projects/{id}/evaluate` and `GET /api/projects/{id}/evaluations`: models compared on a project's
documents, answered by the openai-compatible chat model talking to a fake Chat Completions server (jobs run inline)."""

from __future__ import annotations

from finetune_core.services import trained_models
from finetune_core.workspace import Workspace
from flask.testing import FlaskClient
from kits.chat_completions import chat_server
from kits.evaluation import Models, evaluation_project
from kits.web_api import Account, assert_error, field_errors


def test_an_evaluation_runs_as_a_job_and_is_listed(client: FlaskClient, alice: Account, bob: Account,
                                                   workspace: Workspace) -> None:
    project_id = evaluation_project(workspace, owner_id=alice.id)
    answers = Models.of(workspace, project_id, 6)
    recorded = trained_models.create_model(workspace, name="good", base_model="bad", project_id=project_id,
                                           owner_id=alice.id)
    with chat_server(answers.decide) as server:
        good, bad = f"openai-compatible:good@{server.url}", f"openai-compatible:bad@{server.url}"
        started = client.post(f"/api/projects/{project_id}/evaluate", headers=alice.headers, json={
            "models": [good, bad], "judge": f"openai-compatible:judge@{server.url}", "questions": 6,
            "model_id": recorded.id})
    assert started.status_code == 202, started.get_json()
    job_id = started.get_json()["job_id"]
    assert started.get_json()["message"] == "Evaluation job enqueued"

    listed = client.get(f"/api/projects/{project_id}/evaluations", headers=alice.headers)
    assert listed.status_code == 200
    body = listed.get_json()
    assert body["total"] == 1 and body["limit"] == 50 and body["offset"] == 0
    (item,) = body["items"]
    assert item["job_id"] == job_id and item["status"] == "success", item
    result = item["result"]
    assert result["models"] == [good, bad] and result["knowledge_source"] == "training_chunks"
    knowledge = next(found for found in result["sets"] if found["name"] == "knowledge")
    first, second = knowledge["models"]
    assert first["metrics"]["token_f1"]["mean"] == 1.0 and second["metrics"]["token_f1"]["mean"] == 0.5
    assert second["versus_first"]["judge"] == {"wins": 0, "ties": 3, "losses": 3}

    shown = client.get(f"/api/models/{recorded.id}", headers=alice.headers).get_json()
    assert shown["accuracy"] == "1.0" and shown["f1_score"] == "1.0"
    assert shown["metrics"]["evaluation"]["id"] == job_id

    assert_error(client.get(f"/api/projects/{project_id}/evaluations", headers=bob.headers), 404)
    assert_error(client.post(f"/api/projects/{project_id}/evaluate", json={"models": [good, bad]},
                             headers=bob.headers), 404)


def test_what_cannot_be_evaluated_is_refused(client: FlaskClient, alice: Account) -> None:
    project = client.post("/api/projects", json={"name": "empty"}, headers=alice.headers).get_json()
    url = f"/api/projects/{project['id']}/evaluate"
    refused = assert_error(client.post(url, json={}, headers=alice.headers), 400, "INVALID_INPUT")
    assert "no finished fine-tune" in refused["detail"]
    refused = assert_error(client.post(url, json={"models": ["embedded", "openai:gpt-4o-mini"]},
                                       headers=alice.headers), 400, "INVALID_INPUT")
    assert "no chunks" in refused["detail"]
    assert "models" in field_errors(client.post(url, json={"models": ["embedded"]}, headers=alice.headers))
    assert "questions" in field_errors(client.post(url, json={"models": ["a", "b"], "questions": 0},
                                                   headers=alice.headers))
    listed = client.get(f"/api/projects/{project['id']}/evaluations", headers=alice.headers).get_json()
    assert listed["items"] == [] and listed["total"] == 0
