"""Stripe's webhook events, each applied exactly once, in any order.

The event is verified on its raw body first (WebhookSignatureError otherwise, and nothing changes). Its id is
inserted in the same transaction as its effect: a redelivery, or ten concurrent deliveries, find it there and
change nothing; a delivery that failed half-way rolled its id back with its effect, so the retry applies it.

Events arrive in any order, so the subscription is set from the state of Stripe's object, never from the event's
kind alone: a subscription event carries the object as it was when the event was made; when that is older than
what is stored, the current object is fetched instead. Stripe never revives a cancelled subscription, so nor
does a late event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finetune_core.domain import Payment, Subscription, SubscriptionStatus
from finetune_core.domain.billing import ENTITLED
from finetune_core.errors import EventAlreadyAppliedError
from finetune_core.payments import PaymentGateway, SubscriptionState, WebhookEvent, payment_gateway
from finetune_core.services import billing

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort
    from finetune_core.storage.unit_of_work import UnitOfWork

SUBSCRIPTION_EVENTS = frozenset({"customer.subscription.created", "customer.subscription.updated",
                                 "customer.subscription.deleted"})
# invoice.paid is not among them: Stripe sends it beside invoice.payment_succeeded, and one payment is one row
PAYMENT_SUCCEEDED = "invoice.payment_succeeded"
INVOICE_EVENTS = frozenset({PAYMENT_SUCCEEDED, "invoice.payment_failed"})
CHECKOUT_COMPLETED = "checkout.session.completed"
KNOWN_STATUSES = frozenset(status.value for status in SubscriptionStatus)
HANDLED = SUBSCRIPTION_EVENTS | INVOICE_EVENTS | {CHECKOUT_COMPLETED}


def handle_webhook(workspace: WorkspacePort, payload: bytes, signature: str | None) -> str:
    """Verify and apply one delivery: `applied`, `duplicate` (applied before) or `ignored` (a type not handled)."""
    gateway = payment_gateway(workspace)
    event = gateway.verify_event(payload, signature)
    if event.type not in HANDLED:
        return "ignored"
    with workspace.unit_of_work() as uow:
        if uow.billing_events.is_applied(event.id):
            return "duplicate"
    state, hint = _state_of(workspace, gateway, event)  # the provider is called outside any transaction
    try:
        with workspace.unit_of_work() as uow:
            uow.billing_events.claim(event.id, event.type, event.created, None)
            user_id = _apply(workspace, uow, event, state, hint)
            uow.billing_events.set_user(event.id, user_id)
    except EventAlreadyAppliedError:
        return "duplicate"
    return "applied"


def _subscription_id(event: WebhookEvent) -> str | None:
    found = event.object.get("subscription")
    if not found:  # invoices of API versions since 2025 name it under parent.subscription_details
        details = (event.object.get("parent") or {}).get("subscription_details") or {}
        found = details.get("subscription")
    if isinstance(found, dict):
        found = found.get("id")
    return str(found) if found else None


def _state_of(workspace: WorkspacePort, gateway: PaymentGateway, event: WebhookEvent
              ) -> tuple[SubscriptionState | None, dict[str, Any]]:
    """The subscription state the event leads to, and what the event says of its user (metadata, customer)."""
    obj = event.object
    hint: dict[str, Any] = {"customer": obj.get("customer"), **(obj.get("metadata") or {})}
    if obj.get("client_reference_id"):
        hint.setdefault("user_id", obj["client_reference_id"])
    if event.type in SUBSCRIPTION_EVENTS:
        carried = gateway.subscription_from_event(event)
        with workspace.unit_of_work() as uow:
            stored = uow.subscriptions.find_by_stripe(subscription_id=carried.id)
        if stored is not None and stored.state_at is not None and carried.observed_at <= stored.state_at:
            # a late event, or one of the same second (Stripe counts whole seconds): the object as it is now
            return gateway.subscription(carried.id), hint
        return carried, hint
    subscription_id = _subscription_id(event)
    return (gateway.subscription(subscription_id) if subscription_id else None), hint


def _apply(workspace: WorkspacePort, uow: UnitOfWork, event: WebhookEvent, state: SubscriptionState | None,
           hint: dict[str, Any]) -> str | None:
    """Set the user's subscription from `state` and record a payment; the user it concerned (None: nobody's)."""
    stored = None
    if state is not None:
        stored = uow.subscriptions.find_by_stripe(subscription_id=state.id, customer_id=state.customer_id)
    user_id = stored.user_id if stored else (state.metadata.get("user_id") if state else None) or hint.get("user_id")
    if not user_id or uow.users.find_id(str(user_id)) is None:
        return None
    user_id = str(user_id)
    if event.type == PAYMENT_SUCCEEDED:
        _record_payment(uow, event, user_id)
    if state is not None:
        current = stored if stored and stored.user_id == user_id else uow.subscriptions.of_user(user_id)
        updated = _next(workspace, current, state, user_id, hint)
        if updated is not None:
            uow.subscriptions.put(updated)
    return user_id


def _next(workspace: WorkspacePort, current: Subscription | None, state: SubscriptionState, user_id: str,
          hint: dict[str, Any]) -> Subscription | None:
    """The row `state` leads to, or None where it must not change (older, a revival, another subscription's end)."""
    if current is not None and current.stripe_subscription_id == state.id:
        if current.state_at is not None and state.observed_at < current.state_at:
            return None
        if current.status == SubscriptionStatus.CANCELED and state.status != SubscriptionStatus.CANCELED:
            return None  # Stripe never revives a cancelled subscription: this state is older than its end
    elif current is not None and current.stripe_subscription_id and state.status not in ENTITLED:
        return None  # the end of a subscription the user has replaced since
    priced = billing.plan_of_price(workspace.settings, state.price_id)
    plan_id = priced[0].id if priced else state.metadata.get("plan") or hint.get("plan") or (
        current.plan if current else None)
    known = billing.plans(workspace.settings)
    base = current or Subscription(user_id=user_id)
    return base.model_copy(update={
        "plan": plan_id if plan_id in known else base.plan,
        "status": SubscriptionStatus(state.status) if state.status in KNOWN_STATUSES else SubscriptionStatus.INCOMPLETE,
        "billing_cycle": priced[1] if priced else state.metadata.get("billing_cycle") or base.billing_cycle,
        "stripe_customer_id": state.customer_id or base.stripe_customer_id,
        "stripe_subscription_id": state.id,
        "current_period_start": state.current_period_start,
        "current_period_end": state.current_period_end,
        "cancel_at_period_end": state.cancel_at_period_end,
        "state_at": state.observed_at,
    })


def _record_payment(uow: UnitOfWork, event: WebhookEvent, user_id: str) -> None:
    obj = event.object
    uow.payments.add(Payment(user_id=user_id, stripe_invoice_id=obj.get("id"),
                             stripe_subscription_id=_subscription_id(event),
                             amount=int(obj.get("amount_paid") or obj.get("total") or 0),
                             currency=str(obj.get("currency") or "usd"), created_at=event.created))
