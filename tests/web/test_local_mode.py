"""Local single-user mode (finetuneflow's "pas d'authentification"): no token, one implicit user who sees all."""

from __future__ import annotations

import pytest
from finetune_core.services import keys
from finetune_core.workspace import Workspace
from flask.testing import FlaskClient
from kits.web_api import assert_error

OPENAI_KEY = "sk-" + "l0c4l" * 8


@pytest.fixture
def local(make_app) -> FlaskClient:
    return make_app(local_mode=True).test_client()


def test_every_route_works_without_a_token(local: FlaskClient) -> None:
    me = local.get("/api/users/me").get_json()
    assert me["id"] == "local" and me["email"] == "local@localhost"
    project = local.post("/api/projects", json={"name": "local"})
    assert project.status_code == 201 and project.get_json()["owner_id"] is None
    assert local.get(f"/api/projects/{project.get_json()['id']}").status_code == 200
    assert local.get("/api/projects").get_json()["total"] == 1
    assert local.put("/api/users/me", json={"has_completed_onboarding": True}).get_json()[
        "has_completed_onboarding"] is True
    assert local.get("/api/auth/me").get_json()["has_completed_onboarding"] is True


def test_the_local_user_sees_the_clis_projects_and_keys(local: FlaskClient, workspace: Workspace) -> None:
    from_cli = workspace.create_project("made with the CLI")
    keys.set_key(workspace, "openai", OPENAI_KEY)  # `finetune keys set openai`
    assert [item["id"] for item in local.get("/api/projects").get_json()["items"]] == [from_cli.id]
    assert [item["provider"] for item in local.get("/api/users/me/api-keys").get_json()["items"]] == ["openai"]
    assert local.delete("/api/users/me/api-keys/openai").status_code == 204
    assert keys.list_keys(workspace) == []


def test_local_mode_has_no_session_and_logout_is_harmless(local: FlaskClient) -> None:
    assert_error(local.get("/api/sessions/current"), 404, "NO_SESSION")
    assert local.post("/api/auth/logout").status_code == 200


def test_the_local_user_cannot_sign_in_with_a_password(local: FlaskClient) -> None:
    for password in ("x", "anything-at-all"):
        response = local.post("/api/auth/login", json={"email": "local@localhost", "password": password})
        assert_error(response, 401, "INVALID_CREDENTIALS")
