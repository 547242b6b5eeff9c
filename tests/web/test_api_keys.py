"""The caller's provider keys: 201 then 200 on replace, masked on every read, format checks, delete, check."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from finetune_core import hookimpl
from finetune_core.errors import InvalidApiKeyError
from finetune_core.keys import ProviderSpec
from finetune_core.services import keys
from finetune_web.current import EXTENSION
from flask import Flask
from flask.testing import FlaskClient
from kits.web_api import Account, assert_error, field_errors

OPENAI_KEY = "sk-" + "a1b2c3d4" * 5
ANTHROPIC_KEY = "sk-ant-" + "z9y8x7w6" * 5


def refuse_live(key: str, _transport: object) -> None:
    if key.endswith("bad"):
        raise InvalidApiKeyError("the Fake provider refused this key", provider="fake")


class FakeProvider:
    @hookimpl
    def finetune_register_providers(self, register: Callable[[ProviderSpec], None]) -> None:
        register(ProviderSpec(name="fake", label="Fake", live_check=refuse_live, prefix="fk-"))
        register(ProviderSpec(name="offline", label="Offline"))


@pytest.fixture
def fake_provider(register_finetune_plugin: Callable[..., str]) -> None:
    register_finetune_plugin(FakeProvider(), name="fake-provider")


def test_first_write_is_201_then_200_and_reads_are_masked(client: FlaskClient, alice: Account) -> None:
    created = client.post("/api/users/me/api-keys", json={"provider": "openai", "key": OPENAI_KEY},
                          headers=alice.headers)
    assert created.status_code == 201
    body = created.get_json()
    assert body["provider"] == "openai" and body["user_id"] == alice.id
    assert body["key"] == body["masked"] == "sk-…c3d4" and OPENAI_KEY not in created.get_data(as_text=True)
    replaced = client.post("/api/users/me/api-keys", json={"provider": "openai", "key": "sk-" + "q" * 30 + "wxyz"},
                           headers=alice.headers)
    assert replaced.status_code == 200 and replaced.get_json()["masked"] == "sk-…wxyz"
    assert replaced.get_json()["id"] == body["id"]
    client.post("/api/users/me/api-keys", json={"provider": "anthropic", "key": ANTHROPIC_KEY}, headers=alice.headers)
    listed = client.get("/api/users/me/api-keys", headers=alice.headers)
    page = listed.get_json()
    assert [item["provider"] for item in page["items"]] == ["anthropic", "openai"] and page["total"] == 2
    assert {"openai", "anthropic", "mistral", "together", "openai-compatible"} <= set(page["providers"])
    assert ANTHROPIC_KEY not in listed.get_data(as_text=True)


def test_keys_are_stored_encrypted(app: Flask, client: FlaskClient, alice: Account) -> None:
    client.post("/api/users/me/api-keys", json={"provider": "openai", "key": OPENAI_KEY}, headers=alice.headers)
    workspace = app.extensions[EXTENSION].workspace
    with workspace.unit_of_work() as uow:
        stored = uow.provider_keys.encrypted(alice.id, "openai")
    assert stored is not None and OPENAI_KEY not in stored
    assert keys.stored_key(workspace, "openai", owner_id=alice.id) == OPENAI_KEY


def test_a_key_of_the_wrong_shape_or_provider_is_refused(client: FlaskClient, alice: Account) -> None:
    body = assert_error(client.post("/api/users/me/api-keys", json={"provider": "openai", "key": "nope"},
                                    headers=alice.headers), 400, "INVALID_API_KEY")
    assert "nope" not in body["detail"]
    unknown = assert_error(client.post("/api/users/me/api-keys", json={"provider": "acme", "key": "k" * 20},
                                       headers=alice.headers), 400, "UNKNOWN_PLUGIN")
    assert "openai" in unknown["detail"]
    assert set(field_errors(client.post("/api/users/me/api-keys", json={"provider": "openai"},
                                        headers=alice.headers))) == {"key"}
    assert_error(client.post("/api/users/me/api-keys", json={"provider": "openai", "key": OPENAI_KEY}), 401)
    assert_error(client.get("/api/users/me/api-keys"), 401)


def test_delete_removes_the_key_and_a_missing_one_is_404(client: FlaskClient, alice: Account) -> None:
    client.post("/api/users/me/api-keys", json={"provider": "openai", "key": OPENAI_KEY}, headers=alice.headers)
    deleted = client.delete("/api/users/me/api-keys/openai", headers=alice.headers)
    assert deleted.status_code == 204 and deleted.data == b""
    assert client.get("/api/users/me/api-keys", headers=alice.headers).get_json()["total"] == 0
    assert_error(client.delete("/api/users/me/api-keys/openai", headers=alice.headers), 404, "NOT_FOUND")
    assert_error(client.delete("/api/users/me/api-keys/openai"), 401)


def test_check_reports_the_format_and_the_live_call(fake_provider: None, client: FlaskClient,
                                                    alice: Account) -> None:
    client.post("/api/users/me/api-keys", json={"provider": "fake", "key": "fk-good-key-1234"}, headers=alice.headers)
    stored = client.post("/api/users/me/api-keys/fake/check", json={}, headers=alice.headers)
    assert stored.status_code == 200
    assert stored.get_json() == {"provider": "fake", "masked": "fk-…1234", "format_ok": True, "live": "ok"}
    refused = client.post("/api/users/me/api-keys/fake/check", json={"key": "fk-this-one-is-bad"},
                          headers=alice.headers)
    assert_error(refused, 400, "INVALID_API_KEY")
    offline = client.post("/api/users/me/api-keys/offline/check", json={"key": "any-shape-at-all"},
                          headers=alice.headers)
    assert offline.get_json()["live"] == "not_available"
    assert_error(client.post("/api/users/me/api-keys/offline/check", json={}, headers=alice.headers), 404)
    assert_error(client.post("/api/users/me/api-keys/fake/check", json={}), 401)
