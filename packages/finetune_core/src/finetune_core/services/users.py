"""Use cases on the users of the REST app: sign up, check credentials, read and update a profile.

Emails are compared lower-cased and a trigramme (foyergpt's handle) upper-cased. Passwords are
hashed with scrypt (`finetune_core.passwords`); none is ever stored, logged or put in an error.
The local single-user mode has one implicit user (`local_user`) whom no password opens.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from finetune_core.domain import User, utcnow
from finetune_core.errors import AuthenticationError, ConflictError, InvalidInputError
from finetune_core.passwords import burn_time, hash_password, needs_rehash, verify_password
from finetune_core.services import billing
from finetune_core.services.datasets import DATASET_KEY, PREVIEW

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort

# no `\s`: Python, Rust and JSON Schema (ECMA) disagree on it; these ranges read the same in all three
NOT_IN_EMAIL = r"@\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
EMAIL = re.compile(rf"^[^{NOT_IN_EMAIL}]+@[^{NOT_IN_EMAIL}]+\.[^{NOT_IN_EMAIL}]+$")
TRIGRAMME = re.compile(r"^[A-Z0-9]{3}$")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
LOCAL_USER_ID = "local"
LOCAL_USER_EMAIL = "local@localhost"  # not a registrable address (no dot in the domain)
# dualqueryintelligence's plan of a new account; every account is on it until billing stores a plan per user
DEFAULT_PLAN = "free"


def normalize_email(email: str) -> str:
    normalized = email.strip().lower()
    if not EMAIL.match(normalized) or len(normalized) > 320:
        raise InvalidInputError("not a valid email address", error_code="INVALID_EMAIL")
    return normalized


def normalize_trigramme(trigramme: str | None) -> str | None:
    if trigramme is None:
        return None
    normalized = trigramme.strip().upper()
    if not TRIGRAMME.match(normalized):
        raise InvalidInputError("a trigramme is three letters or digits", error_code="INVALID_TRIGRAMME")
    return normalized


def check_password(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidInputError(f"a password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters",
                                error_code="INVALID_PASSWORD")


def register(workspace: WorkspacePort, email: str, password: str, *, name: str | None = None,
             trigramme: str | None = None) -> User:
    """A new active user; ConflictError (EMAIL_TAKEN, TRIGRAMME_TAKEN) when either is in use."""
    email = normalize_email(email)
    trigramme = normalize_trigramme(trigramme)
    check_password(password)
    hashed = hash_password(password)  # before the transaction: it takes a while on purpose
    with workspace.unit_of_work() as uow:
        if uow.users.find_by(email=email) is not None:
            raise ConflictError(f"the email '{email}' is already registered", error_code="EMAIL_TAKEN")
        if trigramme is not None and uow.users.find_by(trigramme=trigramme) is not None:
            raise ConflictError(f"the trigramme '{trigramme}' is already taken", error_code="TRIGRAMME_TAKEN")
        return uow.users.add(User(email=email, name=name, trigramme=trigramme), hashed)


def authenticate(workspace: WorkspacePort, login: str, password: str) -> User:
    """The user whose email (or trigramme) and password these are; AuthenticationError otherwise.

    A wrong email costs the same time as a wrong password, so answers tell nothing about who exists.
    """
    login = login.strip()
    with workspace.unit_of_work() as uow:
        user = uow.users.find_by(email=login.lower()) if "@" in login else uow.users.find_by(trigramme=login.upper())
        stored = uow.users.password_hash(user.id) if user is not None else None
    if user is None or stored is None:
        burn_time(password)
        raise AuthenticationError("incorrect email or password", error_code="INVALID_CREDENTIALS")
    if not verify_password(password, stored):
        raise AuthenticationError("incorrect email or password", error_code="INVALID_CREDENTIALS")
    if not user.is_active:
        raise AuthenticationError("this account is disabled", error_code="ACCOUNT_DISABLED")
    rehashed = hash_password(password) if needs_rehash(stored) else None
    with workspace.unit_of_work() as uow:
        user.last_login_at = utcnow()
        return uow.users.save(user, password_hash=rehashed)


def get_user(workspace: WorkspacePort, user_id: str) -> User:
    with workspace.unit_of_work() as uow:
        return uow.users.get(user_id)


def update_profile(workspace: WorkspacePort, user_id: str, *, name: str | None = None, trigramme: str | None = None,
                   has_completed_onboarding: bool | None = None) -> User:
    """Partial update: None leaves a field as it is."""
    trigramme = normalize_trigramme(trigramme)
    with workspace.unit_of_work() as uow:
        user = uow.users.get(user_id)
        if trigramme is not None and trigramme != user.trigramme:
            if uow.users.find_by(trigramme=trigramme) is not None:
                raise ConflictError(f"the trigramme '{trigramme}' is already taken", error_code="TRIGRAMME_TAKEN")
            user.trigramme = trigramme
        if name is not None:
            user.name = name
        if has_completed_onboarding is not None:
            user.has_completed_onboarding = has_completed_onboarding
        return uow.users.save(user)


def local_user(workspace: WorkspacePort) -> User:
    """The implicit user of the local single-user mode, made on first use."""
    with workspace.unit_of_work() as uow:
        found = uow.users.find_by(email=LOCAL_USER_EMAIL)
    if found is not None:
        return found
    try:
        with workspace.unit_of_work() as uow:
            return uow.users.add(User(id=LOCAL_USER_ID, email=LOCAL_USER_EMAIL, name="Local user"), "")
    except ConflictError:  # another process made it first
        with workspace.unit_of_work() as uow:
            return uow.users.get(LOCAL_USER_ID)


def usage(workspace: WorkspacePort, owner_id: str | None) -> dict[str, Any]:
    """Counters shown with a profile (dualqueryintelligence); `owner_id` None counts every row (local mode).

    Counted from the rows themselves in one indexed statement, so they never drift from what the lists
    show: `datasets_count` is the total of GET /api/datasets, `fine_tune_jobs` that of /api/fine-tunings.
    """
    with workspace.unit_of_work() as uow:
        projects, datasets, fine_tunes = uow.usage.owner_counts(owner_id, dataset_key=DATASET_KEY,
                                                                exclude_split=PREVIEW)
        queries = uow.issued_keys.requests_of(owner_id)
        subscription = uow.subscriptions.of_user(owner_id) if owner_id is not None else None
    plan = billing.entitled_plan(workspace.settings, subscription).id if subscription else DEFAULT_PLAN
    return {
        "projects_count": projects,
        "datasets_count": datasets,
        "fine_tune_jobs": fine_tunes,
        "queries_used": queries,  # requests answered through the caller's issued keys (/v1, services/issued_keys.py)
        "current_plan": plan,  # the plan whose limits apply now (services/billing.py)
    }
