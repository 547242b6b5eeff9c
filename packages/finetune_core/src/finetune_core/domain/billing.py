"""Billing: plans and their limits, a user's subscription, checkout sessions, payments, consent."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from finetune_core.domain.common import new_id, utcnow

FREE_PLAN = "free"
BILLING_CYCLES = ("monthly", "yearly")


class PlanLimits(BaseModel):
    """What a plan allows; None: no limit. The monthly allowances restart with each billing period."""

    max_projects: int | None = Field(None, ge=0)
    max_fine_tunings: int | None = Field(None, ge=0)
    monthly_examples: int | None = Field(None, ge=0)
    monthly_training_minutes: int | None = Field(None, ge=0)


class Plan(BaseModel):
    """A plan of the operator's settings: its Stripe price per billing cycle and its limits."""

    id: str = Field(pattern=r"^[a-z0-9_-]{1,40}$")
    name: str
    prices: dict[str, str] = Field(default_factory=dict)  # billing cycle ("monthly", "yearly") -> Stripe price id
    limits: PlanLimits = Field(default_factory=PlanLimits)


class SubscriptionStatus(StrEnum):
    """Stripe's subscription statuses, plus `active` for the free plan nobody pays for."""

    ACTIVE = "active"
    TRIALING = "trialing"
    PAST_DUE = "past_due"
    UNPAID = "unpaid"
    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    PAUSED = "paused"
    CANCELED = "canceled"


# statuses under which a paid plan's limits apply; any other falls back to the free plan's
ENTITLED = frozenset({SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING, SubscriptionStatus.PAST_DUE})


class Subscription(BaseModel):
    """A user's one subscription row, set from the state of the Stripe subscription (webhooks keep it in step).

    `state_at` is when Stripe's object was in the state stored here: an event about an older state never
    overwrites a newer one.
    """

    id: str = Field(default_factory=new_id)
    user_id: str
    plan: str = FREE_PLAN
    status: SubscriptionStatus = SubscriptionStatus.ACTIVE
    billing_cycle: str | None = None
    stripe_customer_id: str | None = None
    stripe_subscription_id: str | None = None
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    cancel_at_period_end: bool = False
    state_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class CheckoutSession(BaseModel):
    """A Stripe Checkout session a user opened (kept so that session-info answers only its owner)."""

    id: str  # Stripe's cs_... id
    user_id: str
    plan: str
    billing_cycle: str
    url: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Payment(BaseModel):
    """A paid invoice, recorded once from `invoice.payment_succeeded`."""

    id: str = Field(default_factory=new_id)
    user_id: str | None = None
    stripe_invoice_id: str | None = None
    stripe_subscription_id: str | None = None
    amount: int = 0  # in the currency's smallest unit, as Stripe counts
    currency: str = "usd"
    created_at: datetime = Field(default_factory=utcnow)


class Consent(BaseModel):
    """crealia's cookie and processing consent; `necessary` cannot be refused."""

    user_id: str
    necessary: bool = True
    analytics: bool = False
    marketing: bool = False
    preferences: bool = False
    updated_at: datetime = Field(default_factory=utcnow)
