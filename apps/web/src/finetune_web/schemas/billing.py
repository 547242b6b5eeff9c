"""Billing: the caller's subscription, checkout sessions (fintune-platform's and crealia's shapes), the portal."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from finetune_core.payments import CheckoutInfo
from finetune_core.services.billing import PlanUsage, SubscriptionView
from pydantic import AliasChoices, BaseModel, ConfigDict, Field


class LimitsOut(BaseModel):
    max_projects: int | None
    max_fine_tunings: int | None
    monthly_examples: int | None
    monthly_training_minutes: int | None


class SubscriptionOut(BaseModel):
    """fintune-platform's subscription, with the limits spelled out and what is used of them."""

    id: str | None = Field(description="None until a plan was ever bought: the free plan is not stored")
    user_id: str
    plan: str = Field(description="the plan subscribed to (`free` before any purchase)")
    plan_name: str
    effective_plan: str = Field(description="the plan whose limits apply now (free while a payment is missing)")
    status: str
    billing_cycle: str | None
    stripe_subscription_id: str | None
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    max_projects: int | None
    max_fine_tunings: int | None
    limits: LimitsOut
    limits_enforced: bool = Field(description="false where billing is not set up: nothing is refused")
    usage_period_start: datetime
    usage: PlanUsage
    created_at: datetime

    @classmethod
    def of(cls, view: SubscriptionView) -> SubscriptionOut:
        sub, plan = view.subscription, view.plan
        stored = sub.stripe_subscription_id is not None or sub.plan != "free"
        return cls(id=sub.id if stored else None, user_id=sub.user_id, plan=sub.plan, plan_name=plan.name,
                   effective_plan=plan.id, status=sub.status.value, billing_cycle=sub.billing_cycle,
                   stripe_subscription_id=sub.stripe_subscription_id,
                   current_period_start=sub.current_period_start, current_period_end=sub.current_period_end,
                   cancel_at_period_end=sub.cancel_at_period_end, max_projects=plan.limits.max_projects,
                   max_fine_tunings=plan.limits.max_fine_tunings,
                   limits=LimitsOut.model_validate(plan.limits.model_dump()), limits_enforced=view.limits_enforced,
                   usage_period_start=view.period_start, usage=view.usage, created_at=sub.created_at)


class CheckoutUrlOut(BaseModel):
    checkout_url: str = Field(description="Stripe Checkout's page: send the browser there")


class CheckoutCreate(BaseModel):
    """crealia's body; camelCase (as crealia sends it) or snake_case."""

    model_config = ConfigDict(populate_by_name=True)

    plan_id: str = Field(min_length=1, max_length=40, validation_alias=AliasChoices("planId", "plan_id"))
    billing_cycle: Literal["monthly", "yearly"] = Field(
        "monthly", validation_alias=AliasChoices("billingCycle", "billing_cycle"))
    affiliate_code: str | None = Field(None, max_length=100, validation_alias=AliasChoices("affiliateCode",
                                                                                            "affiliate_code"),
                                       description="a Stripe promotion code, applied as a discount")


class UrlOut(BaseModel):
    url: str


class SessionInfoArgs(BaseModel):
    session_id: str = Field(min_length=1, max_length=255)


class SessionInfoOut(BaseModel):
    session_id: str
    status: str | None
    payment_status: str | None
    customer_email: str | None
    amount_total: int | None
    currency: str | None
    plan_id: str
    billing_cycle: str

    @classmethod
    def of(cls, plan_id: str, billing_cycle: str, info: CheckoutInfo) -> SessionInfoOut:
        return cls(session_id=info.id, status=info.status, payment_status=info.payment_status,
                   customer_email=info.customer_email, amount_total=info.amount_total, currency=info.currency,
                   plan_id=plan_id, billing_cycle=billing_cycle)


class WebhookStatusOut(BaseModel):
    status: str = "success"


class WebhookReceivedOut(BaseModel):
    received: bool = True
