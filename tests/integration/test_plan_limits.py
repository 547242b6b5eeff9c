"""Plan limits in the core, on SQLite and PostgreSQL: checked inside the transaction that would exceed them."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from finetune_core import passwords
from finetune_core.domain import Plan, PlanLimits, Subscription, SubscriptionStatus
from finetune_core.errors import PlanLimitError
from finetune_core.services import billing, projects, users
from finetune_core.testing import open_test_workspace
from finetune_core.workspace import Workspace

TIGHT = [Plan(id="free", name="Free", limits=PlanLimits(max_projects=2, max_fine_tunings=1, monthly_examples=0)),
         Plan(id="pro", name="Pro", prices={"monthly": "price_pro_m"}, limits=PlanLimits(max_projects=4))]


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "DEFAULT_COST", passwords.ScryptCost(n=2**10, r=8, p=1))


def _account(workspace: Workspace, email: str) -> str:
    return users.register(workspace, email, "correct horse battery").id


def _race(workspace: Workspace, owner: str, contenders: int) -> list[str]:
    """`contenders` threads create a project at once; what each got ("ok" or the error code)."""
    start = threading.Barrier(contenders)
    outcomes: list[str] = []

    def create(index: int) -> None:
        start.wait()
        try:
            projects.create_project(workspace, f"race {index}", owner_id=owner)
            outcomes.append("ok")
        except PlanLimitError as error:
            outcomes.append(error.error_code)

    threads = [threading.Thread(target=create, args=(index,)) for index in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_concurrent_creations_at_the_last_free_slot_let_one_through(
        tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("postgres_url") if backend == "postgresql" else None
    with open_test_workspace(tmp_path, database_url=url, plans=TIGHT, enforce_plan_limits=True) as workspace:
        owner = _account(workspace, "racer@example.com")
        projects.create_project(workspace, "first", owner_id=owner)  # max_projects - 1 used
        outcomes = _race(workspace, owner, 8)
        assert sorted(outcomes) == ["PLAN_LIMIT_REACHED"] * 7 + ["ok"]
        assert projects.list_projects(workspace, owner_id=owner)[1] == 2


def test_the_refusal_names_the_limit_the_plan_and_the_usage(tmp_path: Path) -> None:
    with open_test_workspace(tmp_path, plans=TIGHT, enforce_plan_limits=True) as workspace:
        owner = _account(workspace, "full@example.com")
        for index in range(2):
            projects.create_project(workspace, f"p{index}", owner_id=owner)
        with pytest.raises(PlanLimitError) as refused:
            projects.create_project(workspace, "one too many", owner_id=owner)
        assert refused.value.context == {"limit": "max_projects", "allowed": 2, "used": 2, "plan": "free"}


def test_a_paid_plan_raises_the_limit_only_while_it_is_paid_for(tmp_path: Path) -> None:
    with open_test_workspace(tmp_path, plans=TIGHT, enforce_plan_limits=True) as workspace:
        owner = _account(workspace, "payer@example.com")
        with workspace.unit_of_work() as uow:
            uow.subscriptions.put(Subscription(user_id=owner, plan="pro", status=SubscriptionStatus.ACTIVE,
                                               stripe_subscription_id="sub_1"))
        for index in range(4):
            projects.create_project(workspace, f"p{index}", owner_id=owner)
        view = billing.subscription_view(workspace, owner)
        assert (view.plan.id, view.usage.projects) == ("pro", 4)
        with workspace.unit_of_work() as uow:
            lapsed = uow.subscriptions.of_user(owner)
            assert lapsed is not None
            uow.subscriptions.put(lapsed.model_copy(update={"status": SubscriptionStatus.UNPAID}))
        assert billing.subscription_view(workspace, owner).plan.id == "free"
        with pytest.raises(PlanLimitError):
            projects.create_project(workspace, "over the free plan", owner_id=owner)


def test_limits_wait_for_billing_and_never_touch_the_library_user(tmp_path: Path) -> None:
    with open_test_workspace(tmp_path, plans=TIGHT) as workspace:  # no Stripe key: nothing enforced
        owner = _account(workspace, "selfhosted@example.com")
        for index in range(3):
            projects.create_project(workspace, f"p{index}", owner_id=owner)
        assert billing.subscription_view(workspace, owner).limits_enforced is False
    with open_test_workspace(tmp_path / "forced", plans=TIGHT, enforce_plan_limits=True) as workspace:
        for index in range(3):
            projects.create_project(workspace, f"library {index}", owner_id=None)


def test_an_exhausted_example_allowance_refuses_a_generation_before_it_starts(tmp_path: Path) -> None:
    with open_test_workspace(tmp_path, plans=TIGHT, enforce_plan_limits=True) as workspace:
        owner = _account(workspace, "writer@example.com")
        project = projects.create_project(workspace, "docs", owner_id=owner)
        with workspace.unit_of_work() as uow:
            jobs_before = uow.jobs.search(project_id=project.id)[1]
        from finetune_core.services import jobs

        with pytest.raises(PlanLimitError) as refused:
            jobs.enqueue(workspace, "dataset_generate", project_id=project.id)
        assert refused.value.context["limit"] == "monthly_examples"
        with workspace.unit_of_work() as uow:
            assert uow.jobs.search(project_id=project.id)[1] == jobs_before
