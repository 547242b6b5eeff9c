"""Buying a plan: a Checkout session at the payment provider, what became of it, and the customer portal.

Every call goes through the payment gateway plugin (finetune_core.payments). A checkout carries an idempotency
key: the client's when it sends one, else one derived from the user, the plan and the minute, so a double click
opens one session, not two; and a session of the same plan opened in the last minutes and still open is
handed back instead of a new one (the second click of a slow double click).
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import TYPE_CHECKING

from finetune_core.domain import CheckoutSession, utcnow
from finetune_core.domain.billing import BILLING_CYCLES, FREE_PLAN
from finetune_core.errors import InvalidInputError
from finetune_core.payments import CheckoutInfo, CheckoutRequest, payment_gateway
from finetune_core.services import billing

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort

MAX_CLIENT_KEY_CHARS = 200
REUSE_OPEN_SESSION = timedelta(minutes=10)


def _idempotency_key(user_id: str, plan_id: str, cycle: str, code: str | None, client_key: str | None) -> str:
    if client_key:
        return f"checkout-{user_id}-{client_key[:MAX_CLIENT_KEY_CHARS]}"
    minute = utcnow().strftime("%Y%m%d%H%M")
    digest = hashlib.sha256(f"{user_id}|{plan_id}|{cycle}|{code or ''}|{minute}".encode()).hexdigest()[:32]
    return f"checkout-{digest}"


def create_checkout(workspace: WorkspacePort, user_id: str, plan_id: str, *, billing_cycle: str = "monthly",
                    promotion_code: str | None = None, client_key: str | None = None) -> CheckoutSession:
    """Open a Checkout session for one of the paid plans (400 UNKNOWN_PLAN, PLAN_NOT_PURCHASABLE); its `url`."""
    chosen = billing.plan(workspace.settings, plan_id)
    if billing_cycle not in BILLING_CYCLES:
        raise InvalidInputError(f"billing cycle '{billing_cycle}' is not one of {', '.join(BILLING_CYCLES)}",
                                error_code="INVALID_BILLING_CYCLE", billing_cycle=billing_cycle)
    price = chosen.prices.get(billing_cycle)
    if chosen.id == FREE_PLAN or price is None:
        raise InvalidInputError(f"the {chosen.name} plan cannot be bought {billing_cycle} (no price is set for it)",
                                error_code="PLAN_NOT_PURCHASABLE", plan_id=chosen.id, billing_cycle=billing_cycle)
    gateway = payment_gateway(workspace)
    with workspace.unit_of_work() as uow:
        user = uow.users.get(user_id)
        subscription = uow.subscriptions.of_user(user_id)
        recent = None if promotion_code or client_key else uow.checkout_sessions.latest(
            user_id, chosen.id, billing_cycle, utcnow() - REUSE_OPEN_SESSION)
    if recent is not None and recent.url and gateway.checkout_session(recent.id).status == "open":
        return recent
    app_url = workspace.settings.public_app_url.rstrip("/")
    opened = gateway.create_checkout(CheckoutRequest(
        user_id=user_id, customer_email=user.email,
        customer_id=subscription.stripe_customer_id if subscription else None, price_id=price, plan=chosen.id,
        billing_cycle=billing_cycle, success_url=f"{app_url}/checkout/success?session_id={{CHECKOUT_SESSION_ID}}",
        cancel_url=f"{app_url}/checkout/cancel", promotion_code=promotion_code or None,
        idempotency_key=_idempotency_key(user_id, chosen.id, billing_cycle, promotion_code, client_key)))
    with workspace.unit_of_work() as uow:
        return uow.checkout_sessions.put(CheckoutSession(id=opened.id, user_id=user_id, plan=chosen.id,
                                                         billing_cycle=billing_cycle, url=opened.url))


def checkout_info(workspace: WorkspacePort, user_id: str, session_id: str) -> tuple[CheckoutSession, CheckoutInfo]:
    """One of the user's checkout sessions as the provider reports it now (404 for another's or an unknown one)."""
    with workspace.unit_of_work() as uow:
        stored = uow.checkout_sessions.of_user(session_id, user_id)
    return stored, payment_gateway(workspace).checkout_session(stored.id)


def portal_url(workspace: WorkspacePort, user_id: str) -> str:
    """The provider's customer portal for the user (400 NO_BILLING_ACCOUNT before any purchase)."""
    with workspace.unit_of_work() as uow:
        subscription = uow.subscriptions.of_user(user_id)
    if subscription is None or not subscription.stripe_customer_id:
        raise InvalidInputError("there is no billing account yet: subscribe to a plan first",
                                error_code="NO_BILLING_ACCOUNT")
    return payment_gateway(workspace).portal_url(subscription.stripe_customer_id,
                                                 workspace.settings.public_app_url.rstrip("/") + "/account")
