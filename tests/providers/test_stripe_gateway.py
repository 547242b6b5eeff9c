"""The `stripe` payment gateway through the plugin registry, against a fake Stripe API on 127.0.0.1.

The official `stripe` library talks to kits.fake_stripe over HTTP (form-encoded bodies, JSON answers), so
what is checked here is what Stripe would receive and how its answers and errors come back in the core's types.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from finetune_core import Workspace
from finetune_core.errors import (
    BillingNotConfiguredError,
    InvalidInputError,
    PaymentProviderError,
    WebhookSignatureError,
)
from finetune_core.payments import (
    WEBHOOK_TOLERANCE_S,
    CheckoutRequest,
    PaymentGateway,
    billing_configured,
    payment_gateway,
)
from finetune_core.testing import open_test_workspace
from kits.fake_stripe import FakeStripe

SESSIONS = "/v1/checkout/sessions"


@pytest.fixture(autouse=True)
def _no_stripe_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FINETUNE_STRIPE_SECRET_KEY", "FINETUNE_STRIPE_WEBHOOK_SECRET", "FINETUNE_STRIPE_API_BASE",
                 "FINETUNE_PAYMENT_GATEWAY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def open_workspace(tmp_path: Path) -> Iterator[Any]:
    opened: list[Workspace] = []

    def open_one(**settings: Any) -> Workspace:
        workspace = open_test_workspace(tmp_path / f"workspace-{len(opened)}", **settings)
        opened.append(workspace)
        return workspace

    yield open_one
    for workspace in opened:
        workspace.close()


@pytest.fixture
def gateway(fake_stripe: FakeStripe, open_workspace: Any) -> PaymentGateway:
    return payment_gateway(open_workspace(**fake_stripe.settings()))


def checkout_request(**overrides: Any) -> CheckoutRequest:
    values: dict[str, Any] = {
        "user_id": "user-1", "customer_email": "ada@example.com", "price_id": "price_pro_monthly", "plan": "pro",
        "billing_cycle": "monthly", "success_url": "https://app.example/billing/success?session={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://app.example/billing", "idempotency_key": "checkout-user-1-attempt-1",
    }
    return CheckoutRequest(**{**values, **overrides})


# -- the registry ----------------------------------------------------------------------------------------------


def test_the_providers_plugin_registers_the_stripe_gateway(fake_stripe: FakeStripe, open_workspace: Any) -> None:
    workspace = open_workspace(**fake_stripe.settings())
    assert workspace.plugins.payment_gateways.owner("stripe") == "providers"
    assert billing_configured(workspace)


def test_without_a_secret_key_billing_is_not_configured(open_workspace: Any) -> None:
    workspace = open_workspace()
    assert not billing_configured(workspace)
    with pytest.raises(BillingNotConfiguredError):
        payment_gateway(workspace)


# -- checkout --------------------------------------------------------------------------------------------------


def test_a_checkout_opens_a_subscription_session_for_the_email(fake_stripe: FakeStripe,
                                                                gateway: PaymentGateway) -> None:
    opened = gateway.create_checkout(checkout_request())

    assert opened.id in fake_stripe.checkout_sessions
    assert opened.url == fake_stripe.checkout_sessions[opened.id]["url"]
    assert opened.url is not None and opened.url.startswith(fake_stripe.url)
    assert (opened.status, opened.payment_status) == ("open", "unpaid")
    [sent] = fake_stripe.calls_to("POST", SESSIONS)
    metadata = {"user_id": "user-1", "plan": "pro", "billing_cycle": "monthly"}
    assert sent == {
        "mode": "subscription",
        "line_items": [{"price": "price_pro_monthly", "quantity": "1"}],
        "customer_email": "ada@example.com",
        "client_reference_id": "user-1",
        "metadata": metadata,
        "subscription_data": {"metadata": metadata},
        "success_url": "https://app.example/billing/success?session={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://app.example/billing",
    }
    method, path, headers = fake_stripe.requests[-1]
    assert (method, path) == ("POST", SESSIONS)
    assert headers["authorization"] == f"Bearer {fake_stripe.secret_key}"
    assert headers["idempotency-key"] == "checkout-user-1-attempt-1"
    assert opened.metadata == metadata


def test_a_known_customer_joins_the_checkout_instead_of_the_email(fake_stripe: FakeStripe,
                                                                   gateway: PaymentGateway) -> None:
    customer = fake_stripe.add_customer(email="ada@example.com")

    opened = gateway.create_checkout(checkout_request(customer_id=customer["id"]))

    [sent] = fake_stripe.calls_to("POST", SESSIONS)
    assert sent["customer"] == customer["id"]
    assert "customer_email" not in sent
    assert opened.customer_id == customer["id"]


def test_the_same_idempotency_key_twice_opens_one_session(fake_stripe: FakeStripe, gateway: PaymentGateway) -> None:
    first = gateway.create_checkout(checkout_request())
    second = gateway.create_checkout(checkout_request())
    other = gateway.create_checkout(checkout_request(idempotency_key="checkout-user-1-attempt-2"))

    assert second.id == first.id
    assert other.id != first.id
    assert len(fake_stripe.checkout_sessions) == 2
    assert len(fake_stripe.calls_to("POST", SESSIONS)) == 3


def test_a_promotion_code_is_looked_up_and_sent_as_a_discount(fake_stripe: FakeStripe,
                                                               gateway: PaymentGateway) -> None:
    fake_stripe.promotion_codes["WELCOME10"] = "promo_welcome10"

    opened = gateway.create_checkout(checkout_request(promotion_code=" welcome10 "))

    assert fake_stripe.calls_to("GET", "/v1/promotion_codes") == [{"code": "welcome10", "active": "true",
                                                                     "limit": "1"}]
    [sent] = fake_stripe.calls_to("POST", SESSIONS)
    assert sent["discounts"] == [{"promotion_code": "promo_welcome10"}]
    assert fake_stripe.checkout_sessions[opened.id]["discounts"][0]["promotion_code"] == "promo_welcome10"


def test_an_unknown_promotion_code_is_refused_before_any_session(fake_stripe: FakeStripe,
                                                                  gateway: PaymentGateway) -> None:
    with pytest.raises(InvalidInputError) as raised:
        gateway.create_checkout(checkout_request(promotion_code="NOPE"))

    assert raised.value.error_code == "INVALID_PROMOTION_CODE"
    assert raised.value.context["promotion_code"] == "NOPE"
    assert fake_stripe.calls_to("POST", SESSIONS) == []


def test_a_paid_checkout_reads_back_complete_with_its_customer_and_subscription(
        fake_stripe: FakeStripe, gateway: PaymentGateway) -> None:
    fake_stripe.prices["price_pro_monthly"] = {"unit_amount": 1900, "currency": "eur"}
    opened = gateway.create_checkout(checkout_request())
    assert gateway.checkout_session(opened.id).status == "open"

    fake_stripe.complete_checkout(opened.id)
    read = gateway.checkout_session(opened.id)

    assert (read.status, read.payment_status) == ("complete", "paid")
    assert read.customer_id in fake_stripe.customers
    assert read.subscription_id in fake_stripe.subscriptions
    assert (read.amount_total, read.currency) == (1900, "eur")
    assert read.customer_email == "ada@example.com"
    subscription = gateway.subscription(read.subscription_id or "")
    assert subscription.metadata == {"user_id": "user-1", "plan": "pro", "billing_cycle": "monthly"}
    assert subscription.price_id == "price_pro_monthly"


def test_an_unknown_checkout_session_is_a_provider_error(gateway: PaymentGateway) -> None:
    with pytest.raises(PaymentProviderError) as raised:
        gateway.checkout_session("cs_test_missing")
    assert raised.value.context["stripe_code"] == "resource_missing"
    assert raised.value.context["stripe_status"] == 404


# -- portal and subscriptions ----------------------------------------------------------------------------------


def test_the_portal_url_is_stripe_s_session_url(fake_stripe: FakeStripe, gateway: PaymentGateway) -> None:
    customer = fake_stripe.add_customer(email="ada@example.com")

    url = gateway.portal_url(customer["id"], "https://app.example/billing")

    [session] = fake_stripe.portal_sessions.values()
    assert url == session["url"]
    assert (session["customer"], session["return_url"]) == (customer["id"], "https://app.example/billing")


def test_a_subscription_reads_its_price_and_period_from_its_first_item(fake_stripe: FakeStripe,
                                                                       gateway: PaymentGateway) -> None:
    made = fake_stripe.add_subscription(customer="cus_ada", price="price_pro_yearly", metadata={"plan": "pro"},
                                        period_days=365)
    item = made["items"]["data"][0]
    before = datetime.now(UTC)

    state = gateway.subscription(made["id"])

    assert (state.id, state.status, state.customer_id, state.price_id) == (made["id"], "active", "cus_ada",
                                                                            "price_pro_yearly")
    assert state.current_period_start == datetime.fromtimestamp(item["current_period_start"], UTC)
    assert state.current_period_end == datetime.fromtimestamp(item["current_period_end"], UTC)
    assert state.current_period_end - state.current_period_start == timedelta(days=365)
    assert state.metadata == {"plan": "pro"}
    assert not state.cancel_at_period_end
    assert before <= state.observed_at <= datetime.now(UTC)


def test_cancelling_twice_or_an_unknown_subscription_is_fine(fake_stripe: FakeStripe,
                                                              gateway: PaymentGateway) -> None:
    made = fake_stripe.add_subscription(customer="cus_ada", price="price_pro_monthly")

    gateway.cancel_subscription(made["id"])
    gateway.cancel_subscription(made["id"])
    gateway.cancel_subscription("sub_unknown")

    assert fake_stripe.subscriptions[made["id"]]["status"] == "canceled"
    assert gateway.subscription(made["id"]).status == "canceled"
    deletes = [path for method, path, _ in fake_stripe.requests if method == "DELETE"]
    assert deletes == [f"/v1/subscriptions/{made['id']}"] * 2 + ["/v1/subscriptions/sub_unknown"]


# -- errors ----------------------------------------------------------------------------------------------------


def test_a_stripe_500_is_retried_with_the_same_idempotency_key(fake_stripe: FakeStripe,
                                                                gateway: PaymentGateway) -> None:
    fake_stripe.fail_next.append(500)

    opened = gateway.create_checkout(checkout_request())

    keys = [headers.get("idempotency-key") for method, path, headers in fake_stripe.requests
            if (method, path) == ("POST", SESSIONS)]
    assert keys == ["checkout-user-1-attempt-1"] * 2
    assert list(fake_stripe.checkout_sessions) == [opened.id]


def test_a_card_error_is_a_provider_error_with_stripe_s_code(fake_stripe: FakeStripe,
                                                              gateway: PaymentGateway) -> None:
    fake_stripe.fail_next.append(402)

    with pytest.raises(PaymentProviderError) as raised:
        gateway.create_checkout(checkout_request())

    error = raised.value
    assert "Your card was declined." in str(error)
    assert error.context["stripe_code"] == "card_declined"
    assert error.context["decline_code"] == "generic_decline"
    assert fake_stripe.secret_key not in str(error) + repr(error) + json.dumps(error.context)


def test_a_wrong_secret_key_never_shows_in_the_error(fake_stripe: FakeStripe, open_workspace: Any) -> None:
    wrong = "sk_test_" + "x" * 24 + "tail"
    gateway = payment_gateway(open_workspace(**{**fake_stripe.settings(), "stripe_secret_key": wrong}))

    with pytest.raises(PaymentProviderError) as raised:
        gateway.subscription("sub_any")

    error = raised.value
    assert error.context["stripe_status"] == 401
    assert fake_stripe.requests[-1][2]["authorization"] == f"Bearer {wrong}"  # the fake saw it, the error does not
    for text in (str(error), repr(error), json.dumps(error.context)):
        assert wrong not in text
        assert "tail" not in text


# -- webhooks --------------------------------------------------------------------------------------------------


def test_a_signed_event_verifies_and_carries_a_subscription(fake_stripe: FakeStripe,
                                                            gateway: PaymentGateway) -> None:
    made = fake_stripe.add_subscription(customer="cus_ada", price="price_pro_monthly", metadata={"user_id": "u1"})
    created = int(time.time()) - 60
    payload = fake_stripe.event("customer.subscription.updated", made, created=created, event_id="evt_1")

    event = gateway.verify_event(payload, fake_stripe.sign(payload))

    assert (event.id, event.type) == ("evt_1", "customer.subscription.updated")
    assert event.created == datetime.fromtimestamp(created, UTC)
    assert event.object == json.loads(json.dumps(made))
    state = gateway.subscription_from_event(event)
    assert (state.id, state.customer_id, state.price_id) == (made["id"], "cus_ada", "price_pro_monthly")
    assert state.metadata == {"user_id": "u1"}
    assert state.observed_at == event.created
    assert state.current_period_end == datetime.fromtimestamp(made["items"]["data"][0]["current_period_end"], UTC)


def test_periods_on_the_subscription_itself_come_first(fake_stripe: FakeStripe, gateway: PaymentGateway) -> None:
    made = fake_stripe.add_subscription(customer="cus_ada", price="price_pro_monthly")
    older_api = {**made, "current_period_start": 1_700_000_000, "current_period_end": 1_702_592_000}
    payload = fake_stripe.event("customer.subscription.created", older_api)

    state = gateway.subscription_from_event(gateway.verify_event(payload, fake_stripe.sign(payload)))

    assert state.current_period_start == datetime.fromtimestamp(1_700_000_000, UTC)
    assert state.current_period_end == datetime.fromtimestamp(1_702_592_000, UTC)


def test_an_event_without_a_subscription_is_refused_as_one(fake_stripe: FakeStripe, gateway: PaymentGateway) -> None:
    opened = gateway.create_checkout(checkout_request())
    payload = fake_stripe.event("checkout.session.completed", fake_stripe.complete_checkout(opened.id))
    event = gateway.verify_event(payload, fake_stripe.sign(payload))
    assert event.object["id"] == opened.id

    with pytest.raises(InvalidInputError):
        gateway.subscription_from_event(event)


@pytest.mark.parametrize("case", ["wrong secret", "too old", "too far ahead", "tampered", "no signature",
                                  "not json", "not an event"])
def test_a_webhook_that_does_not_verify_is_refused(case: str, fake_stripe: FakeStripe,
                                                   gateway: PaymentGateway) -> None:
    payload = fake_stripe.event("customer.subscription.deleted", {"id": "sub_1", "object": "subscription"})
    now = int(time.time())
    signature: str | None = fake_stripe.sign(payload)
    if case == "wrong secret":
        signature = fake_stripe.sign(payload, secret="whsec_other")
    elif case == "too old":
        signature = fake_stripe.sign(payload, timestamp=now - WEBHOOK_TOLERANCE_S - 1)
    elif case == "too far ahead":
        signature = fake_stripe.sign(payload, timestamp=now + WEBHOOK_TOLERANCE_S + 60)
    elif case == "tampered":
        payload = payload.replace(b"sub_1", b"sub_2")
    elif case == "no signature":
        signature = None
    elif case == "not json":
        payload = b"not json"
        signature = fake_stripe.sign(payload)
    elif case == "not an event":
        payload = b'{"id": "evt_1", "object": "event"}'
        signature = fake_stripe.sign(payload)

    with pytest.raises(WebhookSignatureError):
        gateway.verify_event(payload, signature)


def test_a_recent_enough_signature_verifies(fake_stripe: FakeStripe, gateway: PaymentGateway) -> None:
    payload = fake_stripe.event("customer.subscription.deleted", {"id": "sub_1", "object": "subscription"})
    signature = fake_stripe.sign(payload, timestamp=int(time.time()) - WEBHOOK_TOLERANCE_S + 10)
    assert gateway.verify_event(payload, signature).object["id"] == "sub_1"


def test_webhooks_need_the_webhook_secret(fake_stripe: FakeStripe, open_workspace: Any) -> None:
    settings = {**fake_stripe.settings(), "stripe_webhook_secret": None}
    gateway = payment_gateway(open_workspace(**settings))
    payload = fake_stripe.event("customer.subscription.deleted", {"id": "sub_1", "object": "subscription"})

    with pytest.raises(BillingNotConfiguredError):
        gateway.verify_event(payload, fake_stripe.sign(payload))


# -- the fake itself, as Stripe behaves ------------------------------------------------------------------------


def _post(fake: FakeStripe, body: bytes, *, key: str | None, idempotency_key: str) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Idempotency-Key": idempotency_key}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(fake.url + SESSIONS, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_fake_wants_the_secret_key_and_one_set_of_parameters_per_idempotency_key(fake_stripe: FakeStripe) -> None:
    body = b"mode=subscription&success_url=https%3A%2F%2Fa.example&line_items[0][price]=price_1"

    assert _post(fake_stripe, body, key=None, idempotency_key="k1")[0] == 401
    assert _post(fake_stripe, body, key="sk_test_wrong", idempotency_key="k1")[0] == 401
    status, first = _post(fake_stripe, body, key=fake_stripe.secret_key, idempotency_key="k1")
    assert (status, first["object"]) == (200, "checkout.session")
    assert _post(fake_stripe, body, key=fake_stripe.secret_key, idempotency_key="k1") == (200, first)
    status, refused = _post(fake_stripe, body + b"&customer_email=b%40example.com", key=fake_stripe.secret_key,
                            idempotency_key="k1")
    assert (status, refused["error"]["type"]) == (400, "idempotency_error")
    status, missing = _post(fake_stripe, b"mode=subscription", key=fake_stripe.secret_key, idempotency_key="k2")
    assert (status, missing["error"]["code"], missing["error"]["param"]) == (400, "parameter_missing", "success_url")
    assert list(fake_stripe.checkout_sessions) == [first["id"]]
