"""Models (dualqueryintelligence): a finished fine-tuning registers its model; POST enters one by hand."""

from __future__ import annotations

from typing import Any

import pytest
from finetune_core.workspace import Workspace
from flask.testing import FlaskClient
from kits.scripted_trainer import BASE_MODEL, Script, dataset_project, loss
from kits.web_api import Account, assert_error, field_errors

DQ_FIELDS = {"id", "user_id", "name", "base_model", "version", "accuracy", "f1_score", "loss", "status", "dataset_id",
             "created_at"}


@pytest.fixture
def project_id(client: FlaskClient, alice: Account, workspace: Workspace) -> str:
    return dataset_project(client, alice, workspace)


def enter(client: FlaskClient, account: Account, **body: Any) -> Any:
    return client.post("/api/models", json={"name": "My Fine-tuned Model", "base_model": "gpt-3.5-turbo",
                                            "version": "1.0.0", **body}, headers=account.headers)


def test_a_finished_fine_tuning_registers_its_model(client: FlaskClient, alice: Account, scripted: type[Script],
                                                    project_id: str) -> None:
    run = client.post("/api/fine-tunings", json={"dataset_id": project_id, "model": BASE_MODEL,
                                                 "provider": "scripted", "name": "handbook v1"},
                      headers=alice.headers).get_json()
    listed = client.get("/api/models", headers=alice.headers).get_json()
    assert listed["total"] == 1
    [model] = listed["items"]
    assert set(model) >= DQ_FIELDS
    assert model["id"] == run["model_id"] and model["fine_tune_id"] == run["id"]
    assert (model["user_id"], model["name"], model["base_model"], model["dataset_id"]) == (
        alice.id, "handbook v1", BASE_MODEL, project_id)
    assert (model["version"], model["status"], model["provider"]) == ("1", "ready", "scripted")
    assert (model["loss"], model["accuracy"], model["f1_score"]) == (str(loss(4)), None, None)
    assert model["metrics"]["train_loss"] == loss(4) and model["created_at"].endswith("Z")
    assert client.get(f"/api/models/{model['id']}", headers=alice.headers).get_json() == model


def test_post_enters_a_model_by_hand(client: FlaskClient, alice: Account, project_id: str) -> None:
    created = enter(client, alice, accuracy="0.95", f1_score=0.92, loss="0.05", dataset_id=project_id,
                    provider="openai", provider_model_id="ft:gpt-3.5-turbo:org::abc")
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert (body["accuracy"], body["f1_score"], body["loss"]) == ("0.95", "0.92", "0.05")
    assert (body["name"], body["version"], body["status"], body["dataset_id"], body["user_id"]) == (
        "My Fine-tuned Model", "1.0.0", "ready", project_id, alice.id)
    assert (body["provider"], body["provider_model_id"], body["fine_tune_id"]) == (
        "openai", "ft:gpt-3.5-turbo:org::abc", None)
    plain = enter(client, alice, status="training").get_json()
    assert (plain["provider"], plain["dataset_id"], plain["status"], plain["loss"]) == ("manual", None, "training",
                                                                                        None)
    listed = client.get("/api/models", headers=alice.headers).get_json()
    assert [item["id"] for item in listed["items"]] == [plain["id"], body["id"]]
    only = client.get(f"/api/models?dataset_id={project_id}", headers=alice.headers).get_json()
    assert [item["id"] for item in only["items"]] == [body["id"]]


def test_models_refusals_and_tenancy(client: FlaskClient, alice: Account, bob: Account, project_id: str) -> None:
    assert set(field_errors(client.post("/api/models", json={"name": "x", "base_model": "b"},
                                        headers=alice.headers))) == {"version"}
    assert set(field_errors(enter(client, alice, accuracy="high"))) == {"accuracy"}
    assert_error(enter(client, alice, dataset_id="missing"), 404)
    assert_error(enter(client, bob, dataset_id=project_id), 404)
    mine = enter(client, alice).get_json()
    assert_error(client.get(f"/api/models/{mine['id']}", headers=bob.headers), 404, "NOT_FOUND")
    assert_error(client.get("/api/models/missing", headers=alice.headers), 404)
    assert client.get("/api/models", headers=bob.headers).get_json()["total"] == 0
    assert_error(client.get(f"/api/models?dataset_id={project_id}", headers=bob.headers), 404)
    assert_error(client.get("/api/models"), 401)
    assert_error(enter(client, Account("", "", {}, {"access_token": "x"})), 401)
