"""Billing over HTTP against a fake Stripe on 127.0.0.1 (the official `stripe` library makes every call):
subscription and limits, both checkout shapes, session info, the portal, and signed webhooks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from finetune_core.domain import Plan, PlanLimits
from finetune_core.workspace import Workspace
from flask import Flask
from flask.testing import FlaskClient
from kits.fake_stripe import FakeStripe
from kits.scripted_trainer import Script, dataset_project
from kits.web_api import Account, assert_error, sign_up

PLANS = [Plan(id="free", name="Free", limits=PlanLimits(max_projects=1, max_fine_tunings=1)),
         Plan(id="starter", name="Starter", prices={"monthly": "price_starter_m"}, limits=PlanLimits(max_projects=3)),
         Plan(id="pro", name="Pro", prices={"monthly": "price_pro_m", "yearly": "price_pro_y"},
              limits=PlanLimits(max_projects=10)),
         Plan(id="viral", name="Viral", prices={"monthly": "price_viral_m"}, limits=PlanLimits())]


@pytest.fixture
def stripe_app(workspace: Workspace, fake_stripe: FakeStripe, make_app: Callable[..., Flask]) -> Flask:
    workspace.settings = workspace.settings.model_copy(update={**fake_stripe.settings(), "plans": PLANS})
    return make_app()


@pytest.fixture
def stripe_client(stripe_app: Flask) -> FlaskClient:
    return stripe_app.test_client()


@pytest.fixture
def carol(stripe_client: FlaskClient) -> Account:
    return sign_up(stripe_client, "carol@example.com", name="Carol")


def deliver(client: FlaskClient, stripe: FakeStripe, type: str, obj: dict[str, Any], *,
            route: str = "/api/checkout/webhook", created: int | None = None, event_id: str | None = None,
            **signing: Any) -> Any:
    payload = stripe.event(type, obj, created=created, event_id=event_id)
    return client.post(route, data=payload, content_type="application/json",
                       headers={"Stripe-Signature": stripe.sign(payload, **signing)})


def subscription(client: FlaskClient, account: Account) -> dict[str, Any]:
    found = client.get("/api/users/me/subscription", headers=account.headers)
    assert found.status_code == 200, found.get_json()
    return dict(found.get_json())


def buy(client: FlaskClient, stripe: FakeStripe, account: Account, plan: str = "pro") -> dict[str, Any]:
    """Checkout, the buyer pays, Stripe sends checkout.session.completed: the completed session."""
    opened = client.post(f"/api/checkout/create-checkout-session/{plan}", headers=account.headers)
    assert opened.status_code == 200, opened.get_json()
    [session] = [s for s in stripe.checkout_sessions.values() if s["url"] == opened.get_json()["checkout_url"]]
    completed = stripe.complete_checkout(session["id"])
    assert deliver(client, stripe, "checkout.session.completed", completed).status_code == 200
    return completed


def test_the_free_plan_before_any_purchase_with_its_limits_and_usage(stripe_client: FlaskClient, carol: Account
                                                                     ) -> None:
    found = subscription(stripe_client, carol)
    assert (found["plan"], found["status"]) == ("free", "active")
    assert (found["max_projects"], found["max_fine_tunings"]) == (1, 1)
    assert found["limits_enforced"] is True and found["usage"]["projects"] == 0
    assert stripe_client.post("/api/projects", json={"name": "one"}, headers=carol.headers).status_code == 201
    refused = assert_error(stripe_client.post("/api/projects", json={"name": "two"}, headers=carol.headers), 402,
                           "PLAN_LIMIT_REACHED")
    assert refused["context"] == {"limit": "max_projects", "allowed": 1, "used": 1, "plan": "free"}
    assert subscription(stripe_client, carol)["usage"]["projects"] == 1


def test_buying_a_plan_end_to_end_raises_the_limit(stripe_client: FlaskClient, fake_stripe: FakeStripe,
                                                   carol: Account) -> None:
    completed = buy(stripe_client, fake_stripe, carol, "pro")
    [created] = fake_stripe.calls_to("POST", "/v1/checkout/sessions")
    assert created["line_items"][0]["price"] == "price_pro_m" and created["mode"] == "subscription"
    assert created["customer_email"] == "carol@example.com"
    assert created["subscription_data"]["metadata"] == {"user_id": carol.id, "plan": "pro", "billing_cycle": "monthly"}
    found = subscription(stripe_client, carol)
    assert (found["plan"], found["status"], found["max_projects"]) == ("pro", "active", 10)
    assert stripe_client.get("/api/auth/me", headers=carol.headers).get_json()["current_plan"] == "pro"
    assert found["stripe_subscription_id"] == completed["subscription"]
    assert found["current_period_end"] is not None and found["billing_cycle"] == "monthly"
    for index in range(3):
        assert stripe_client.post("/api/projects", json={"name": f"p{index}"}, headers=carol.headers).status_code == 201


def test_checkout_errors_and_a_double_click_makes_one_session(stripe_client: FlaskClient, fake_stripe: FakeStripe,
                                                               carol: Account) -> None:
    assert_error(stripe_client.post("/api/checkout/create-checkout-session/platinum", headers=carol.headers), 400,
                 "UNKNOWN_PLAN")
    assert_error(stripe_client.post("/api/checkout/create-checkout-session/free", headers=carol.headers), 400,
                 "PLAN_NOT_PURCHASABLE")
    assert_error(stripe_client.post("/api/checkout/create-checkout-session/pro"), 401)
    urls = set()
    start = threading.Barrier(2)

    def click() -> None:
        start.wait()
        urls.add(stripe_client.post("/api/checkout/create-checkout-session/pro", headers=carol.headers,
                                    ).get_json()["checkout_url"])

    clicks = [threading.Thread(target=click) for _ in range(2)]
    for thread in clicks:
        thread.start()
    for thread in clicks:
        thread.join()
    urls.add(stripe_client.post("/api/checkout/create-checkout-session/pro", headers=carol.headers
                                ).get_json()["checkout_url"])
    assert len(urls) == 1 and len(fake_stripe.checkout_sessions) == 1


def test_crealia_checkout_with_a_promotion_code_and_session_info(stripe_client: FlaskClient, fake_stripe: FakeStripe,
                                                                carol: Account) -> None:
    fake_stripe.promotion_codes["PROMO10"] = "promo_10"
    opened = stripe_client.post("/api/checkout/create-session", headers=carol.headers,
                                json={"planId": "pro", "billingCycle": "yearly", "affiliateCode": "PROMO10"})
    assert opened.status_code == 200, opened.get_json()
    [created] = fake_stripe.calls_to("POST", "/v1/checkout/sessions")
    assert created["line_items"][0]["price"] == "price_pro_y"
    assert created["discounts"] == [{"promotion_code": "promo_10"}]
    [session_id] = fake_stripe.checkout_sessions
    assert opened.get_json() == {"url": fake_stripe.checkout_sessions[session_id]["url"]}
    info = stripe_client.get(f"/api/checkout/session-info?session_id={session_id}", headers=carol.headers)
    assert info.status_code == 200
    assert info.get_json()["status"] == "open" and info.get_json()["plan_id"] == "pro"
    assert info.get_json()["billing_cycle"] == "yearly" and info.get_json()["customer_email"] == "carol@example.com"
    assert_error(stripe_client.post("/api/checkout/create-session", headers=carol.headers,
                                    json={"planId": "pro", "affiliateCode": "NOPE"}), 400, "INVALID_PROMOTION_CODE")
    assert_error(stripe_client.post("/api/checkout/create-session", headers=carol.headers,
                                    json={"planId": "pro", "billingCycle": "weekly"}), 422)
    dave = sign_up(stripe_client, "dave@example.com")
    assert_error(stripe_client.get(f"/api/checkout/session-info?session_id={session_id}", headers=dave.headers), 404)
    assert_error(stripe_client.get("/api/checkout/session-info?session_id=cs_unknown", headers=carol.headers), 404)


def test_the_portal_needs_a_purchase_then_opens(stripe_client: FlaskClient, fake_stripe: FakeStripe,
                                               carol: Account) -> None:
    assert_error(stripe_client.post("/api/billing/portal", headers=carol.headers), 400, "NO_BILLING_ACCOUNT")
    completed = buy(stripe_client, fake_stripe, carol)
    portal = stripe_client.post("/api/billing/portal", headers=carol.headers)
    assert portal.status_code == 200 and portal.get_json()["url"].startswith("http")
    [asked] = fake_stripe.calls_to("POST", "/v1/billing_portal/sessions")
    assert asked["customer"] == completed["customer"]


def test_billing_not_set_up_answers_503(client: FlaskClient, alice: Account, workspace: Workspace) -> None:
    workspace.settings = workspace.settings.model_copy(update={"plans": PLANS})  # prices, but no Stripe key
    assert_error(client.post("/api/checkout/create-checkout-session/starter", headers=alice.headers), 503,
                 "BILLING_NOT_CONFIGURED")
    assert_error(client.post("/api/stripe-webhook", data=b"{}", content_type="application/json"), 503,
                 "BILLING_NOT_CONFIGURED")
    assert subscription(client, alice)["limits_enforced"] is False


def test_webhook_signatures_are_checked_on_the_raw_body(stripe_client: FlaskClient, fake_stripe: FakeStripe,
                                                        carol: Account) -> None:
    sub = fake_stripe.add_subscription(customer="cus_carol", price="price_pro_m", metadata={"user_id": carol.id})
    assert_error(deliver(stripe_client, fake_stripe, "customer.subscription.updated", sub, secret="whsec_wrong"), 400,
                 "INVALID_SIGNATURE")
    assert_error(deliver(stripe_client, fake_stripe, "customer.subscription.updated", sub,
                         timestamp=int(time.time()) - 301), 400, "INVALID_SIGNATURE")
    payload = fake_stripe.event("customer.subscription.updated", sub)
    tampered = stripe_client.post("/api/stripe-webhook", data=payload.replace(b"active", b"trialing"),
                                  content_type="application/json",
                                  headers={"Stripe-Signature": fake_stripe.sign(payload)})
    assert_error(tampered, 400, "INVALID_SIGNATURE")
    assert_error(stripe_client.post("/api/stripe-webhook", data=payload, content_type="application/json"), 400)
    assert subscription(stripe_client, carol)["plan"] == "free"  # nothing changed
    accepted = deliver(stripe_client, fake_stripe, "customer.subscription.updated", sub, route="/api/stripe-webhook")
    assert accepted.status_code == 200 and accepted.get_json() == {"received": True}
    assert subscription(stripe_client, carol)["plan"] == "pro"
    unknown = deliver(stripe_client, fake_stripe, "customer.tax_id.created", {"id": "txi_1"})
    assert unknown.status_code == 200 and unknown.get_json() == {"status": "success"}


def test_ten_concurrent_deliveries_of_one_event_grant_once(stripe_client: FlaskClient, fake_stripe: FakeStripe,
                                                          carol: Account, workspace: Workspace) -> None:
    completed = buy(stripe_client, fake_stripe, carol)
    invoice = {"id": "in_1", "object": "invoice", "customer": completed["customer"], "amount_paid": 3900,
               "currency": "usd", "parent": {"subscription_details": {"subscription": completed["subscription"]}}}
    payload = fake_stripe.event("invoice.payment_succeeded", invoice, event_id="evt_paid_once")
    statuses: list[int] = []
    start = threading.Barrier(10)

    def send() -> None:
        client = stripe_client.application.test_client()
        start.wait()
        statuses.append(client.post("/api/checkout/webhook", data=payload, content_type="application/json",
                                    headers={"Stripe-Signature": fake_stripe.sign(payload)}).status_code)

    senders = [threading.Thread(target=send) for _ in range(10)]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join()
    assert statuses == [200] * 10
    with workspace.unit_of_work() as uow:
        assert uow.payments.count(carol.id) == 1
        assert uow.billing_events.is_applied("evt_paid_once")


def test_a_late_update_never_revives_a_deleted_subscription(stripe_client: FlaskClient, fake_stripe: FakeStripe,
                                                            carol: Account) -> None:
    completed = buy(stripe_client, fake_stripe, carol)
    live = dict(fake_stripe.subscriptions[completed["subscription"]])
    ended = {**live, "status": "canceled", "ended_at": int(time.time())}
    fake_stripe.subscriptions[live["id"]] = ended
    now = int(time.time())
    assert deliver(stripe_client, fake_stripe, "customer.subscription.deleted", ended, created=now).status_code == 200
    assert subscription(stripe_client, carol)["status"] == "canceled"
    # the update made before the deletion arrives after it: older than what is stored, Stripe's object is read
    before = len(fake_stripe.calls_to("GET", f"/v1/subscriptions/{live['id']}"))
    assert deliver(stripe_client, fake_stripe, "customer.subscription.updated", live, created=now - 60
                   ).status_code == 200
    assert len(fake_stripe.calls_to("GET", f"/v1/subscriptions/{live['id']}")) == before + 1
    found = subscription(stripe_client, carol)
    assert (found["status"], found["effective_plan"], found["max_projects"]) == ("canceled", "free", 1)
    # an update of the same second as the deletion cannot revive it either
    assert deliver(stripe_client, fake_stripe, "customer.subscription.updated", live, created=now).status_code == 200
    assert subscription(stripe_client, carol)["status"] == "canceled"


def test_a_delivery_that_failed_half_way_is_applied_by_the_retry(stripe_client: FlaskClient, fake_stripe: FakeStripe,
                                                                 carol: Account, workspace: Workspace) -> None:
    completed = buy(stripe_client, fake_stripe, carol)
    invoice = {"id": "in_2", "object": "invoice", "customer": completed["customer"], "amount_paid": 3900,
               "currency": "usd", "subscription": completed["subscription"]}
    payload = fake_stripe.event("invoice.payment_failed", invoice, event_id="evt_retry")
    fake_stripe.subscriptions[completed["subscription"]]["status"] = "past_due"
    fake_stripe.fail_next.extend([500, 500, 500, 500])  # Stripe down while the event is applied: 502, nothing kept
    failed = stripe_client.post("/api/checkout/webhook", data=payload, content_type="application/json",
                                headers={"Stripe-Signature": fake_stripe.sign(payload)})
    assert failed.status_code == 502, failed.get_json()
    with workspace.unit_of_work() as uow:
        assert not uow.billing_events.is_applied("evt_retry")
    fake_stripe.fail_next.clear()
    retried = stripe_client.post("/api/checkout/webhook", data=payload, content_type="application/json",
                                 headers={"Stripe-Signature": fake_stripe.sign(payload)})
    assert retried.status_code == 200
    assert subscription(stripe_client, carol)["status"] == "past_due"


def test_fine_tunings_are_limited_and_a_failed_one_frees_its_slot(stripe_client: FlaskClient, carol: Account,
                                                                    workspace: Workspace, scripted: type[Script]
                                                                    ) -> None:
    project_id = dataset_project(stripe_client, carol, workspace)  # the free plan here: one project, one run
    scripted.fail_at = 2
    failed = stripe_client.post(f"/api/projects/{project_id}/train/start", json={"trainer": "scripted"},
                                headers=carol.headers)
    assert failed.status_code == 202, failed.get_json()
    scripted.fail_at = None
    done = stripe_client.post(f"/api/projects/{project_id}/train/start", json={"trainer": "scripted"},
                              headers=carol.headers)
    assert done.status_code == 202, done.get_json()  # the failed run held no slot
    refused = assert_error(stripe_client.post(f"/api/projects/{project_id}/train/start", json={"trainer": "scripted"},
                                              headers=carol.headers), 402, "PLAN_LIMIT_REACHED")
    assert refused["context"]["limit"] == "max_fine_tunings" and refused["context"]["used"] == 1
    assert subscription(stripe_client, carol)["usage"]["fine_tunings"] == 1
