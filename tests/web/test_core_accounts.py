"""The core's users and sessions services and its password hashing, without the web layer."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from finetune_core import passwords
from finetune_core.domain import User, utcnow
from finetune_core.errors import AuthenticationError, ConflictError, InvalidInputError, NotFoundError
from finetune_core.services import sessions, tenancy, users
from finetune_core.storage.tables import AuthSessionRow
from finetune_core.workspace import Workspace
from sqlalchemy import update

LIFETIME_S = 3600


def test_a_hash_is_salted_carries_its_cost_and_verifies_in_constant_time() -> None:
    first, second = passwords.hash_password("hunter2hunter2"), passwords.hash_password("hunter2hunter2")
    assert first != second and first.startswith("scrypt$1024$8$1$")
    assert passwords.verify_password("hunter2hunter2", first)
    assert not passwords.verify_password("hunter2hunter3", first)
    for unusable in ("", "md5$abc", "scrypt$x$8$1$AAAA$AAAA", "scrypt$16$8$1$!!$!!"):
        assert not passwords.verify_password("hunter2hunter2", unusable)


def test_the_default_cost_is_owasps_and_old_hashes_are_upgraded(monkeypatch: pytest.MonkeyPatch,
                                                                workspace: Workspace) -> None:
    cheap = passwords.hash_password("a password!")
    monkeypatch.setattr(passwords, "DEFAULT_COST", passwords.ScryptCost())
    assert passwords.ScryptCost() == passwords.ScryptCost(n=2**14, r=8, p=5)
    assert passwords.needs_rehash(cheap)
    real = passwords.hash_password("a password!")
    assert real.startswith("scrypt$16384$8$5$") and not passwords.needs_rehash(real)
    assert passwords.verify_password("a password!", real)
    with workspace.unit_of_work() as uow:
        user = uow.users.add(User(email="old@example.com"), cheap)
    users.authenticate(workspace, "old@example.com", "a password!")
    with workspace.unit_of_work() as uow:
        assert uow.users.password_hash(user.id).startswith("scrypt$16384$")


def test_register_normalises_and_refuses_bad_input(workspace: Workspace) -> None:
    user = users.register(workspace, "  Mixed@Case.ORG", "long enough", trigramme="abc")
    assert user.email == "mixed@case.org" and user.trigramme == "ABC"
    with pytest.raises(ConflictError) as taken:
        users.register(workspace, "mixed@case.org", "long enough")
    assert taken.value.error_code == "EMAIL_TAKEN"
    for email, password, trigramme, code in (("no-at-sign", "long enough", None, "INVALID_EMAIL"),
                                             ("a@b.co", "short", None, "INVALID_PASSWORD"),
                                             ("a@b.co", "long enough", "ABCD", "INVALID_TRIGRAMME")):
        with pytest.raises(InvalidInputError) as refused:
            users.register(workspace, email, password, trigramme=trigramme)
        assert refused.value.error_code == code
        assert password not in str(refused.value)


def test_a_refresh_token_works_once_and_its_reuse_revokes_the_session(workspace: Workspace) -> None:
    user = users.register(workspace, "s@example.com", "long enough")
    grant = sessions.sign_in(workspace, "s@example.com", "long enough", lifetime_s=LIFETIME_S,
                             user_agent="ua", ip_address="127.0.0.1")
    assert grant.user.id == user.id and grant.session.is_active()
    rotated = sessions.refresh(workspace, grant.session.id, grant.refresh_jti, lifetime_s=LIFETIME_S)
    assert rotated.refresh_jti != grant.refresh_jti and rotated.session.expires_at >= grant.session.expires_at
    with pytest.raises(AuthenticationError) as reused:
        sessions.refresh(workspace, grant.session.id, grant.refresh_jti, lifetime_s=LIFETIME_S)
    assert reused.value.error_code == "REFRESH_TOKEN_REUSED"
    with pytest.raises(AuthenticationError) as revoked:
        sessions.check_access(workspace, grant.session.id, user.id)
    assert revoked.value.error_code == "TOKEN_REVOKED"
    with workspace.unit_of_work() as uow:
        assert uow.auth_sessions.get(grant.session.id).revoked_reason == sessions.REUSED


def test_two_refreshes_racing_with_one_token_cannot_both_win(workspace: Workspace) -> None:
    users.register(workspace, "race@example.com", "long enough")
    grant = sessions.sign_in(workspace, "race@example.com", "long enough", lifetime_s=LIFETIME_S)
    outcomes: list[str] = []
    start = threading.Barrier(4)

    def refresh() -> None:
        start.wait()
        try:
            sessions.refresh(workspace, grant.session.id, grant.refresh_jti, lifetime_s=LIFETIME_S)
            outcomes.append("rotated")
        except AuthenticationError as refused:
            outcomes.append(refused.error_code)

    threads = [threading.Thread(target=refresh) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("rotated") == 1, outcomes


def test_an_expired_session_is_refused(workspace: Workspace) -> None:
    user = users.register(workspace, "e@example.com", "long enough")
    grant = sessions.open_session(workspace, user.id, lifetime_s=LIFETIME_S)
    with workspace.unit_of_work() as uow:
        uow.session.execute(update(AuthSessionRow).where(AuthSessionRow.id == grant.session.id)
                             .values(expires_at=utcnow() - timedelta(days=1)))
    for attempt in (lambda: sessions.check_access(workspace, grant.session.id, user.id),
                    lambda: sessions.refresh(workspace, grant.session.id, grant.refresh_jti, lifetime_s=LIFETIME_S)):
        with pytest.raises(AuthenticationError) as expired:
            attempt()
        assert expired.value.error_code == "SESSION_EXPIRED"


def test_tenancy_hides_other_owners_rows(workspace: Workspace) -> None:
    mine = workspace.create_project("mine")
    with workspace.unit_of_work() as uow:
        mine.owner_id = "owner-a"
        uow.projects.save(mine)
    assert tenancy.owned_project(workspace, mine.id, "owner-a").id == mine.id
    assert tenancy.owned_project(workspace, mine.id, None).id == mine.id  # the local user sees all
    with pytest.raises(NotFoundError):
        tenancy.owned_project(workspace, mine.id, "owner-b")
    with pytest.raises(NotFoundError):
        tenancy.owned_project(workspace, "mine", "owner-a")  # by id only
