"""Sign-in sessions on a fake unit of work: a refresh token works once, a reuse revokes the whole session,
a sign-out is final."""

from __future__ import annotations

import pytest
from finetune_core.errors import AuthenticationError, ConflictError
from finetune_core.services import sessions, users
from kits.fake_workspace import FakeWorkspace

LIFETIME_S = 3600.0


def signed_up(workspace: FakeWorkspace) -> sessions.Grant:
    users.register(workspace, "Ada@Example.org", "a long enough password", trigramme="ada")
    return sessions.sign_in(workspace, "ada@example.org", "a long enough password", lifetime_s=LIFETIME_S)


def test_a_sign_in_opens_a_session_the_access_check_accepts(workspace: FakeWorkspace) -> None:
    grant = signed_up(workspace)
    user, session = sessions.check_access(workspace, grant.session.id, grant.user.id)
    assert (user.email, user.trigramme, session.id) == ("ada@example.org", "ADA", grant.session.id)
    assert sessions.sign_in(workspace, "ADA", "a long enough password", lifetime_s=LIFETIME_S).user.id == user.id


def test_wrong_credentials_and_a_taken_email_are_refused(workspace: FakeWorkspace) -> None:
    signed_up(workspace)
    with pytest.raises(AuthenticationError) as wrong:
        sessions.sign_in(workspace, "ada@example.org", "not the password at all", lifetime_s=LIFETIME_S)
    assert wrong.value.error_code == "INVALID_CREDENTIALS"
    with pytest.raises(ConflictError) as taken:
        users.register(workspace, "ada@example.org", "another long password")
    assert taken.value.error_code == "EMAIL_TAKEN" and len(workspace.rows.users) == 1


def test_a_refresh_token_is_accepted_once_and_its_reuse_revokes_the_session(workspace: FakeWorkspace) -> None:
    grant = signed_up(workspace)
    second = sessions.refresh(workspace, grant.session.id, grant.refresh_jti, lifetime_s=LIFETIME_S)
    assert second.refresh_jti != grant.refresh_jti
    with pytest.raises(AuthenticationError) as reused:
        sessions.refresh(workspace, grant.session.id, grant.refresh_jti, lifetime_s=LIFETIME_S)
    assert reused.value.error_code == "REFRESH_TOKEN_REUSED"
    # the revocation was committed before the error: the newer token and the access check are refused too
    with pytest.raises(AuthenticationError) as after:
        sessions.refresh(workspace, grant.session.id, second.refresh_jti, lifetime_s=LIFETIME_S)
    assert after.value.error_code == "TOKEN_REVOKED"
    with pytest.raises(AuthenticationError):
        sessions.check_access(workspace, grant.session.id, grant.user.id)


def test_a_signed_out_session_is_refused_and_keeps_its_first_reason(workspace: FakeWorkspace) -> None:
    grant = signed_up(workspace)
    sessions.revoke(workspace, grant.session.id)
    sessions.revoke(workspace, grant.session.id, reason="admin")
    assert workspace.rows.sessions[grant.session.id][0].revoked_reason == sessions.LOGOUT
    with pytest.raises(AuthenticationError) as refused:
        sessions.check_access(workspace, grant.session.id, grant.user.id)
    assert refused.value.error_code == "TOKEN_REVOKED"


def test_an_access_token_of_another_user_is_refused(workspace: FakeWorkspace) -> None:
    grant = signed_up(workspace)
    with pytest.raises(AuthenticationError) as refused:
        sessions.check_access(workspace, grant.session.id, "someone-else")
    assert refused.value.error_code == "INVALID_TOKEN"
