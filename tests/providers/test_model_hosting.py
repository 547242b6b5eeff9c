"""Serving hosted fine-tunes: Together's dedicated endpoints and Fireworks' deployments, with cost confirmation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from finetune_core.domain import Message
from finetune_core.errors import ConflictError, NotFoundError
from finetune_core.services import chat_targets, model_hosting, trained_models
from finetune_core.services.keys import set_key
from finetune_core.workspace import Workspace
from kits.hosted_providers import FakeFireworks, FakeTogether, HostedServer, hosted_server

TOGETHER_KEY = "tgp_v1_" + "x9Y8" * 10
FIREWORKS_KEY = "fw_" + "T3stKey9" * 3


@dataclass
class Case:
    provider: str
    key: str
    model_id: str  # the fine-tune's id at the provider
    hardware: str  # what the host picks by default
    cost: float
    fake: Callable[..., Any]

    def created(self, server: HostedServer) -> list[Any]:
        if self.provider == "together":
            return server.calls("POST", "endpoints")
        return server.calls("POST", "accounts/acme/deployments")

    def stopped(self, server: HostedServer) -> list[Any]:
        return [r for r in server.requests if r.method in ("PATCH", "DELETE")]


TOGETHER = Case("together", TOGETHER_KEY, "user/Meta-Llama-3.1-8B-Instruct-Reference-ft-1", "1x_nvidia_h100_80gb_sxm",
                3.99, FakeTogether)
FIREWORKS = Case("fireworks", FIREWORKS_KEY, "accounts/acme/models/finetune-abc", "NVIDIA_H100_80GB", 4.0,
                 FakeFireworks)


@pytest.fixture(params=[pytest.param(TOGETHER, id="together"), pytest.param(FIREWORKS, id="fireworks")])
def case(request: pytest.FixtureRequest) -> Case:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def server(case: Case, finetune_workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[HostedServer]:
    with hosted_server(case.fake(api_key=case.key)) as running:
        host = finetune_workspace.plugins.model_hosts.get(case.provider)
        monkeypatch.setattr(host, "base_url", running.url, raising=False)
        if case.provider == "fireworks":
            monkeypatch.setattr(host, "inference_url", running.url.removesuffix("/v1") + "/inference/v1",
                                raising=False)
        yield running


def make_model(workspace: Workspace, case: Case, owner_id: str | None = None) -> str:
    return trained_models.create_model(workspace, name="handbook v1", base_model="llama", provider=case.provider,
                                       provider_model_id=case.model_id, owner_id=owner_id).id


def ask(workspace: Workspace, model_id: str, owner_id: str | None = None) -> str:
    target = chat_targets.resolve(workspace, model_id, owner_id)
    chat = chat_targets.build(workspace, target, owner_id)

    async def go() -> str:
        try:
            return (await chat.complete([Message(role="user", content="Hi")])).text
        finally:
            await chat.aclose()

    return asyncio.run(go())


def test_a_deployment_starts_only_once_its_cost_is_confirmed_and_chats_reach_it(
        case: Case, server: HostedServer, finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    set_key(ws, case.provider, case.key)
    model_id = make_model(ws, case)
    assert model_hosting.deployment(ws, model_id, None)["state"] == "none"
    with pytest.raises(ConflictError) as refused:
        ask(ws, model_id)
    assert refused.value.error_code == "MODEL_NOT_DEPLOYED"

    for confirm in (None, case.cost - 0.01):
        with pytest.raises(ConflictError) as unconfirmed:
            model_hosting.deploy(ws, model_id, None, confirm_cost_per_hour=confirm)
        assert unconfirmed.value.error_code == "DEPLOYMENT_COST_UNCONFIRMED"
        assert unconfirmed.value.context["cost_per_hour"] == case.cost
        assert unconfirmed.value.context["hardware"] == case.hardware
    assert case.created(server) == []

    started = model_hosting.deploy(ws, model_id, None, confirm_cost_per_hour=case.cost)
    again = model_hosting.deploy(ws, model_id, None, confirm_cost_per_hour=case.cost)
    assert len(case.created(server)) == 1
    body = case.created(server)[0].json
    if case.provider == "together":
        assert (body["model"], body["hardware"]) == (case.model_id, case.hardware)
        assert body["autoscaling"] == {"min_replicas": 1, "max_replicas": 1}
    else:
        assert (body["baseModel"], body["acceleratorType"]) == (case.model_id, case.hardware)
    assert started["deployment_id"] == again["deployment_id"] and started["cost_per_hour"] == case.cost

    for _ in range(5):
        if model_hosting.deployment(ws, model_id, None)["state"] == "ready":
            break
    assert model_hosting.deployment(ws, model_id, None)["state"] == "ready"
    answer = ask(ws, model_id)
    chat_model = model_hosting.deployment(ws, model_id, None)["chat_model"]
    assert answer == f"Hello from {chat_model}"
    last = server.provider.chats[-1]  # type: ignore[attr-defined]
    assert last.json["model"] == chat_model and last.headers["authorization"] == f"Bearer {case.key}"

    stopped = model_hosting.undeploy(ws, model_id, None)
    assert stopped["state"] in ("stopping", "stopped")
    assert len(case.stopped(server)) == 1
    with pytest.raises(ConflictError) as after:
        ask(ws, model_id)
    assert after.value.error_code == "MODEL_NOT_DEPLOYED"
    model_hosting.deployment(ws, model_id, None)
    assert model_hosting.deployment(ws, model_id, None)["state"] == "stopped"


def test_another_users_model_is_not_found(case: Case, server: HostedServer, finetune_workspace: Workspace) -> None:
    model_id = make_model(finetune_workspace, case, owner_id="alice")
    for call in (model_hosting.deployment, model_hosting.undeploy):
        with pytest.raises(NotFoundError):
            call(finetune_workspace, model_id, "bob")
    with pytest.raises(NotFoundError):
        model_hosting.deploy(finetune_workspace, model_id, "bob", confirm_cost_per_hour=100)
    assert case.created(server) == []


def test_the_rest_routes_deploy_chat_and_stop(server: HostedServer, finetune_workspace: Workspace,
                                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from finetune_core import passwords
    from finetune_web import create_app
    from finetune_web.settings import WebSettings
    from kits.web_api import assert_error, sign_up

    monkeypatch.setattr(passwords, "DEFAULT_COST", passwords.ScryptCost(n=2**10, r=8, p=1))
    ws = finetune_workspace
    client = create_app(WebSettings(workspace=ws.settings.root, rate_limits=False), workspace=ws).test_client()
    alice, bob = sign_up(client, "alice@example.com", name="Alice"), sign_up(client, "bob@example.com", name="Bob")
    case = TOGETHER if isinstance(server.provider, FakeTogether) else FIREWORKS
    set_key(ws, case.provider, case.key, owner_id=alice.id)
    model_id = make_model(ws, case, owner_id=alice.id)
    path = f"/api/models/{model_id}/deployment"

    refused = client.post(path, json={}, headers=alice.headers)
    assert_error(refused, 409, "DEPLOYMENT_COST_UNCONFIRMED")
    assert str(case.cost) in refused.get_json()["detail"] or f"{case.cost:.2f}" in refused.get_json()["detail"]
    assert case.created(server) == []
    for call in (client.get, client.delete):
        assert_error(call(path, headers=bob.headers), 404)
    assert_error(client.post(path, json={"confirm_cost_per_hour": 1000}, headers=bob.headers), 404)

    started = client.post(path, json={"confirm_cost_per_hour": case.cost}, headers=alice.headers)
    assert started.status_code == 202, started.get_json()
    assert started.get_json()["hardware"] == case.hardware
    chat = client.post("/api/chats", json={"model_id": model_id}, headers=alice.headers)
    if chat.status_code == 201:  # a chat may be opened before the deployment is ready: asking it is refused
        asked = client.post("/api/messages", json={"chat_id": chat.get_json()["id"], "content": "Hi"},
                            headers=alice.headers)
        assert_error(asked, 409, "MODEL_NOT_DEPLOYED")
    for _ in range(5):
        if client.get(path, headers=alice.headers).get_json()["state"] == "ready":
            break
    shown = client.get(path, headers=alice.headers).get_json()
    assert shown["state"] == "ready" and shown["chat_model"]
    chat = client.post("/api/chats", json={"model_id": model_id}, headers=alice.headers)
    assert chat.status_code == 201, chat.get_json()
    asked = client.post("/api/messages", json={"chat_id": chat.get_json()["id"], "content": "Hi"},
                        headers=alice.headers)
    assert asked.status_code == 201, asked.get_json()
    assert asked.get_json()["assistant_message"]["content"] == f"Hello from {shown['chat_model']}"

    stopped = client.delete(path, headers=alice.headers)
    assert stopped.status_code == 200 and stopped.get_json()["state"] in ("stopping", "stopped")
    assert len(case.stopped(server)) == 1
    asked = client.post("/api/messages", json={"chat_id": chat.get_json()["id"], "content": "Again?"},
                        headers=alice.headers)
    assert_error(asked, 409, "MODEL_NOT_DEPLOYED")
