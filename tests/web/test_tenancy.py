"""Tenancy: a second user gets 404 (never 403, never the data) on every route that takes an id of the first's.

The routes are read from the app itself, so a new id route fails here until `SAMPLE_IDS` knows its id.
"""

from __future__ import annotations

import re
from typing import Any

from finetune_core.services import jobs
from finetune_core.workspace import Workspace
from finetune_web.routes import BLUEPRINTS
from flask import Flask
from flask.testing import FlaskClient
from kits.fake_openai_media import tiny_png
from kits.scripted_trainer import training_things
from kits.web_api import Account, assert_error
from kits.web_uploads import sources_things, upload_one

OPENAI_KEY = "sk-" + "t3n4nt" * 6
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/projects/<project_id>/model/resolve"): {"model_id": "meta-llama/Llama-3.1-8B"},
    ("POST", "/api/messages/<message_id>/feedback"): {"rating": 5},
}
QUERIES = {"/api/messages/stream/<chat_id>": "?message=hello"}  # a well-formed request, so only the id decides
# names of things every user shares, not ids of a user's: the operator's plans; forum topics, public by design
# (reading one is open to all, and deleting another's answers 403: tests/web/test_forum.py)
NOT_OWNED = {"plan_id", "topic_id"}


def conversation_things(client: FlaskClient, alice: Account) -> dict[str, str]:
    """Alice's private agent, a chat with it, and a message stored in the chat (no model is asked)."""
    agent = client.post("/api/agents", json={"name": "alice's agent"}, headers=alice.headers).get_json()
    chat = client.post("/api/chats", json={"agent_id": agent["id"]}, headers=alice.headers).get_json()
    message = client.post("/api/messages", json={"chat_id": chat["id"], "role": "assistant", "content": "hi"},
                          headers=alice.headers).get_json()
    return {"agent_id": agent["id"], "chat_id": chat["id"], "message_id": message["id"]}


def alices_things(client: FlaskClient, alice: Account, workspace: Workspace) -> dict[str, str]:
    """One of each resource of Alice's, by the name its id has in the routes."""
    project = client.post("/api/projects", json={"name": "alice's"}, headers=alice.headers).get_json()
    job = jobs.enqueue(workspace, "curate", project_id=project["id"])
    client.post("/api/users/me/api-keys", json={"provider": "openai", "key": OPENAI_KEY}, headers=alice.headers)
    things = {"project_id": project["id"], "job_id": job.id, "provider": "openai",
              **sources_things(client, alice, project["id"]), **conversation_things(client, alice),
              **training_things(workspace, project["id"], alice.id)}
    issued = client.post("/api/apikeys", json={"model_id": things["model_id"], "name": "alice's key"},
                         headers=alice.headers).get_json()
    upload = upload_one(client, alice, "/api/studio/upload", tiny_png(), "picture.png").get_json()
    # `name`: the file of a studio output (Alice's curate job has none: Bob must get the same 404 as for one)
    return {**things, "key_id": issued["id"], "upload_id": upload["id"], "name": "video.mp4"}


def id_routes(app: Flask) -> list[tuple[str, str]]:
    families = {blueprint.name for blueprint in BLUEPRINTS}
    return sorted((method, rule.rule) for rule in app.url_map.iter_rules()
                  if rule.arguments - NOT_OWNED and rule.endpoint.split(".")[0] in families
                  for method in rule.methods - {"HEAD", "OPTIONS"})


def test_another_users_ids_answer_404_on_every_route(app: Flask, client: FlaskClient, alice: Account,
                                                     bob: Account, workspace: Workspace) -> None:
    sample_ids = alices_things(client, alice, workspace)
    routes = id_routes(app)
    assert len(routes) >= 10
    for method, rule in routes:
        names = re.findall(r"<(?:[^:>]+:)?([^>]+)>", rule)
        missing = [name for name in names if name not in sample_ids]
        assert not missing, f"{method} {rule}: give the test an id of Alice's for {missing}"
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda found: sample_ids[found.group(1)], rule) + QUERIES.get(rule, "")
        response = client.open(path, method=method, json=BODIES.get((method, rule), {}), headers=bob.headers)
        assert_error(response, 404)
        assert "alice" not in response.get_data(as_text=True).lower()
    # and nothing of Alice's changed
    assert client.get(f"/api/projects/{sample_ids['project_id']}", headers=alice.headers).status_code == 200
    assert client.get("/api/users/me/api-keys", headers=alice.headers).get_json()["total"] == 1
    assert client.get(f"/api/jobs/{sample_ids['job_id']}", headers=alice.headers).get_json()["status"] == "success"


def test_lists_show_only_the_callers_rows(client: FlaskClient, alice: Account, bob: Account,
                                          workspace: Workspace) -> None:
    alices_things(client, alice, workspace)
    assert client.get("/api/projects", headers=bob.headers).get_json()["total"] == 0
    assert client.get("/api/users/me/api-keys", headers=bob.headers).get_json()["total"] == 0
    assert client.get("/api/users/me", headers=bob.headers).get_json()["projects_count"] == 0
    for listed in ("/api/contents", "/api/datasets"):
        assert client.get(listed, headers=bob.headers).get_json()["total"] == 0
        assert client.get(listed, headers=alice.headers).get_json()["total"] >= 1
    for listed in ("/api/agents/my", "/api/chats"):
        assert client.get(listed, headers=bob.headers).get_json()["total"] == 0
        assert client.get(listed, headers=alice.headers).get_json()["total"] == 1
    assert client.get("/api/chat/sessions", headers=bob.headers).get_json()["sessions"] == []
    for listed in ("/api/fine-tunings", "/api/finetune", "/api/models"):
        assert client.get(listed, headers=bob.headers).get_json()["total"] == 0
        assert client.get(listed, headers=alice.headers).get_json()["total"] == 1
