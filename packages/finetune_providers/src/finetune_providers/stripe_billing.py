"""The `stripe` payment gateway (finetune_core.payments), built on Stripe's official Python library.

    gateway = StripeGatewayFactory().create(settings)   # or finetune_core.payments.payment_gateway(workspace)
    opened = gateway.create_checkout(CheckoutRequest(...))

`stripe` is imported when a gateway is first built, not when the plugin loads. Every Stripe object is turned
into a plain dict (`to_dict()`) and read from there, so a retrieved subscription and one carried by a webhook
event go through the same code. Every `stripe.StripeError` becomes a PaymentProviderError whose message is
Stripe's user message with anything shaped like a key masked, and whose context holds Stripe's code.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from finetune_core.errors import (
    BillingNotConfiguredError,
    InvalidInputError,
    PaymentProviderError,
    WebhookSignatureError,
)
from finetune_core.payments import (
    WEBHOOK_TOLERANCE_S,
    CheckoutInfo,
    CheckoutRequest,
    SubscriptionState,
    WebhookEvent,
)

if TYPE_CHECKING:
    import stripe
    from finetune_core.settings import Settings
    from stripe.params import PromotionCodeListParams
    from stripe.params.billing_portal import SessionCreateParams as PortalSessionCreateParams
    from stripe.params.checkout import SessionCreateParams

MAX_NETWORK_RETRIES = 2  # the library retries connection errors, 409 and 5xx, reusing the idempotency key
_KEY_SHAPED = re.compile(r"\b(?:sk|rk|pk|whsec)_[A-Za-z0-9_*]+")  # Stripe already masks keys; we mask again
_clients: dict[tuple[str, str | None], stripe.StripeClient] = {}
_clients_lock = threading.Lock()


def _client(secret_key: str, api_base: str | None) -> stripe.StripeClient:
    """One StripeClient per key and base address: its HTTP client keeps a pooled session per thread."""
    import stripe

    with _clients_lock:
        client = _clients.get((secret_key, api_base))
        if client is None:
            if len(_clients) >= 16:  # keys rotated many times (or many test servers): start afresh
                _clients.clear()
            client = stripe.StripeClient(
                secret_key,
                base_addresses={"api": api_base} if api_base else None,
                max_network_retries=MAX_NETWORK_RETRIES,
            )
            _clients[(secret_key, api_base)] = client
        return client


class StripeGatewayFactory:
    """Registered as `stripe`: configured once FINETUNE_STRIPE_SECRET_KEY is set."""

    name = "stripe"

    def configured(self, settings: Settings) -> bool:
        return bool(settings.stripe_secret_key)

    def create(self, settings: Settings) -> StripeGateway:
        if not settings.stripe_secret_key:
            raise BillingNotConfiguredError("billing is not set up: set FINETUNE_STRIPE_SECRET_KEY", gateway=self.name)
        return StripeGateway(settings.stripe_secret_key, webhook_secret=settings.stripe_webhook_secret,
                             api_base=settings.stripe_api_base)


class StripeGateway:
    """finetune_core.payments.PaymentGateway over Stripe Checkout, the customer portal and Billing."""

    def __init__(self, secret_key: str, *, webhook_secret: str | None = None, api_base: str | None = None) -> None:
        self._secret_key = secret_key
        self._webhook_secret = webhook_secret
        self._client = _client(secret_key, api_base)

    def __repr__(self) -> str:
        return "StripeGateway()"  # never the keys

    # -- calls ------------------------------------------------------------------------------------------------

    @contextmanager
    def _calling(self, action: str) -> Iterator[None]:
        """Turn a Stripe error into PaymentProviderError (without chaining it: its repr may carry the body)."""
        import stripe

        try:
            yield
        except stripe.StripeError as error:
            raise _provider_error(error, action) from None

    def create_checkout(self, request: CheckoutRequest) -> CheckoutInfo:
        metadata = {"user_id": request.user_id, "plan": request.plan, "billing_cycle": request.billing_cycle}
        params: SessionCreateParams = {
            "mode": "subscription",
            "line_items": [{"price": request.price_id, "quantity": 1}],
            "client_reference_id": request.user_id,
            "metadata": metadata,
            "subscription_data": {"metadata": dict(metadata)},
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
        }
        if request.customer_id:
            params["customer"] = request.customer_id
        else:
            params["customer_email"] = request.customer_email
        code = (request.promotion_code or "").strip()
        if code:
            params["discounts"] = [{"promotion_code": self._promotion_code_id(code)}]
        with self._calling("open a checkout session"):
            session = self._client.v1.checkout.sessions.create(
                params, options={"idempotency_key": request.idempotency_key})
        return checkout_info(session.to_dict(for_json=True))

    def _promotion_code_id(self, code: str) -> str:
        """The active promotion code people type, as Stripe's `promo_...` id; INVALID_PROMOTION_CODE otherwise."""
        params: PromotionCodeListParams = {"code": code, "active": True, "limit": 1}
        with self._calling("look up a promotion code"):
            found = self._client.v1.promotion_codes.list(params=params)
        if not found.data:
            raise InvalidInputError(f"the promotion code '{code}' does not exist or is no longer active",
                                    error_code="INVALID_PROMOTION_CODE", promotion_code=code)
        return found.data[0].id

    def checkout_session(self, session_id: str) -> CheckoutInfo:
        with self._calling("read a checkout session"):
            session = self._client.v1.checkout.sessions.retrieve(session_id)
        return checkout_info(session.to_dict(for_json=True))

    def portal_url(self, customer_id: str, return_url: str) -> str:
        params: PortalSessionCreateParams = {"customer": customer_id, "return_url": return_url}
        with self._calling("open the customer portal"):
            session = self._client.v1.billing_portal.sessions.create(params)
        return session.url

    def subscription(self, subscription_id: str) -> SubscriptionState:
        with self._calling("read a subscription"):
            found = self._client.v1.subscriptions.retrieve(subscription_id)
        return subscription_state(found.to_dict(for_json=True), observed_at=datetime.now(UTC))

    def subscription_from_event(self, event: WebhookEvent) -> SubscriptionState:
        if event.object.get("object") != "subscription":
            raise InvalidInputError(f"event {event.id} ({event.type}) carries a {event.object.get('object')!r}, "
                                    "not a subscription", event_id=event.id, event_type=event.type)
        return subscription_state(event.object, observed_at=event.created)

    def cancel_subscription(self, subscription_id: str) -> None:
        try:
            with self._calling("cancel a subscription"):
                self._client.v1.subscriptions.cancel(subscription_id)
        except PaymentProviderError as error:
            # Stripe answers 404 resource_missing for a subscription cancelled already (or never known)
            if error.context.get("stripe_code") != "resource_missing":
                raise

    # -- webhooks ---------------------------------------------------------------------------------------------

    def verify_event(self, payload: bytes, signature: str | None) -> WebhookEvent:
        import stripe

        if not self._webhook_secret:
            raise BillingNotConfiguredError("webhooks are not set up: set FINETUNE_STRIPE_WEBHOOK_SECRET",
                                            gateway="stripe")
        if not signature:
            raise WebhookSignatureError("the webhook has no Stripe-Signature header")
        try:
            event = self._client.construct_event(payload, signature, self._webhook_secret,
                                                 tolerance=WEBHOOK_TOLERANCE_S)
            values = event.to_dict(for_json=True)
        except stripe.SignatureVerificationError as error:
            raise WebhookSignatureError(f"the webhook's signature does not verify: {error.user_message}") from None
        except (ValueError, TypeError, KeyError, AttributeError):  # not JSON, not UTF-8, not an event
            raise WebhookSignatureError("the webhook's body is not a Stripe event") from None
        # the library refuses old timestamps only; the port refuses those too far ahead as well
        if _signed_at(signature) > time.time() + WEBHOOK_TOLERANCE_S:
            raise WebhookSignatureError("the webhook's timestamp is in the future beyond the tolerance")
        return _webhook_event(values)


# -- conversions (plain dicts, as `to_dict()` or a webhook gives them) --------------------------------------


def checkout_info(session: Mapping[str, Any]) -> CheckoutInfo:
    details = session.get("customer_details") or {}
    return CheckoutInfo(
        id=session["id"],
        url=session.get("url"),
        status=session.get("status"),
        payment_status=session.get("payment_status"),
        customer_email=session.get("customer_email") or details.get("email"),
        customer_id=_id_of(session.get("customer")),
        subscription_id=_id_of(session.get("subscription")),
        amount_total=session.get("amount_total"),
        currency=session.get("currency"),
        metadata=_metadata(session.get("metadata")),
    )


def subscription_state(subscription: Mapping[str, Any], *, observed_at: datetime) -> SubscriptionState:
    """Since API version 2025-03-31 the current period lives on each item: read the subscription, then item 0."""
    items = (subscription.get("items") or {}).get("data") or []
    first: Mapping[str, Any] = items[0] if items else {}
    price = first.get("price") or first.get("plan")  # `plan` on subscriptions made before Prices

    def period(name: str) -> datetime | None:
        value = subscription.get(name)
        if value is None:
            value = first.get(name)
        return None if value is None else datetime.fromtimestamp(int(value), UTC)

    return SubscriptionState(
        id=subscription["id"],
        customer_id=_id_of(subscription.get("customer")),
        status=subscription["status"],
        price_id=_id_of(price),
        current_period_start=period("current_period_start"),
        current_period_end=period("current_period_end"),
        cancel_at_period_end=bool(subscription.get("cancel_at_period_end")),
        metadata=_metadata(subscription.get("metadata")),
        observed_at=observed_at,
    )


def _webhook_event(values: Mapping[str, Any]) -> WebhookEvent:
    data = values.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not (isinstance(values.get("id"), str) and isinstance(values.get("type"), str)
            and isinstance(values.get("created"), int) and isinstance(obj, Mapping)):
        raise WebhookSignatureError("the webhook's body is not a Stripe event (id, type, created, data.object)")
    return WebhookEvent(id=values["id"], type=values["type"], created=datetime.fromtimestamp(values["created"], UTC),
                        object=dict(obj))


def _signed_at(signature: str) -> int:
    """The `t=` of a Stripe-Signature header the library has accepted already."""
    for part in signature.split(","):
        name, _, value = part.partition("=")
        if name.strip() == "t":
            return int(value)
    return 0  # pragma: no cover - the library refuses a header without one


def _id_of(value: Any) -> str | None:
    """An id, whether Stripe sent it as a string or as the expanded object."""
    if isinstance(value, Mapping):
        found = value.get("id")
        return found if isinstance(found, str) else None
    return value if isinstance(value, str) else None


def _metadata(value: Any) -> dict[str, str]:
    return {str(key): str(item) for key, item in value.items()} if isinstance(value, Mapping) else {}


def _provider_error(error: stripe.StripeError, action: str) -> PaymentProviderError:
    import stripe

    reason = " ".join(_KEY_SHAPED.sub("[redacted]", error.user_message or type(error).__name__).split())
    if isinstance(error, stripe.APIConnectionError):
        message = f"Stripe could not be reached to {action}: {reason}"
    else:
        message = f"Stripe refused to {action}: {reason}"
    context: dict[str, Any] = {"provider": "stripe", "stripe_code": error.code, "stripe_status": error.http_status}
    decline_code = getattr(error.error, "decline_code", None) if error.error is not None else None
    if decline_code:
        context["decline_code"] = decline_code
    if error.request_id:
        context["stripe_request_id"] = error.request_id
    return PaymentProviderError(message, **context)
