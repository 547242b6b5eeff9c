"""Billing rows: subscriptions, checkout sessions, payments, applied Stripe events, consent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from finetune_core.domain import CheckoutSession, Consent, Payment, Subscription, utcnow
from finetune_core.errors import EventAlreadyAppliedError, NotFoundError
from finetune_core.storage.billing_tables import (
    BillingEventRow,
    CheckoutSessionRow,
    ConsentRow,
    PaymentRow,
    SubscriptionRow,
)
from finetune_core.storage.repositories.base import AggregateRepository
from finetune_core.storage.rows import row_values, to_row_values, update_row


class SubscriptionRepository(AggregateRepository[Subscription, SubscriptionRow]):
    model, row_type, label, id_name = Subscription, SubscriptionRow, "subscription", "subscription_id"
    fresh_reads = True  # webhooks move it from other processes

    def of_user(self, user_id: str) -> Subscription | None:
        row = self.session.scalars(select(SubscriptionRow).where(SubscriptionRow.user_id == user_id)).first()
        if row is None:
            return None
        self.session.refresh(row)
        return self._model(row)

    def find_by_stripe(self, *, subscription_id: str | None = None, customer_id: str | None = None
                       ) -> Subscription | None:
        """The row holding this Stripe subscription, else the one of this Stripe customer."""
        for column, value in ((SubscriptionRow.stripe_subscription_id, subscription_id),
                              (SubscriptionRow.stripe_customer_id, customer_id)):
            if value:
                row = self.session.scalars(select(SubscriptionRow).where(column == value)).first()
                if row is not None:
                    return self._model(row)
        return None

    def put(self, subscription: Subscription) -> Subscription:
        """Insert or replace the user's row (one per user)."""
        row = self.session.scalars(select(SubscriptionRow).where(SubscriptionRow.user_id == subscription.user_id)
                                   ).first()
        if row is None:
            return self.add(subscription)
        subscription.id = row.id
        subscription.created_at = row.created_at
        subscription.updated_at = utcnow()
        update_row(row, subscription)
        self.session.flush()
        return subscription

    def count_by_status(self) -> dict[str, int]:
        rows = self.session.execute(select(SubscriptionRow.status, func.count()).group_by(SubscriptionRow.status))
        return {status: count for status, count in rows}


class CheckoutSessionRepository(AggregateRepository[CheckoutSession, CheckoutSessionRow]):
    model, row_type, label, id_name = CheckoutSession, CheckoutSessionRow, "checkout session", "session_id"

    def of_user(self, session_id: str, user_id: str) -> CheckoutSession:
        """The user's session; NotFoundError for an unknown one or another user's."""
        row = self.session.get(CheckoutSessionRow, session_id)
        if row is None or row.user_id != user_id:
            raise NotFoundError(f"checkout session '{session_id}' not found", session_id=session_id)
        return self._model(row)

    def latest(self, user_id: str, plan: str, billing_cycle: str, since: datetime) -> CheckoutSession | None:
        """The user's newest session for this plan and cycle opened after `since`."""
        row = self.session.scalars(select(CheckoutSessionRow).where(
            CheckoutSessionRow.user_id == user_id, CheckoutSessionRow.plan == plan,
            CheckoutSessionRow.billing_cycle == billing_cycle, CheckoutSessionRow.created_at >= since,
        ).order_by(CheckoutSessionRow.created_at.desc())).first()
        return self._model(row) if row is not None else None

    def put(self, checkout: CheckoutSession) -> CheckoutSession:
        """Insert, or leave as it is when the same session was recorded already (an idempotent retry)."""
        if self.session.get(CheckoutSessionRow, checkout.id) is None:
            self.add(checkout)
        return checkout

    def all_of_user(self, user_id: str) -> list[CheckoutSession]:
        rows = self.session.scalars(select(CheckoutSessionRow).where(CheckoutSessionRow.user_id == user_id)
                                    .order_by(CheckoutSessionRow.created_at, CheckoutSessionRow.id))
        return [self._model(row) for row in rows]


class PaymentRepository(AggregateRepository[Payment, PaymentRow]):
    model, row_type, label, id_name = Payment, PaymentRow, "payment", "payment_id"

    def count(self, user_id: str | None = None) -> int:
        query = select(func.count()).select_from(PaymentRow)
        if user_id is not None:
            query = query.where(PaymentRow.user_id == user_id)
        return int(self.session.scalar(query) or 0)

    def of_user(self, user_id: str) -> list[Payment]:
        rows = self.session.scalars(select(PaymentRow).where(PaymentRow.user_id == user_id)
                                    .order_by(PaymentRow.created_at, PaymentRow.id))
        return [self._model(row) for row in rows]


class BillingEventRepository:
    """The Stripe events applied: claiming one inserts its id, which fails for an event applied already."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def claim(self, event_id: str, event_type: str, created_at: datetime, user_id: str | None) -> None:
        """Record the event in this transaction; EventAlreadyAppliedError if another transaction recorded it.

        On PostgreSQL a concurrent claim of the same id waits for the first transaction and fails once it
        commits (or goes on, if it rolled back): exactly one application, whatever the concurrency.
        """
        self.session.add(BillingEventRow(id=event_id, type=event_type, user_id=user_id, created_at=created_at,
                                         applied_at=utcnow()))
        try:
            self.session.flush()
        except IntegrityError:
            raise EventAlreadyAppliedError(f"Stripe event {event_id} was applied already", event_id=event_id
                                           ) from None

    def is_applied(self, event_id: str) -> bool:
        return self.session.get(BillingEventRow, event_id) is not None

    def set_user(self, event_id: str, user_id: str | None) -> None:
        row = self.session.get(BillingEventRow, event_id)
        if row is not None:
            row.user_id = user_id
            self.session.flush()

    def of_user(self, user_id: str) -> list[dict[str, Any]]:
        """The events applied about the user: id, type and times."""
        rows = self.session.scalars(select(BillingEventRow).where(BillingEventRow.user_id == user_id)
                                    .order_by(BillingEventRow.created_at, BillingEventRow.id))
        return [row_values(row) for row in rows]

    def forget_user(self, user_id: str) -> None:
        """Unlink the user from the events about them; the event ids stay, so none is applied twice."""
        self.session.execute(update(BillingEventRow).where(BillingEventRow.user_id == user_id).values(user_id=None))


class ConsentRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def of_user(self, user_id: str) -> Consent:
        """The user's consent; the defaults (only `necessary`) where they never chose."""
        row = self.session.get(ConsentRow, user_id)
        return Consent.model_validate(row_values(row)) if row is not None else Consent(user_id=user_id)

    def put(self, consent: Consent) -> Consent:
        consent.updated_at = utcnow()
        row = self.session.get(ConsentRow, consent.user_id)
        if row is None:
            self.session.add(ConsentRow(**to_row_values(consent)))
        else:
            update_row(row, consent)
        self.session.flush()
        return consent
