"""Provider keys on a fake unit of work: stored encrypted and shown masked, refused before anything is stored,
one per owner and provider, and a key given for this process wins over the stored one."""

from __future__ import annotations

import pytest
from finetune_core.errors import InvalidApiKeyError, NotFoundError, UnknownPluginError
from finetune_core.services import keys
from kits.fake_workspace import FakeWorkspace

pytest.importorskip("finetune_providers")  # its plugin registers the providers whose keys are checked here
KEY = "sk-test" + "A1b2C3d4" * 4
OTHER = "sk-other" + "Z9y8X7w6" * 4


def test_a_key_is_stored_encrypted_shown_masked_and_read_back_whole(workspace: FakeWorkspace) -> None:
    stored, created = keys.set_key(workspace, "openai", f"  {KEY}\n", owner_id="alice")
    assert created and stored.masked == f"sk-…{KEY[-4:]}"
    (_, ciphertext), = workspace.rows.provider_keys.values()
    assert KEY not in ciphertext and KEY not in stored.model_dump_json()
    assert keys.stored_key(workspace, "openai", owner_id="alice") == KEY
    assert [key.masked for key in keys.list_keys(workspace, owner_id="alice")] == [stored.masked]


def test_a_second_key_replaces_the_first_and_owners_do_not_see_each_others(workspace: FakeWorkspace) -> None:
    keys.set_key(workspace, "openai", KEY, owner_id="alice")
    _, created = keys.set_key(workspace, "openai", OTHER, owner_id="alice")
    assert not created and keys.stored_key(workspace, "openai", owner_id="alice") == OTHER
    assert keys.stored_key(workspace, "openai", owner_id="bob") is None
    assert keys.list_keys(workspace, owner_id="bob") == []


@pytest.mark.parametrize(("provider", "key", "error"), [
    ("openai", "not a key at all", InvalidApiKeyError),
    ("openai", "", InvalidApiKeyError),
    ("openai", "sk-ant-" + "a" * 40, InvalidApiKeyError),  # an Anthropic key given as OpenAI's
    ("no-such-provider", KEY, UnknownPluginError),
])
def test_a_refused_key_stores_nothing_and_its_error_never_shows_it(workspace: FakeWorkspace, provider: str, key: str,
                                                                  error: type[Exception]) -> None:
    with pytest.raises(error) as refused:
        keys.set_key(workspace, provider, key, owner_id="alice")
    assert workspace.rows.provider_keys == {} and workspace.transactions == 0
    assert not key or key not in str(refused.value)


def test_a_key_given_for_this_process_wins_and_deleting_a_missing_key_is_not_found(workspace: FakeWorkspace) -> None:
    keys.set_key(workspace, "openai", KEY)
    workspace.session_keys["openai"] = OTHER
    assert keys.stored_key(workspace, "openai") == OTHER
    keys.delete_key(workspace, "openai")
    with pytest.raises(NotFoundError):
        keys.delete_key(workspace, "openai")
