"""GDPR (crealia): a user's data export, their erasure, and their consent preferences.

    data = gdpr.export_user_data(workspace, user_id)                 # services/gdpr_export.py
    gdpr.delete_my_data(workspace, user_id, confirmation="DELETE_MY_DATA")
    gdpr.finish_pending_erasures(workspace)                          # the scheduled cleanup: interrupted erasures

An erasure is idempotent, in steps that a rerun of `erase_user` takes up wherever one stopped:
1. `request_erasure`, one transaction: the user is marked (`deletion_requested_at`) and disabled, every sign-in
   session and issued key revoked, so that their tokens and keys are refused at once;
2. their unfinished jobs are cancelled (a queued one ends at once, a running one at its next check) and their
   Stripe subscription cancelled (when billing is set up and the subscription is Stripe's);
3. their files are deleted from the store, while the rows that name them still exist (a failure here leaves
   everything to find again on the rerun);
4. their rows are deleted in one transaction, the user's row last (its sessions, subscription, checkout
   sessions, payments and consent go with it by cascade); the applied Stripe events keep their ids, unlinked.
   Their forum topics are deleted with every comment on them, and their comments on others' topics too.
A rerun once the user's row is gone does nothing. `finish_pending_erasures` reruns every marked one.
"""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from finetune_core.domain import Consent, utcnow
from finetune_core.domain.billing import SubscriptionStatus
from finetune_core.errors import InvalidInputError, JobAlreadyFinishedError, NotFoundError
from finetune_core.payments import billing_configured, payment_gateway
from finetune_core.services import jobs as jobs_service
from finetune_core.services.gdpr_export import export_user_data, file_prefixes, owned_projects
from finetune_core.services.users import LOCAL_USER_ID

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort

__all__ = [
    "CONFIRMATION",
    "delete_my_data",
    "erase_user",
    "export_user_data",
    "finish_pending_erasures",
    "get_consent",
    "request_erasure",
    "set_consent",
]

log = logging.getLogger(__name__)

CONFIRMATION = "DELETE_MY_DATA"
ERASURE = "account_erased"  # the revocation reason of the sessions of an erased user
JOB_GRACE_S = 5.0  # how long an erasure lets running jobs see their cancel flag (a hosted run cancels remotely)
JOB_POLL_S = 0.2
ERASURE_GRACE = timedelta(minutes=5)  # an erasure asked more recently may still be running in its request


def _refuse_local(user_id: str) -> None:
    if user_id == LOCAL_USER_ID:
        raise InvalidInputError("the local single user cannot be erased: delete the workspace folder instead",
                                error_code="LOCAL_USER_NOT_ERASABLE")


def delete_my_data(workspace: WorkspacePort, user_id: str, *, confirmation: str) -> None:
    """Erase the user and everything they own (`erase_user`), once they typed CONFIRMATION."""
    if confirmation != CONFIRMATION:
        raise InvalidInputError(f"type {CONFIRMATION} to confirm: the erasure cannot be undone",
                                error_code="CONFIRMATION_REQUIRED", expected=CONFIRMATION)
    _refuse_local(user_id)
    erase_user(workspace, user_id)


def request_erasure(workspace: WorkspacePort, user_id: str) -> bool:
    """Step 1: mark and disable the user, revoke their sessions and issued keys; False when there is no user."""
    _refuse_local(user_id)
    with workspace.unit_of_work() as uow:
        try:
            user = uow.users.get(user_id)
        except NotFoundError:
            return False
        user.deletion_requested_at = user.deletion_requested_at or utcnow()
        user.is_active = False
        uow.users.save(user)
        uow.auth_sessions.revoke_all(user_id, ERASURE)
        uow.issued_keys.revoke_all(user_id, utcnow())
    return True


def _cancel_jobs(workspace: WorkspacePort, user_id: str, grace_s: float) -> None:
    """Cancel the unfinished jobs of the user's projects; wait up to `grace_s` for the running ones to stop."""
    with workspace.unit_of_work() as uow:
        unfinished = [job for project in owned_projects(uow, user_id) for job in uow.jobs.unfinished(project.id)]
    for job in unfinished:
        with contextlib.suppress(JobAlreadyFinishedError, NotFoundError):  # it ended meanwhile
            jobs_service.cancel_job(workspace, job.id)
    deadline = time.monotonic() + grace_s
    running = [job.id for job in unfinished]
    while running and time.monotonic() < deadline:
        running = [job_id for job_id, found in jobs_service.progress(workspace, running).items() if not found.finished]
        if running:
            time.sleep(JOB_POLL_S)


def _cancel_subscription(workspace: WorkspacePort, user_id: str) -> None:
    with workspace.unit_of_work() as uow:
        subscription = uow.subscriptions.of_user(user_id)
    if subscription is None or not subscription.stripe_subscription_id \
            or subscription.status is SubscriptionStatus.CANCELED:
        return
    if not billing_configured(workspace):
        log.warning("erasing user %s: billing is not set up, their Stripe subscription %s is left as it is",
                    user_id, subscription.stripe_subscription_id)
        return
    payment_gateway(workspace).cancel_subscription(subscription.stripe_subscription_id)


def _delete_files(workspace: WorkspacePort, prefixes: list[str]) -> None:
    for prefix in prefixes:
        try:
            workspace.files.delete_prefix(prefix)
        except InvalidInputError:  # an artifact path that is no key of the store: nothing of ours to delete
            continue


def _delete_rows(workspace: WorkspacePort, user_id: str) -> None:
    with workspace.unit_of_work() as uow:
        uow.chats.delete_of(user_id)
        uow.agents.delete_of(user_id)
        uow.issued_keys.delete_of(user_id)
        uow.models.delete_of(user_id)
        uow.fine_tunes.delete_of(user_id)
        uow.projects.delete_of(user_id)  # sources, documents, chunks, examples, jobs: by cascade
        uow.provider_keys.delete_of(user_id)
        uow.billing_events.forget_user(user_id)
        uow.forum.delete_of(user_id)  # their forum topics (with every comment on them) and their comments
        uow.users.delete(user_id)  # sessions, subscription, checkout sessions, payments, consent: by cascade


def erase_user(workspace: WorkspacePort, user_id: str, *, grace_s: float = JOB_GRACE_S) -> bool:
    """Erase the user and everything they own, rows and files; False (a no-op) when the user is gone already.

    Idempotent: rerun it after any failure (the user stays marked until it succeeds).
    """
    if not request_erasure(workspace, user_id):
        return False
    _cancel_jobs(workspace, user_id, grace_s)
    _cancel_subscription(workspace, user_id)
    with workspace.unit_of_work() as uow:
        prefixes = file_prefixes(uow, user_id)
    _delete_files(workspace, prefixes)
    _delete_rows(workspace, user_id)
    _delete_files(workspace, prefixes)  # what a job still running wrote meanwhile
    log.info("user %s erased", user_id)
    return True


def finish_pending_erasures(workspace: WorkspacePort, *, grace: timedelta = ERASURE_GRACE) -> int:
    """Finish every erasure asked over `grace` ago and interrupted (one asked since may still be running in the
    request that asked it); the number finished (a failing one is logged and stays pending)."""
    with workspace.unit_of_work() as uow:
        pending = uow.users.pending_erasures(asked_before=utcnow() - grace)
    finished = 0
    for user_id in pending:
        try:
            erase_user(workspace, user_id)
        except Exception:
            log.exception("the erasure of user %s failed again: it stays pending", user_id)
            continue
        finished += 1
    return finished


def get_consent(workspace: WorkspacePort, user_id: str) -> Consent:
    """The user's consent; the defaults (`necessary` alone) where they never chose."""
    with workspace.unit_of_work() as uow:
        return uow.consents.of_user(user_id)


def set_consent(workspace: WorkspacePort, user_id: str, *, necessary: bool | None = None,
                analytics: bool | None = None, marketing: bool | None = None,
                preferences: bool | None = None) -> Consent:
    """Change the choices given (None: left as they are); `necessary` cannot be refused (InvalidInputError)."""
    if necessary is False:
        raise InvalidInputError("necessary cookies and processing cannot be refused: the service needs them",
                                error_code="NECESSARY_CONSENT_REQUIRED", field="necessary")
    with workspace.unit_of_work() as uow:
        uow.users.get(user_id)
        consent = uow.consents.of_user(user_id)
        changes = {"analytics": analytics, "marketing": marketing, "preferences": preferences}
        for name, value in changes.items():
            if value is not None:
                setattr(consent, name, value)
        return uow.consents.put(consent)
