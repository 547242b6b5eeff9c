"""Auth, users and sessions through the API: sign-up, sign-in, rotation, reuse detection, logout, profile."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from finetune_core.domain import Example, Message
from finetune_core.workspace import Workspace
from flask import Flask
from flask.testing import FlaskClient
from flask_jwt_extended import create_access_token, create_refresh_token
from kits.scripted_trainer import Script, dataset_project
from kits.web_api import PASSWORD, Account, assert_error, field_errors, sign_up


@pytest.mark.parametrize("path", ["/api/auth/register", "/api/auth/signup"])
def test_register_and_its_alias_create_a_user(client: FlaskClient, path: str) -> None:
    response = client.post(path, json={"email": " Ada@Example.COM ", "password": PASSWORD, "name": "Ada"})
    assert response.status_code == 201
    user = response.get_json()
    assert user["email"] == "ada@example.com" and user["name"] == "Ada"
    assert isinstance(user["id"], str) and user["created_at"].endswith("Z")
    assert "password" not in str(user) and "hash" not in str(user)


def test_register_refuses_a_duplicate_email_and_trigramme(client: FlaskClient, alice: Account) -> None:
    again = client.post("/api/auth/register", json={"email": "ALICE@example.com", "password": PASSWORD})
    assert_error(again, 409, "EMAIL_TAKEN")
    taken = client.post("/api/auth/signup", json={"email": "other@example.com", "password": PASSWORD,
                                                  "trigramme": "ali"})
    assert_error(taken, 409, "TRIGRAMME_TAKEN")


def test_register_validates_each_field(client: FlaskClient) -> None:
    errors = field_errors(client.post("/api/auth/register", json={"email": "nope", "password": "short",
                                                                  "trigramme": "TOOLONG"}))
    assert set(errors) == {"email", "password", "trigramme"}
    assert "8 characters" in errors["password"]
    assert set(field_errors(client.post("/api/auth/register", json={}))) == {"email", "password"}
    assert set(field_errors(client.post("/api/auth/register", data="not json"))) == {"email", "password"}
    assert set(field_errors(client.post("/api/auth/register", json=["a", "list"]))) == {None}


def test_invalid_json_answers_400_in_the_error_body(client: FlaskClient) -> None:
    response = client.post("/api/auth/register", data="{oops", content_type="application/json")
    assert_error(response, 400, "INVALID_JSON")


@pytest.mark.parametrize("path", ["/api/auth/login", "/api/auth/signin"])
def test_login_and_its_alias_return_both_tokens_and_the_user(client: FlaskClient, alice: Account, path: str) -> None:
    response = client.post(path, json={"email": alice.email, "password": PASSWORD})
    assert response.status_code == 200
    body = response.get_json()
    assert body["token_type"] == "bearer" and body["access_token"] and body["refresh_token"]
    assert body["user"]["id"] == alice.id and body["user"]["last_login_at"].endswith("Z")
    assert body["expires_in"] == 900


def test_login_takes_a_username_an_oauth2_form_or_a_trigramme(client: FlaskClient, alice: Account) -> None:
    assert client.post("/api/auth/login", json={"username": alice.email, "password": PASSWORD}).status_code == 200
    form = client.post("/api/auth/login", data={"username": alice.email, "password": PASSWORD,
                                                "grant_type": "password"})
    assert form.status_code == 200 and form.get_json()["user"]["id"] == alice.id
    assert client.post("/api/auth/login", json={"username": "ali", "password": PASSWORD}).status_code == 200


def test_login_refuses_wrong_credentials_alike(client: FlaskClient, alice: Account) -> None:
    wrong_password = assert_error(client.post("/api/auth/login", json={"email": alice.email, "password": "x" * 9}),
                                  401, "INVALID_CREDENTIALS")
    unknown_user = assert_error(client.post("/api/auth/login", json={"email": "who@example.com",
                                                                     "password": PASSWORD}), 401)
    assert wrong_password == unknown_user
    assert set(field_errors(client.post("/api/auth/login", json={"password": PASSWORD}))) == {None}


def test_a_route_needs_a_token_and_refuses_a_malformed_one_with_401(client: FlaskClient, alice: Account) -> None:
    assert_error(client.get("/api/users/me"), 401, "AUTHENTICATION_REQUIRED")
    for header in ("Bearer not-a-jwt", "Bearer a.b.c", "Bearer "):
        assert_error(client.get("/api/users/me", headers={"Authorization": header}), 401)
    assert_error(client.get("/api/users/me", headers={"Authorization": "Basic abc"}), 401)
    forged = alice.tokens["access_token"][:-4] + "AAAA"
    assert_error(client.get("/api/users/me", headers={"Authorization": f"Bearer {forged}"}), 401, "INVALID_TOKEN")


def test_a_refresh_token_is_not_an_access_token(client: FlaskClient, alice: Account) -> None:
    headers = {"Authorization": f"Bearer {alice.tokens['refresh_token']}"}
    assert_error(client.get("/api/users/me", headers=headers), 401, "INVALID_TOKEN")
    wrong_kind = client.post("/api/auth/refresh-token", json={"refresh_token": alice.tokens["access_token"]})
    assert_error(wrong_kind, 401, "INVALID_TOKEN")


def test_an_expired_access_token_answers_401(app: Flask, client: FlaskClient, alice: Account) -> None:
    with app.app_context():
        token = create_access_token(identity=alice.id, additional_claims={"sid": alice.tokens["session_id"]},
                                    expires_delta=timedelta(seconds=-1))
    assert_error(client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"}), 401, "TOKEN_EXPIRED")


def test_refresh_rotates_and_a_used_refresh_token_is_refused(client: FlaskClient, alice: Account) -> None:
    first = alice.tokens["refresh_token"]
    rotated = client.post("/api/auth/refresh-token", json={"refresh_token": first})
    assert rotated.status_code == 200
    pair = rotated.get_json()
    assert pair["refresh_token"] != first and pair["session_id"] == alice.tokens["session_id"]
    assert client.get("/api/users/me", headers={"Authorization": f"Bearer {pair['access_token']}"}).status_code == 200
    assert_error(client.post("/api/auth/refresh-token", json={"refresh_token": first}), 401, "REFRESH_TOKEN_REUSED")


def test_reusing_an_old_refresh_token_revokes_the_whole_session(client: FlaskClient, alice: Account) -> None:
    first = alice.tokens["refresh_token"]
    pair = client.post("/api/auth/refresh-token", json={"refresh_token": first}).get_json()
    client.post("/api/auth/refresh-token", json={"refresh_token": first})  # the thief's replay
    newest = {"Authorization": f"Bearer {pair['access_token']}"}
    assert_error(client.get("/api/users/me", headers=newest), 401, "TOKEN_REVOKED")
    assert_error(client.post("/api/auth/refresh-token", json={"refresh_token": pair["refresh_token"]}), 401,
                 "TOKEN_REVOKED")
    assert client.post("/api/auth/login", json={"email": alice.email, "password": PASSWORD}).status_code == 200


def test_refresh_refuses_forged_and_unknown_session_tokens(app: Flask, client: FlaskClient, alice: Account) -> None:
    assert_error(client.post("/api/auth/refresh-token", json={"refresh_token": "junk"}), 401, "INVALID_TOKEN")
    with app.app_context():
        orphan = create_refresh_token(identity=alice.id, additional_claims={"sid": "no-such-session"})
        expired = create_refresh_token(identity=alice.id, additional_claims={"sid": alice.tokens["session_id"]},
                                       expires_delta=timedelta(seconds=-1))
    assert_error(client.post("/api/auth/refresh-token", json={"refresh_token": orphan}), 401, "INVALID_TOKEN")
    assert_error(client.post("/api/auth/refresh-token", json={"refresh_token": expired}), 401, "TOKEN_EXPIRED")
    assert set(field_errors(client.post("/api/auth/refresh-token", json={}))) == {"refresh_token"}


def test_logout_revokes_the_access_and_the_refresh_token(client: FlaskClient, alice: Account) -> None:
    response = client.post("/api/auth/logout", headers=alice.headers)
    assert response.status_code == 200 and response.get_json() == {"detail": "Successfully logged out"}
    assert_error(client.get("/api/users/me", headers=alice.headers), 401, "TOKEN_REVOKED")
    assert_error(client.post("/api/auth/refresh-token", json={"refresh_token": alice.tokens["refresh_token"]}),
                 401, "TOKEN_REVOKED")
    assert_error(client.post("/api/auth/logout"), 401)


def test_logout_ends_only_its_own_session(client: FlaskClient, alice: Account) -> None:
    other_device = client.post("/api/auth/login", json={"email": alice.email, "password": PASSWORD})
    assert other_device.status_code == 200
    client.post("/api/auth/logout", headers=alice.headers)
    still = {"Authorization": f"Bearer {other_device.get_json()['access_token']}"}
    assert client.get("/api/users/me", headers=still).status_code == 200


@pytest.mark.parametrize("path", ["/api/users/me", "/api/auth/me"])
def test_me_and_its_alias_show_the_profile_with_usage(client: FlaskClient, alice: Account, path: str) -> None:
    client.post("/api/projects", json={"name": "one"}, headers=alice.headers)
    profile = client.get(path, headers=alice.headers).get_json()
    assert profile["id"] == alice.id and profile["trigramme"] == "ALI"
    assert profile["has_completed_onboarding"] is False
    assert profile["projects_count"] == 1 and profile["fine_tune_jobs"] == 0


def test_usage_counters_are_counted_from_the_callers_rows(client: FlaskClient, alice: Account, bob: Account,
                                                          workspace: Workspace, scripted: type[Script]) -> None:
    def usage(account: Account, path: str = "/api/auth/me") -> dict[str, Any]:
        profile = client.get(path, headers=account.headers).get_json()
        return {key: profile[key] for key in ("projects_count", "datasets_count", "fine_tune_jobs", "queries_used",
                                              "current_plan")}

    def listed(path: str) -> int:
        return int(client.get(path, headers=alice.headers).get_json()["total"])

    empty = {"projects_count": 0, "datasets_count": 0, "fine_tune_jobs": 0, "queries_used": 0, "current_plan": "free"}
    assert usage(alice) == empty
    plain = client.post("/api/projects", json={"name": "no dataset"}, headers=alice.headers).get_json()["id"]
    previews = client.post("/api/projects", json={"name": "previews only"}, headers=alice.headers).get_json()["id"]
    with workspace.unit_of_work() as uow:  # a preview is no dataset yet
        uow.examples.add([Example(project_id=previews, request_key="preview:0", split="preview",
                                   messages=[Message(role="user", content="Q?"), Message(role="assistant",
                                                                                         content="A.")])])
    assert client.post("/api/datasets", json={"name": "standalone"}, headers=alice.headers).status_code == 201
    handbook = dataset_project(client, alice, workspace)  # examples, no dataset record: a dataset all the same
    named = client.post("/api/datasets", json={"name": "named", "project_id": plain}, headers=alice.headers)
    assert named.status_code == 201
    started = client.post(f"/api/projects/{handbook}/train/start", json={"trainer": "scripted"}, headers=alice.headers)
    assert started.status_code == 202
    counted = usage(alice)
    assert counted == {**empty, "projects_count": 4, "datasets_count": 3, "fine_tune_jobs": 1}
    assert counted["projects_count"] == listed("/api/projects")
    assert counted["datasets_count"] == listed("/api/datasets")
    assert counted["fine_tune_jobs"] == listed("/api/fine-tunings") == listed("/api/finetune")
    assert client.delete(f"/api/datasets/{plain}", headers=alice.headers).status_code == 204  # the project stays
    assert usage(alice, "/api/users/me") == {**counted, "datasets_count": 2} and listed("/api/datasets") == 2
    assert client.put("/api/users/me", json={"name": "A."}, headers=alice.headers).get_json()["datasets_count"] == 2
    assert usage(bob) == empty


def test_put_me_updates_only_the_fields_given(client: FlaskClient, alice: Account, bob: Account) -> None:
    response = client.put("/api/users/me", json={"has_completed_onboarding": True}, headers=alice.headers)
    assert response.status_code == 200
    assert response.get_json()["has_completed_onboarding"] is True and response.get_json()["name"] == "Alice"
    renamed = client.put("/api/users/me", json={"name": "Alice B.", "trigramme": "alb"}, headers=alice.headers)
    assert renamed.get_json()["name"] == "Alice B." and renamed.get_json()["trigramme"] == "ALB"
    assert_error(client.put("/api/users/me", json={"trigramme": "ALB"}, headers=bob.headers), 409, "TRIGRAMME_TAKEN")
    assert set(field_errors(client.put("/api/users/me", json={"has_completed_onboarding": "maybe"},
                                       headers=alice.headers))) == {"has_completed_onboarding"}
    assert_error(client.put("/api/users/me", json={"name": "x"}), 401)
    assert_error(client.patch("/api/users/me", json={"name": "x"}, headers=alice.headers), 405)


def test_current_session_has_foyergpt_shape(client: FlaskClient) -> None:
    sign_up(client, "carol@example.com")
    tokens = client.post("/api/auth/login", json={"email": "carol@example.com", "password": PASSWORD},
                         headers={"User-Agent": "Mozilla/5.0 test"}).get_json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    session = client.get("/api/sessions/current", headers=headers).get_json()
    assert session["id"] == tokens["session_id"] and session["user_id"] == tokens["user"]["id"]
    assert session["expires_at"].endswith("Z")
    assert session["metadata"] == {"user_agent": "Mozilla/5.0 test", "ip_address": "127.0.0.1"}
    assert_error(client.get("/api/sessions/current"), 401)


def test_a_disabled_account_cannot_sign_in_nor_use_its_tokens(app: Flask, client: FlaskClient,
                                                              alice: Account) -> None:
    from finetune_web.current import EXTENSION

    workspace = app.extensions[EXTENSION].workspace
    with workspace.unit_of_work() as uow:
        user = uow.users.get(alice.id)
        user.is_active = False
        uow.users.save(user)
    assert_error(client.post("/api/auth/login", json={"email": alice.email, "password": PASSWORD}), 401,
                 "ACCOUNT_DISABLED")
    assert_error(client.get("/api/users/me", headers=alice.headers), 401, "ACCOUNT_DISABLED")
