"""GDPR over REST (crealia's /api/gdpr): the export of everything a user holds, its erasure, and consent.

Alice gets data everywhere: a project with an uploaded file, a trained model with its files, a provider key, an
issued key, an agent (public: Bob chats with it), a chat with messages, consent. Bob has his own of each.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from finetune_core.domain import JobStatus, Subscription
from finetune_core.services import gdpr, jobs
from finetune_core.storage import billing_tables  # noqa: F401  # its tables join Base.metadata
from finetune_core.storage.tables import Base
from finetune_core.workspace import Workspace
from finetune_providers.stripe_billing import MAX_NETWORK_RETRIES
from flask.testing import FlaskClient
from kits.chat_completions import Action, FakeChatServer, chat_server
from kits.fake_stripe import FakeStripe
from kits.scripted_trainer import Script, dataset_project
from kits.web_api import Account, assert_error, field_errors
from kits.web_uploads import NOTE, upload_files, upload_one
from sqlalchemy import select

ANSWER = "Feed it twice a day."
OPENAI_KEY = "sk-" + "a1b2c3d4" * 5
ADAPTER = b"adapter weights"


@pytest.fixture
def model_server() -> Iterator[FakeChatServer]:
    with chat_server(lambda call: Action(text=ANSWER)) as running:
        yield running


def created(response: Any) -> dict[str, Any]:
    assert response.status_code in (200, 201, 202), response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def data_everywhere(client: FlaskClient, workspace: Workspace, account: Account, model_server: FakeChatServer,
                    name: str) -> dict[str, Any]:
    """A project with an uploaded file, a trained model with files, keys, a public agent, a chat, consent."""
    project_id = dataset_project(client, account, workspace, name=f"{name}'s handbook")
    upload = created(upload_files(client, account, project_id, (NOTE.encode(), f"{name}-note.txt")))
    created(client.post(f"/api/projects/{project_id}/train/start", json={"trainer": "scripted"},
                        headers=account.headers))  # jobs run inline: trained when it answers
    with workspace.unit_of_work() as uow:
        fine_tunes, _ = uow.fine_tunes.search(project_id=project_id, limit=None)
        model = uow.models.get(str(fine_tunes[0].model_id))
    workspace.files.put(f"{model.artifact_path}/adapter_model.safetensors", ADAPTER)  # as a real trainer writes
    created(client.post("/api/users/me/api-keys", json={"provider": "openai", "key": OPENAI_KEY},
                        headers=account.headers))
    key = created(client.post("/api/apikeys", json={"model_id": model.id, "name": f"{name}'s key"},
                              headers=account.headers))
    model_ref = f"openai-compatible:fake-model@{model_server.url}"
    agent = created(client.post("/api/agents", json={"name": f"{name}'s baker", "model": model_ref,
                                                     "is_public": True}, headers=account.headers))
    chat = created(client.post("/api/chats", json={"title": f"{name}'s chat", "agent_id": agent["id"]},
                               headers=account.headers))
    created(client.post("/api/messages", json={"chat_id": chat["id"], "content": f"{name} asks: how often?"},
                        headers=account.headers))
    created(upload_one(client, account, "/api/documents/upload", NOTE.encode(), f"{name}-attached.txt",
                       entity_type="chat", entity_id=chat["id"]))
    created(client.post("/api/gdpr/consent", json={"analytics": True}, headers=account.headers))
    return {"project_id": project_id, "source_id": upload["files"][0]["id"], "fine_tune_id": fine_tunes[0].id,
            "model_id": model.id, "key": key, "agent": agent, "chat": chat}


@pytest.fixture
def everything(client: FlaskClient, workspace: Workspace, alice: Account, bob: Account, scripted: type[Script],
               model_server: FakeChatServer) -> dict[str, dict[str, Any]]:
    mine = data_everywhere(client, workspace, alice, model_server, "alice")
    theirs = data_everywhere(client, workspace, bob, model_server, "bob")
    # Bob chats with Alice's public agent: his chat, not hers
    bobs_chat = created(client.post("/api/chats", json={"title": "bob with alice's baker",
                                                        "agent_id": mine["agent"]["id"]}, headers=bob.headers))
    created(client.post("/api/messages", json={"chat_id": bobs_chat["id"], "content": "bob's secret question"},
                        headers=bob.headers))
    theirs["chat_with_alices_agent"] = bobs_chat
    return {"alice": mine, "bob": theirs}


def export_of(client: FlaskClient, account: Account) -> dict[str, Any]:
    response = client.post("/api/gdpr/export", headers=account.headers)
    assert response.status_code == 200, response.get_json()
    assert response.mimetype == "application/json"
    disposition = response.headers["Content-Disposition"]
    assert re.fullmatch(rf'attachment; filename="crealia-data-export-{account.id}-\d{{8}}T\d{{6}}Z\.json"',
                        disposition), disposition
    data: dict[str, Any] = json.loads(response.data)
    return data


def all_rows(workspace: Workspace) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every row of every table of the schema, as (table name, {column: value})."""
    with workspace.unit_of_work() as uow:
        for table in Base.metadata.sorted_tables:
            for row in uow.session.execute(select(table)).mappings():
                yield table.name, dict(row)


def stored_files(workspace: Workspace) -> list[str]:
    root = workspace.files.root
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())


def rows_mentioning(workspace: Workspace, *needles: str) -> list[tuple[str, str, Any]]:
    found = []
    for table, row in all_rows(workspace):
        for column, value in row.items():
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            if any(needle in text for needle in needles):
                found.append((table, column, value))
    return found


# export -----------------------------------------------------------------------------------------------------------
def test_the_export_holds_every_row_of_the_user_and_nothing_of_anyone_else(
        client: FlaskClient, workspace: Workspace, alice: Account, bob: Account,
        everything: dict[str, dict[str, Any]]) -> None:
    mine, theirs = everything["alice"], everything["bob"]
    data = export_of(client, alice)

    assert data["user"]["id"] == alice.id and data["user"]["email"] == alice.email
    assert data["consent"] == {**data["consent"], "necessary": True, "analytics": True, "marketing": False}
    assert {project["owner_id"] for project in data["projects"]} == {alice.id}  # her attachments' project too
    [project] = [project for project in data["projects"] if project["id"] == mine["project_id"]]
    assert mine["source_id"] in {source["id"] for source in project["sources"]}
    assert project["examples"] and project["jobs"] and all("events" in job for job in project["jobs"])
    assert [fine_tune["id"] for fine_tune in data["fine_tunes"]] == [mine["fine_tune_id"]]
    assert [model["id"] for model in data["models"]] == [mine["model_id"]]
    assert [agent["id"] for agent in data["agents"]] == [mine["agent"]["id"]]
    assert [chat["id"] for chat in data["chats"]] == [mine["chat"]["id"]]  # not Bob's chat with her agent
    contents = [message["content"] for message in data["chats"][0]["messages"]]
    assert contents == ["alice asks: how often?", ANSWER]
    assert [session["user_id"] for session in data["sessions"]] == [alice.id]

    # secrets stay in storage: a masked provider key, an issued key without its hash, no password hash
    [provider_key] = data["provider_keys"]
    assert provider_key["masked"].endswith(OPENAI_KEY[-4:]) and OPENAI_KEY not in json.dumps(data)
    assert "encrypted_key" not in provider_key
    [issued] = data["issued_keys"]
    assert issued["id"] == mine["key"]["id"] and issued["prefix"] == mine["key"]["prefix"]
    assert "key_hash" not in issued and mine["key"]["key"] not in json.dumps(data)
    text = json.dumps(data)
    assert "password" not in text and "scrypt" not in text and "refresh_jti" not in text

    # her files: the uploaded source and the model's adapter, with their sizes
    files = {item["key"]: item["size_bytes"] for item in data["files"]}
    assert any(key.startswith(f"{mine['project_id']}/") and key.endswith("alice-note.txt") for key in files)
    assert any(key.endswith("alice-attached.txt") for key in files)  # in the project of her attachments
    adapter = [key for key in files if key.startswith(f"fine_tunes/{mine['fine_tune_id']}/")]
    assert adapter and files[adapter[0]] == len(ADAPTER)
    for key in files:
        assert workspace.files.local_path(key).is_file()

    # nothing of Bob's: no id, no email, not his question to her agent
    for needle in (bob.id, bob.email, theirs["project_id"], theirs["chat"]["id"], theirs["agent"]["id"],
                   theirs["chat_with_alices_agent"]["id"], "bob's secret question", theirs["model_id"]):
        assert needle not in text, needle


def test_the_export_needs_a_token(client: FlaskClient) -> None:
    assert_error(client.post("/api/gdpr/export"), 401)


# erasure ----------------------------------------------------------------------------------------------------------
def test_delete_erases_every_row_and_file_and_refuses_every_token(
        client: FlaskClient, workspace: Workspace, alice: Account, bob: Account,
        everything: dict[str, dict[str, Any]]) -> None:
    mine, theirs = everything["alice"], everything["bob"]
    her_files = [item["key"] for item in export_of(client, alice)["files"]]
    bobs_export = export_of(client, bob)
    bobs_files = stored_files(workspace)
    bobs_files = [key for key in bobs_files if key not in her_files]
    assert client.get("/v1/models", headers={"Authorization": f"Bearer {mine['key']['key']}"}).status_code == 200

    deleted = client.post("/api/gdpr/delete", json={"confirmation": "DELETE_MY_DATA"}, headers=alice.headers)
    assert deleted.status_code == 200, deleted.get_json()
    assert deleted.get_json() == {"success": True, "message": "All your data has been permanently deleted"}

    # no row of any table holds her id, her email or the id of anything she owned
    her_ids = [alice.id, alice.email, mine["project_id"], mine["source_id"], mine["fine_tune_id"], mine["model_id"],
               mine["key"]["id"], mine["chat"]["id"]]
    leftovers = rows_mentioning(workspace, *her_ids)
    assert leftovers == [], leftovers
    # ...but Bob's chat with her (now gone) agent is his, and stays
    assert rows_mentioning(workspace, mine["agent"]["id"]) == [("chats", "agent_id", mine["agent"]["id"])]
    # none of her files remain; Bob's all do
    left = stored_files(workspace)
    assert not set(her_files) & set(left)
    assert not [key for key in left if mine["project_id"] in key or mine["fine_tune_id"] in key or "alice" in key]
    assert [key for key in left if key.endswith("bob-attached.txt")]
    assert set(bobs_files) <= set(left)

    # her access token, her refresh token, her issued key: refused
    assert_error(client.get("/api/auth/me", headers=alice.headers), 401)
    assert_error(client.post("/api/auth/refresh-token", json={"refresh_token": alice.tokens["refresh_token"]}), 401)
    assert client.get("/v1/models", headers={"Authorization": f"Bearer {mine['key']['key']}"}).status_code == 401
    assert_error(client.post("/api/auth/login", json={"email": alice.email, "password": alice.password}), 401)

    # Bob's data is intact
    after = export_of(client, bob)
    for section in ("projects", "fine_tunes", "models", "agents", "chats", "issued_keys", "provider_keys", "files"):
        assert after[section] == bobs_export[section], section
    assert client.get("/v1/models", headers={"Authorization": f"Bearer {theirs['key']['key']}"}).status_code == 200


def test_delete_needs_the_confirmation(client: FlaskClient, alice: Account) -> None:
    assert_error(client.post("/api/gdpr/delete", json={"confirmation": "yes"}, headers=alice.headers), 400,
                 "CONFIRMATION_REQUIRED")
    assert "confirmation" in field_errors(client.post("/api/gdpr/delete", json={}, headers=alice.headers))
    assert_error(client.post("/api/gdpr/delete", headers=alice.headers), 422)
    assert client.get("/api/auth/me", headers=alice.headers).status_code == 200  # nothing happened


def test_the_local_user_cannot_be_erased(make_app: Any) -> None:
    local = make_app(local_mode=True).test_client()
    assert_error(local.post("/api/gdpr/delete", json={"confirmation": "DELETE_MY_DATA"}), 400)
    assert local.post("/api/gdpr/export").status_code == 200


def test_an_erasure_cut_after_its_first_step_is_finished_by_the_cleanup(
        client: FlaskClient, workspace: Workspace, alice: Account, bob: Account) -> None:
    project = created(client.post("/api/projects", json={"name": "draft"}, headers=alice.headers))
    created(upload_files(client, alice, project["id"], (NOTE.encode(), "note.txt")))

    assert gdpr.request_erasure(workspace, alice.id)  # the first step alone: as if the server died right after
    assert_error(client.get("/api/auth/me", headers=alice.headers), 401)  # refused at once
    assert_error(client.post("/api/auth/refresh-token", json={"refresh_token": alice.tokens["refresh_token"]}), 401)
    assert rows_mentioning(workspace, alice.id)  # the rest is still there...

    assert gdpr.finish_pending_erasures(workspace, grace=timedelta(0)) == 1  # ...until the cleanup finishes it
    assert rows_mentioning(workspace, alice.id, project["id"]) == []
    assert not [key for key in stored_files(workspace) if project["id"] in key]
    assert gdpr.finish_pending_erasures(workspace, grace=timedelta(0)) == 0
    assert gdpr.erase_user(workspace, alice.id) is False  # a rerun with the user gone: nothing to do
    assert client.get("/api/auth/me", headers=bob.headers).status_code == 200


@contextlib.contextmanager
def undeletable(folder: Path) -> Iterator[None]:
    """The entries of `folder` cannot be removed while inside: a read-only folder (root ignores that: immutable)."""
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)],
                                                            capture_output=True).returncode != 0:
            pytest.skip("cannot make a folder undeletable as root here (no chattr, or no CAP_LINUX_IMMUTABLE)")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
    else:
        mode = folder.stat().st_mode
        folder.chmod(0o500)
        try:
            yield
        finally:
            folder.chmod(mode)


def test_an_erasure_whose_file_deletion_fails_is_finished_by_a_rerun(
        client: FlaskClient, workspace: Workspace, alice: Account) -> None:
    project = created(client.post("/api/projects", json={"name": "draft"}, headers=alice.headers))
    upload = created(upload_files(client, alice, project["id"], (NOTE.encode(), "note.txt")))
    queued = jobs.new_job("chunk", project_id=project["id"])  # waiting for a worker: cancelled by the erasure
    with workspace.unit_of_work() as uow:
        uow.jobs.add(queued)
    source_folder = workspace.files.local_path(f"{project['id']}/{upload['files'][0]['id']}")

    with undeletable(source_folder), pytest.raises(OSError):
        gdpr.erase_user(workspace, alice.id)
    assert_error(client.get("/api/auth/me", headers=alice.headers), 401)  # the account is refused already
    assert jobs.get_job(workspace, queued.id).status is JobStatus.CANCELLED
    with workspace.unit_of_work() as uow:
        assert uow.users.pending_erasures() == [alice.id]

    assert gdpr.erase_user(workspace, alice.id) is True
    assert rows_mentioning(workspace, alice.id, project["id"]) == []
    assert not [key for key in stored_files(workspace) if project["id"] in key]


# consent ----------------------------------------------------------------------------------------------------------
def test_consent_defaults_then_round_trips(client: FlaskClient, alice: Account, bob: Account) -> None:
    defaults = client.get("/api/gdpr/consent", headers=alice.headers)
    assert defaults.status_code == 200
    assert defaults.get_json() == {"consent": {"necessary": True, "analytics": False, "marketing": False,
                                               "preferences": False}}
    updated = client.post("/api/gdpr/consent", json={"analytics": True, "preferences": True}, headers=alice.headers)
    assert updated.status_code == 200
    assert updated.get_json() == {"success": True, "message": "Consent preferences updated"}
    client.post("/api/gdpr/consent", json={"marketing": True, "analytics": False, "necessary": True},
                headers=alice.headers)
    assert client.get("/api/gdpr/consent", headers=alice.headers).get_json()["consent"] == {
        "necessary": True, "analytics": False, "marketing": True, "preferences": True}
    assert client.get("/api/gdpr/consent", headers=bob.headers).get_json()["consent"]["marketing"] is False


def test_necessary_consent_cannot_be_refused(client: FlaskClient, alice: Account) -> None:
    assert_error(client.post("/api/gdpr/consent", json={"necessary": False, "analytics": True},
                             headers=alice.headers), 400)
    assert client.get("/api/gdpr/consent", headers=alice.headers).get_json()["consent"]["analytics"] is False
    assert "analytics" in field_errors(client.post("/api/gdpr/consent", json={"analytics": "yes"},
                                                   headers=alice.headers))


# the Stripe subscription ------------------------------------------------------------------------------------------
def test_delete_cancels_the_stripe_subscription_and_a_stripe_outage_leaves_it_pending(
        client: FlaskClient, workspace: Workspace, alice: Account, bob: Account, fake_stripe: FakeStripe) -> None:
    workspace.settings = workspace.settings.model_copy(update=fake_stripe.settings())
    stripes = {}
    for account in (alice, bob):
        stripes[account.id] = fake_stripe.add_subscription(customer=f"cus_{account.id[:8]}", price="price_pro")
        with workspace.unit_of_work() as uow:
            uow.subscriptions.put(Subscription(user_id=account.id, plan="pro", billing_cycle="monthly",
                                               stripe_customer_id=f"cus_{account.id[:8]}",
                                               stripe_subscription_id=stripes[account.id]["id"]))
    mine, theirs = stripes[alice.id]["id"], stripes[bob.id]["id"]

    fake_stripe.fail_next = [500] * (MAX_NETWORK_RETRIES + 1)  # Stripe is down: the erasure cannot finish
    down = client.post("/api/gdpr/delete", json={"confirmation": "DELETE_MY_DATA"}, headers=alice.headers)
    assert_error(down, 502, "PAYMENT_PROVIDER_ERROR")
    assert fake_stripe.subscriptions[mine]["status"] == "active"
    assert_error(client.get("/api/auth/me", headers=alice.headers), 401)  # refused all the same
    with workspace.unit_of_work() as uow:
        assert uow.users.pending_erasures() == [alice.id]
        assert uow.subscriptions.of_user(alice.id) is not None  # kept: the rerun needs its Stripe id

    assert gdpr.finish_pending_erasures(workspace, grace=timedelta(0)) == 1  # Stripe is back
    assert fake_stripe.subscriptions[mine]["status"] == "canceled"
    assert fake_stripe.calls_to("DELETE", f"/v1/subscriptions/{mine}")
    assert rows_mentioning(workspace, alice.id, mine) == []
    assert fake_stripe.subscriptions[theirs]["status"] == "active"  # Bob's is his
    with workspace.unit_of_work() as uow:
        assert uow.subscriptions.of_user(bob.id) is not None
