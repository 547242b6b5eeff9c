"""Plans and their limits: what a user's subscription allows, what they use, and the 402 when a step would exceed it.

Limits apply to accounts (an owner id), once billing is set up (a payment gateway configured) or when the setting
`enforce_plan_limits` forces them; the library's and the local single user's work (owner None) is never limited.
A limit is checked inside the transaction that would exceed it, with the user's row locked first, so two
concurrent creations cannot both pass. The monthly allowances (examples generated, training minutes) are read
when a generation or a training starts: one that starts under its allowance runs to its end.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from finetune_core.domain import FineTuneStatus, Job, Plan, PlanLimits, Subscription, utcnow
from finetune_core.domain.billing import ENTITLED, FREE_PLAN
from finetune_core.errors import InvalidInputError, NotFoundError, PlanLimitError
from finetune_core.payments import billing_configured

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort
    from finetune_core.settings import Settings
    from finetune_core.storage.unit_of_work import UnitOfWork

DEFAULT_PLANS: tuple[Plan, ...] = (
    Plan(id=FREE_PLAN, name="Free", limits=PlanLimits(max_projects=3, max_fine_tunings=1, monthly_examples=500,
                                                      monthly_training_minutes=30)),
    Plan(id="starter", name="Starter", limits=PlanLimits(max_projects=10, max_fine_tunings=5,
                                                         monthly_examples=5_000, monthly_training_minutes=300)),
    Plan(id="pro", name="Pro", limits=PlanLimits(max_projects=50, max_fine_tunings=25, monthly_examples=50_000,
                                                 monthly_training_minutes=1_500)),
    Plan(id="enterprise", name="Enterprise", limits=PlanLimits()),
    # crealia's plans
    Plan(id="creator", name="Creator", limits=PlanLimits(max_projects=10, max_fine_tunings=5,
                                                         monthly_examples=5_000, monthly_training_minutes=300)),
    Plan(id="viral", name="Viral", limits=PlanLimits(max_projects=50, max_fine_tunings=25, monthly_examples=50_000,
                                                     monthly_training_minutes=1_500)),
)
# fine-tunings that hold no slot of `max_fine_tunings`
UNCOUNTED_FINE_TUNES = (FineTuneStatus.CANCELLED.value, FineTuneStatus.ERROR.value)
# jobs that generate examples: started only while the monthly allowance has some left
GENERATING_JOBS = frozenset({"pipeline", "dataset_preview", "dataset_generate", "dataset_build"})
LIMITS = ("max_projects", "max_fine_tunings", "monthly_examples", "monthly_training_minutes")


class PlanUsage(BaseModel):
    projects: int = 0
    fine_tunings: int = 0
    examples_this_period: int = 0
    training_minutes_this_period: float = 0.0


class SubscriptionView(BaseModel):
    """GET /api/users/me/subscription: the stored subscription (or the free default), its limits and the usage."""

    subscription: Subscription
    plan: Plan
    limits_enforced: bool
    period_start: datetime
    usage: PlanUsage


def plans(settings: Settings) -> dict[str, Plan]:
    """The operator's plans by id (settings `plans`), else the defaults; the free plan is always there."""
    found = {plan.id: plan for plan in (settings.plans or DEFAULT_PLANS)}
    found.setdefault(FREE_PLAN, DEFAULT_PLANS[0])
    return found


def plan(settings: Settings, plan_id: str) -> Plan:
    """A plan by id; 400 UNKNOWN_PLAN naming the known ones otherwise."""
    known = plans(settings)
    if plan_id not in known:
        raise InvalidInputError(f"unknown plan '{plan_id}'", error_code="UNKNOWN_PLAN", plan_id=plan_id,
                                plans=sorted(known))
    return known[plan_id]


def plan_of_price(settings: Settings, price_id: str | None) -> tuple[Plan, str] | None:
    """The plan and billing cycle that a Stripe price belongs to, if any."""
    for candidate in plans(settings).values():
        for cycle, price in candidate.prices.items():
            if price_id and price == price_id:
                return candidate, cycle
    return None


def limits_enforced(workspace: WorkspacePort) -> bool:
    forced = workspace.settings.enforce_plan_limits
    return forced if forced is not None else billing_configured(workspace)


def stored_or_free(uow: UnitOfWork, user_id: str) -> Subscription:
    return uow.subscriptions.of_user(user_id) or Subscription(user_id=user_id)


def entitled_plan(settings: Settings, subscription: Subscription) -> Plan:
    """The plan whose limits apply: the subscribed one while it is paid for (or trialing, or past due), else free."""
    known = plans(settings)
    if subscription.status in ENTITLED and subscription.plan in known:
        return known[subscription.plan]
    return known[FREE_PLAN]


def period_start(subscription: Subscription, now: datetime | None = None) -> datetime:
    """Where the monthly allowances restart: the paid period's start, else the first of the calendar month."""
    now = now or utcnow()
    if subscription.status in ENTITLED and subscription.current_period_start is not None \
            and subscription.current_period_start <= now:
        return subscription.current_period_start
    return datetime(now.year, now.month, 1, tzinfo=UTC)


def _usage(uow: UnitOfWork, user_id: str, since: datetime) -> PlanUsage:
    projects, fine_tunes, examples, seconds = uow.usage.plan_usage(user_id, since,
                                                                   uncounted_statuses=UNCOUNTED_FINE_TUNES)
    return PlanUsage(projects=projects, fine_tunings=fine_tunes, examples_this_period=examples,
                     training_minutes_this_period=round(seconds / 60, 2))


def subscription_view(workspace: WorkspacePort, user_id: str) -> SubscriptionView:
    with workspace.unit_of_work() as uow:
        uow.users.get(user_id)
        subscription = stored_or_free(uow, user_id)
        since = period_start(subscription)
        usage = _usage(uow, user_id, since)
    return SubscriptionView(subscription=subscription, plan=entitled_plan(workspace.settings, subscription),
                            limits_enforced=limits_enforced(workspace), period_start=since, usage=usage)


def _used(usage: PlanUsage, limit: str) -> float:
    return {"max_projects": usage.projects, "max_fine_tunings": usage.fine_tunings,
            "monthly_examples": usage.examples_this_period,
            "monthly_training_minutes": usage.training_minutes_this_period}[limit]


def enforce(workspace: WorkspacePort, uow: UnitOfWork, owner_id: str | None, *limits: str, adding: int = 1) -> None:
    """Inside the transaction that would add to them: PlanLimitError (402) if the owner's plan has no room left.

    For a count limit (`max_*`) the room is for `adding` more; for a monthly allowance, what is left must be
    above zero. Locks the owner's row first, so a concurrent transaction checks after this one commits.
    """
    if owner_id is None or not limits_enforced(workspace):
        return
    try:
        uow.users.lock(owner_id)
    except NotFoundError:
        return  # an owner id that is no account (a library caller's label): no plan applies
    subscription = stored_or_free(uow, owner_id)
    chosen = entitled_plan(workspace.settings, subscription)
    usage = _usage(uow, owner_id, period_start(subscription))
    for limit in limits:
        allowed = getattr(chosen.limits, limit)
        if allowed is None:
            continue
        used = _used(usage, limit)
        over = used + adding > allowed if limit.startswith("max_") else used >= allowed
        if over:
            raise PlanLimitError(_refusal(limit, allowed, chosen), limit=limit, allowed=allowed, used=used,
                                 plan=chosen.id)


def enforce_job(workspace: WorkspacePort, uow: UnitOfWork, job: Job) -> None:
    """Before a job that generates examples is stored: 402 when its project's owner has no examples left."""
    if job.type in GENERATING_JOBS and job.project_id is not None and limits_enforced(workspace):
        enforce(workspace, uow, uow.projects.get(job.project_id).owner_id, "monthly_examples")


def _refusal(limit: str, allowed: int, chosen: Plan) -> str:
    what: dict[str, Any] = {"max_projects": f"{allowed} projects", "max_fine_tunings": f"{allowed} fine-tunings",
                            "monthly_examples": f"{allowed} generated examples a month",
                            "monthly_training_minutes": f"{allowed} training minutes a month"}
    return f"the {chosen.name} plan allows {what[limit]}: upgrade the plan or free some up"
