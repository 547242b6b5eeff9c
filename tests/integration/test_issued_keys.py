"""Issued API keys through the services: the secret shown once and kept only as its SHA-256, listed by prefix,
refused once revoked, only for the owner's models, rate limited per minute in the database, usage added up."""

from __future__ import annotations

import hashlib

import pytest
from finetune_core import Workspace
from finetune_core.errors import IssuedKeyRefusedError, NotFoundError, RateLimitedError
from finetune_core.services import issued_keys, trained_models, users
from finetune_core.storage.tables import IssuedKeyRow
from sqlalchemy import select

ALICE, BOB = "user-alice", "user-bob"


@pytest.fixture
def model_id(finetune_workspace: Workspace) -> str:
    return trained_models.create_model(finetune_workspace, name="bread-bot", base_model="SmolLM2-135M",
                                       provider="embedded", owner_id=ALICE).id


def test_the_secret_is_shown_once_and_kept_only_as_its_hash(finetune_workspace: Workspace, model_id: str) -> None:
    ws = finetune_workspace
    key, secret = issued_keys.create_key(ws, ALICE, model_id=model_id, name="prod")
    assert secret.startswith("ftk-") and len(secret) >= 4 + 43  # 32 random bytes, base64url
    assert key.prefix == secret[:12] and key.requests == 0 and key.rate_limit_per_minute == 60
    with ws.unit_of_work() as uow:
        row = uow.session.scalars(select(IssuedKeyRow).where(IssuedKeyRow.id == key.id)).one()
        stored = {column.key: getattr(row, column.key) for column in row.__mapper__.column_attrs}
    assert row.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert all(secret not in str(value) for value in stored.values())
    listed, total = issued_keys.list_keys(ws, ALICE)
    assert total == 1 and listed[0].prefix == key.prefix
    assert secret not in listed[0].model_dump_json() and "key_hash" not in listed[0].model_dump()
    assert issued_keys.list_keys(ws, BOB) == ([], 0)
    found, model = issued_keys.authenticate(ws, secret)
    assert (found.id, model.id) == (key.id, model_id)
    _, other = issued_keys.create_key(ws, ALICE, model_id=model_id, name="second")
    assert other != secret


def test_unknown_and_revoked_keys_are_refused_without_naming_the_secret(finetune_workspace: Workspace,
                                                                        model_id: str) -> None:
    ws = finetune_workspace
    key, secret = issued_keys.create_key(ws, ALICE, model_id=model_id, name="prod")
    for wrong in (None, "", "sk-abc", secret + "x", "ftk-" + "a" * 500):
        with pytest.raises(IssuedKeyRefusedError) as refused:
            issued_keys.authenticate(ws, wrong)
        assert secret not in refused.value.message
    with pytest.raises(NotFoundError):
        issued_keys.revoke_key(ws, key.id, BOB)  # another's key: as if there were none
    issued_keys.authenticate(ws, secret)
    issued_keys.revoke_key(ws, key.id, ALICE)
    with pytest.raises(IssuedKeyRefusedError) as refused:
        issued_keys.authenticate(ws, secret)
    assert secret not in str(refused.value) and "revoked" in refused.value.message
    assert issued_keys.list_keys(ws, ALICE) == ([], 0)
    with pytest.raises(NotFoundError):
        issued_keys.revoke_key(ws, key.id, ALICE)  # already revoked


def test_a_key_is_only_for_one_of_the_owners_models(finetune_workspace: Workspace, model_id: str) -> None:
    with pytest.raises(NotFoundError):
        issued_keys.create_key(finetune_workspace, BOB, model_id=model_id, name="stolen")
    with pytest.raises(NotFoundError):
        issued_keys.create_key(finetune_workspace, ALICE, model_id="no-such-model", name="x")


def test_the_rate_limit_counts_the_requests_of_the_current_minute(finetune_workspace: Workspace,
                                                                   model_id: str) -> None:
    ws = finetune_workspace
    key, _ = issued_keys.create_key(ws, ALICE, model_id=model_id, name="tiny", rate_limit_per_minute=2)
    issued_keys.take_request(ws, key)
    issued_keys.take_request(ws, key)
    with pytest.raises(RateLimitedError) as limited:
        issued_keys.take_request(ws, key)
    assert 1 <= limited.value.retry_after <= 60
    other, _ = issued_keys.create_key(ws, ALICE, model_id=model_id, name="other", rate_limit_per_minute=2)
    issued_keys.take_request(ws, other)  # each key has its own window
    with ws.unit_of_work() as uow:  # a new minute opens a new window
        uow.session.get(IssuedKeyRow, key.id).window_start = key.created_at.replace(year=2000)  # type: ignore[union-attr]
    issued_keys.take_request(ws, key)


def test_usage_counters_add_up_and_count_as_queries_used(finetune_workspace: Workspace, model_id: str) -> None:
    ws = finetune_workspace
    first, _ = issued_keys.create_key(ws, ALICE, model_id=model_id, name="a")
    second, _ = issued_keys.create_key(ws, ALICE, model_id=model_id, name="b")
    issued_keys.record_usage(ws, first.id, input_tokens=10, output_tokens=5)
    issued_keys.record_usage(ws, first.id, input_tokens=3, output_tokens=2)
    issued_keys.record_usage(ws, second.id, input_tokens=1, output_tokens=1)
    counted = issued_keys.owned_key(ws, first.id, ALICE)
    assert (counted.requests, counted.input_tokens, counted.output_tokens) == (2, 13, 7)
    assert counted.last_used_at is not None
    assert users.usage(ws, ALICE)["queries_used"] == 3 and users.usage(ws, BOB)["queries_used"] == 0
    issued_keys.revoke_key(ws, second.id, ALICE)
    assert users.usage(ws, ALICE)["queries_used"] == 3  # what was used stays counted
