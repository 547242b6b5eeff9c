"""Use cases on sign-in sessions: open one, rotate its refresh token, check it behind a token, revoke it.

A session is a token family: every access and refresh token issued from one sign-in carries its
id. Each refresh swaps the one refresh token id the session still accepts for a new one; an older
one presented again is a reuse (a stolen or replayed token) and revokes the whole family. Logout
revokes it too, so both kinds of token are refused from then on.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, NamedTuple

from finetune_core.domain import AuthSession, User, new_id, utcnow
from finetune_core.errors import AuthenticationError, NotFoundError
from finetune_core.services import users

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort
    from finetune_core.storage.unit_of_work import UnitOfWork

LOGOUT = "logout"
REUSED = "refresh_token_reused"
MAX_USER_AGENT = 500
MAX_IP_ADDRESS = 64


class Grant(NamedTuple):
    """What a sign-in or a refresh hands out: the user, the session, and the id for the new refresh token."""

    user: User
    session: AuthSession
    refresh_jti: str


def _active_user(user: User) -> User:
    if not user.is_active:
        raise AuthenticationError("this account is disabled", error_code="ACCOUNT_DISABLED")
    return user


def _session_or_none(uow: UnitOfWork, session_id: str) -> AuthSession | None:
    try:
        return uow.auth_sessions.get(session_id)
    except NotFoundError:
        return None


def _refused(session: AuthSession | None) -> AuthenticationError:
    if session is None:
        return AuthenticationError("the session behind this token does not exist", error_code="INVALID_TOKEN")
    if session.revoked_at is not None:
        return AuthenticationError("this session was signed out: sign in again", error_code="TOKEN_REVOKED")
    return AuthenticationError("this session has expired: sign in again", error_code="SESSION_EXPIRED")


def open_session(workspace: WorkspacePort, user_id: str, *, lifetime_s: float, user_agent: str | None = None,
                 ip_address: str | None = None) -> Grant:
    session = AuthSession(
        user_id=user_id,
        user_agent=user_agent[:MAX_USER_AGENT] if user_agent else None,
        ip_address=ip_address[:MAX_IP_ADDRESS] if ip_address else None,
        expires_at=utcnow() + timedelta(seconds=lifetime_s),
    )
    refresh_jti = new_id()
    with workspace.unit_of_work() as uow:
        user = _active_user(uow.users.get(user_id))
        return Grant(user, uow.auth_sessions.add(session, refresh_jti), refresh_jti)


def sign_in(workspace: WorkspacePort, login: str, password: str, *, lifetime_s: float, user_agent: str | None = None,
            ip_address: str | None = None) -> Grant:
    """Check the credentials and open a session; AuthenticationError when they are wrong."""
    user = users.authenticate(workspace, login, password)
    return open_session(workspace, user.id, lifetime_s=lifetime_s, user_agent=user_agent, ip_address=ip_address)


def refresh(workspace: WorkspacePort, session_id: str, refresh_jti: str, *, lifetime_s: float) -> Grant:
    """Accept the session's current refresh token once and hand out the next; a reuse revokes the session.

    The session's lifetime starts again from now (a sliding expiry).
    """
    next_jti = new_id()
    with workspace.unit_of_work() as uow:
        if uow.auth_sessions.rotate_refresh(session_id, refresh_jti, next_jti,
                               expires_at=utcnow() + timedelta(seconds=lifetime_s)):
            rotated = uow.auth_sessions.get(session_id)
            return Grant(_active_user(uow.users.get(rotated.user_id)), rotated, next_jti)
        found = _session_or_none(uow, session_id)
        reused = found is not None and found.is_active()
        if reused:
            uow.auth_sessions.revoke(session_id, REUSED)
    if reused:  # raised after the commit, so the revocation stays
        raise AuthenticationError("this refresh token was already used: the session is revoked, sign in again",
                                  error_code="REFRESH_TOKEN_REUSED", session_id=session_id)
    raise _refused(found)


def check_access(workspace: WorkspacePort, session_id: str, user_id: str) -> tuple[User, AuthSession]:
    """The user and live session behind an access token; AuthenticationError once it is revoked or expired."""
    with workspace.unit_of_work() as uow:
        found = uow.auth_sessions.with_user(session_id)
    if found is None or found[0].user_id != user_id:
        raise _refused(None)
    session, user = found
    if not session.is_active():
        raise _refused(session)
    return _active_user(user), session


def revoke(workspace: WorkspacePort, session_id: str, *, reason: str = LOGOUT) -> None:
    """Sign the session out: its access and refresh tokens are refused from now on."""
    with workspace.unit_of_work() as uow:
        uow.auth_sessions.get(session_id)
        uow.auth_sessions.revoke(session_id, reason)
