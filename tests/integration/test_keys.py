"""The provider key store: format checks, encryption at rest, masking, owners, resolution order."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from finetune_core import Workspace, hookimpl
from finetune_core.errors import FinetuneError, InvalidApiKeyError, NotFoundError, UnknownPluginError
from finetune_core.keys import ProviderSpec, mask_key
from finetune_core.services import keys
from finetune_core.testing import open_test_workspace

KEY = "tk-0123456789abcdefWXYZ"


def _check(key: str) -> None:
    if not key.startswith("tk-"):
        raise InvalidApiKeyError("a Test key starts with 'tk-'")


def _live(key: str, transport: object) -> None:
    if key.endswith("DEAD"):
        raise InvalidApiKeyError("the Test key was refused (401)")


class TestProvider:
    @hookimpl
    def finetune_register_providers(self, register):  # type: ignore[no-untyped-def]
        register(ProviderSpec(name="testco", label="Test", env_var="TESTCO_API_KEY", check_format=_check,
                              live_check=_live, prefix="tk-"))


@pytest.fixture
def ws(finetune_workspace: Workspace, register_finetune_plugin) -> Workspace:  # type: ignore[no-untyped-def]
    register_finetune_plugin(TestProvider(), name="testco-provider")
    return finetune_workspace


def test_a_key_is_stored_encrypted_and_read_back_masked(ws: Workspace) -> None:
    stored, created = keys.set_key(ws, "testco", f"  {KEY} ")
    assert created and stored.masked == "tk-…WXYZ" and stored.provider == "testco"
    assert [k.masked for k in keys.list_keys(ws)] == ["tk-…WXYZ"]
    assert keys.resolve_key(ws, "testco") == KEY
    raw = sqlite3.connect(ws.root / "finetune.db").execute("select encrypted_key, masked from provider_keys").fetchall()
    assert len(raw) == 1 and KEY not in raw[0][0] and KEY not in raw[0][1]
    assert KEY not in repr(keys.list_keys(ws)) and KEY not in keys.list_keys(ws)[0].model_dump_json()


def test_replacing_a_key_keeps_one_row_and_says_it_was_not_new(ws: Workspace) -> None:
    keys.set_key(ws, "testco", KEY)
    again, created = keys.set_key(ws, "testco", "tk-another-key-0000ABCD")
    assert not created and again.masked == "tk-…ABCD"
    assert len(keys.list_keys(ws)) == 1 and keys.resolve_key(ws, "testco") == "tk-another-key-0000ABCD"


def test_owners_do_not_see_each_others_keys(ws: Workspace) -> None:
    keys.set_key(ws, "testco", KEY, owner_id="alice")
    assert keys.list_keys(ws, owner_id="bob") == []
    assert keys.resolve_key(ws, "testco", owner_id="bob") is None
    with pytest.raises(NotFoundError):
        keys.delete_key(ws, "testco", owner_id="bob")
    assert keys.resolve_key(ws, "testco", owner_id="alice") == KEY


@pytest.mark.parametrize("bad", ["sk-0123456789abcdef", "tk-with space inside", "", "tk-\x00nul"])
def test_a_malformed_key_is_refused_with_the_provider_named_and_nothing_stored(ws: Workspace, bad: str) -> None:
    with pytest.raises(InvalidApiKeyError) as excinfo:
        keys.set_key(ws, "testco", bad)
    assert "Test" in excinfo.value.message and (not bad.strip() or bad.strip() not in excinfo.value.message)
    assert keys.list_keys(ws) == []


def test_an_unknown_provider_is_refused(ws: Workspace) -> None:
    with pytest.raises(UnknownPluginError, match="testco"):
        keys.set_key(ws, "nope", KEY)


def test_the_stored_key_wins_over_the_environment(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESTCO_API_KEY", "tk-from-the-environment")
    assert keys.resolve_key(ws, "testco") == "tk-from-the-environment"
    keys.set_key(ws, "testco", KEY)
    assert keys.resolve_key(ws, "testco") == KEY
    keys.delete_key(ws, "testco")
    assert keys.resolve_key(ws, "testco") == "tk-from-the-environment"


def test_check_reports_format_and_live_results_without_the_key(ws: Workspace) -> None:
    keys.set_key(ws, "testco", KEY)
    result = keys.check_key(ws, "testco")
    assert result == {"provider": "testco", "masked": "tk-…WXYZ", "format_ok": True, "live": "ok"}
    with pytest.raises(InvalidApiKeyError, match="refused"):
        keys.check_key(ws, "testco", key="tk-0123456789abcdefDEAD")


def test_keys_survive_reopening_but_not_a_changed_secret(tmp_path: Path, register_finetune_plugin) -> None:  # type: ignore[no-untyped-def]
    register_finetune_plugin(TestProvider(), name="testco-provider")
    with open_test_workspace(tmp_path / "ws", secret_key="s" * 32) as ws:
        keys.set_key(ws, "testco", KEY)
    with open_test_workspace(tmp_path / "ws", secret_key="s" * 32) as ws:
        assert keys.resolve_key(ws, "testco") == KEY
    with open_test_workspace(tmp_path / "ws", secret_key="t" * 32) as ws, \
            pytest.raises(FinetuneError, match="store the key again") as excinfo:
        keys.resolve_key(ws, "testco")
    assert KEY not in str(excinfo.value)


def test_without_a_configured_secret_one_is_made_private_to_the_owner(ws: Workspace) -> None:
    keys.set_key(ws, "testco", KEY)
    secret = ws.root / "secret.key"
    assert secret.stat().st_mode & 0o777 == 0o600 and len(secret.read_text()) >= 32


@pytest.mark.parametrize(("key", "prefix", "masked"), [
    ("sk-proj-abcdefghijklmnop1234", "sk-", "sk-…1234"),
    ("sk-ant-api03-abcdefghijk9876", "sk-ant-", "sk-ant-…9876"),
    ("0123456789abcdef0123456789abcdef", "", "…cdef"),
    ("short", "", "…"),
])
def test_masking_shows_at_most_the_public_prefix_and_four_characters(key: str, prefix: str, masked: str) -> None:
    assert mask_key(key, prefix) == masked
