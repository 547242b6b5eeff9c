"""Projects: create, list, get, PATCH ≡ PUT (config merged), DELETE with files, and model resolution."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest
from finetune_core.errors import NotFoundError
from finetune_core.plugins import Registry, registries
from finetune_core.workspace import Workspace
from flask.testing import FlaskClient
from kits.web_api import Account, assert_error, field_errors
from pydantic import BaseModel


def create(client: FlaskClient, account: Account, **body: Any) -> dict[str, Any]:
    response = client.post("/api/projects", json={"name": "Handbook", **body}, headers=account.headers)
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def test_create_answers_finetuneflow_fields_with_stats(client: FlaskClient, alice: Account) -> None:
    project = create(client, alice, description="internal docs", task_type="instruction",
                     config={"num_examples_target": 2000, "max_seq_length": 1024, "custom": "kept"})
    assert project["status"] == "draft" and project["task_type"] == "instruction"
    assert project["base_model_id"] is None and project["model_info"] is None
    assert project["config"]["num_examples_target"] == 2000 and project["config"]["custom"] == "kept"
    assert project["config"]["train_eval_split"] == 0.9  # the defaults fill the rest
    assert project["owner_id"] == alice.id
    assert project["stats"] == {"file_count": 0, "chunk_count": 0, "example_count": 0, "last_job_status": None}


def test_create_validates_its_body(client: FlaskClient, alice: Account) -> None:
    errors = field_errors(client.post("/api/projects", json={"name": "", "task_type": "poetry",
                                                             "config": {"train_eval_split": 2}},
                                      headers=alice.headers))
    assert set(errors) == {"name", "task_type", "config.train_eval_split"}
    assert set(field_errors(client.post("/api/projects", json={}, headers=alice.headers))) == {"name"}
    assert_error(client.post("/api/projects", json={"name": "x"}), 401)


def test_list_filters_by_status_and_shows_only_the_callers(client: FlaskClient, alice: Account, bob: Account,
                                                           workspace: Workspace) -> None:
    first = create(client, alice, name="first")
    create(client, alice, name="second")
    create(client, bob, name="bob's")
    workspace.create_project("from the CLI")  # no owner: nobody's in the multi-user API
    listed = client.get("/api/projects", headers=alice.headers).get_json()
    assert [item["name"] for item in listed["items"]] == ["second", "first"] and listed["total"] == 2
    assert listed["items"][1]["id"] == first["id"] and "stats" in listed["items"][0]
    assert client.get("/api/projects?status=ready", headers=alice.headers).get_json()["total"] == 0
    assert client.get("/api/projects?status=draft", headers=alice.headers).get_json()["total"] == 2
    assert set(field_errors(client.get("/api/projects?status=nonsense", headers=alice.headers))) == {"status"}


def test_get_one_and_404_for_an_unknown_id(client: FlaskClient, alice: Account) -> None:
    project = create(client, alice)
    fetched = client.get(f"/api/projects/{project['id']}", headers=alice.headers)
    assert fetched.status_code == 200 and fetched.get_json()["id"] == project["id"]
    assert_error(client.get("/api/projects/no-such-id", headers=alice.headers), 404, "NOT_FOUND")
    assert_error(client.get("/api/projects/Handbook", headers=alice.headers), 404)  # ids only, never names
    assert_error(client.get(f"/api/projects/{project['id']}"), 401)


@pytest.mark.parametrize("method", ["patch", "put"])
def test_patch_and_put_update_partially_and_merge_config(client: FlaskClient, alice: Account, method: str) -> None:
    project = create(client, alice, description="keep me", config={"num_examples_target": 100, "seed": 7})
    update = getattr(client, method)
    changes = {"name": "Renamed", "config": {"num_examples_target": 300}}
    response = update(f"/api/projects/{project['id']}", json=changes, headers=alice.headers)
    assert response.status_code == 200
    changed = response.get_json()
    assert changed["name"] == "Renamed" and changed["description"] == "keep me"
    assert changed["config"]["num_examples_target"] == 300 and changed["config"]["seed"] == 7
    assert changed["updated_at"] > project["updated_at"]
    assert set(field_errors(update(f"/api/projects/{project['id']}", json={"config": {"seed": "x"}},
                                   headers=alice.headers))) == {"config.seed"}
    assert_error(update("/api/projects/missing", json={"name": "x"}, headers=alice.headers), 404)


def test_delete_removes_the_project_and_its_files(client: FlaskClient, alice: Account, workspace: Workspace) -> None:
    project = create(client, alice)
    workspace.files.put(f"{project['id']}/raw/doc.txt", b"hello")
    assert list(workspace.files.root.glob(f"{project['id']}/**/*.txt"))
    deleted = client.delete(f"/api/projects/{project['id']}", headers=alice.headers)
    assert deleted.status_code == 204 and deleted.data == b""
    assert not list(workspace.files.root.glob(f"{project['id']}/**/*.txt"))
    assert_error(client.get(f"/api/projects/{project['id']}", headers=alice.headers), 404)
    assert_error(client.delete(f"/api/projects/{project['id']}", headers=alice.headers), 404)


class FakeModelInfo(BaseModel):
    model_id: str
    model_type: str = "llama"
    num_parameters: int = 8_030_000_000
    valid: bool = True
    gated: bool = True  # not in finetuneflow's list: passed on as it is


@pytest.fixture
def fake_local_gpu(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """`finetune_local_gpu.services` replaced by a fake that knows one model."""
    calls: list[tuple[str, str]] = []

    def resolve_for_project(workspace: Workspace, project_id: str, model_id: str, **_rule: Any) -> FakeModelInfo:
        calls.append((project_id, model_id))
        if model_id != "meta-llama/Llama-3.1-8B":
            raise NotFoundError(f"Model '{model_id}' not found on HuggingFace Hub", error_code="MODEL_NOT_FOUND")
        return FakeModelInfo(model_id=model_id)

    module = types.ModuleType("finetune_local_gpu.services")
    module.resolve_for_project = resolve_for_project  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "finetune_local_gpu.services", module)
    return calls


def test_model_resolve_calls_the_local_gpu_plugin(fake_local_gpu: list[tuple[str, str]], client: FlaskClient,
                                                  alice: Account) -> None:
    project = create(client, alice)
    path = f"/api/projects/{project['id']}/model/resolve"
    resolved = client.post(path, json={"model_id": "meta-llama/Llama-3.1-8B"}, headers=alice.headers)
    assert resolved.status_code == 200
    info = resolved.get_json()
    assert info["model_id"] == "meta-llama/Llama-3.1-8B" and info["num_parameters"] == 8_030_000_000
    assert info["gated"] is True and info["warnings"] == []
    assert fake_local_gpu == [(project["id"], "meta-llama/Llama-3.1-8B")]
    body = assert_error(client.post(path, json={"model_id": "xxx"}, headers=alice.headers), 404, "MODEL_NOT_FOUND")
    assert body["detail"] == "Model 'xxx' not found on HuggingFace Hub"
    assert set(field_errors(client.post(path, json={}, headers=alice.headers))) == {"model_id"}
    assert_error(client.post("/api/projects/missing/model/resolve", json={"model_id": "a/b"},
                             headers=alice.headers), 404)
    assert len(fake_local_gpu) == 2


def test_model_resolve_without_the_plugin_answers_501(monkeypatch: pytest.MonkeyPatch, client: FlaskClient,
                                                      alice: Account) -> None:
    monkeypatch.setattr(registries(), "model_tools", Registry("model tool"))  # as if no plugin registered any
    project = create(client, alice)
    body = assert_error(client.post(f"/api/projects/{project['id']}/model/resolve", json={"model_id": "a/b"},
                                    headers=alice.headers), 501, "PLUGIN_NOT_INSTALLED")
    assert "finetune-local-gpu" in body["detail"]
