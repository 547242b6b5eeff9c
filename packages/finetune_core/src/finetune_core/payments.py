"""What a payment gateway plugin provides (finetune-providers' `stripe`): checkout, the customer portal,
subscriptions and verified webhook events, in types owned by the core.

    gateway = payment_gateway(workspace)    # BillingNotConfiguredError when none is set up
    opened = gateway.create_checkout(CheckoutRequest(...))

A factory is registered with `finetune_register_payment_gateways` under a name; the setting `payment_gateway`
picks one (default `stripe`) and the factory builds it from the workspace's settings. The core never sees a
payment SDK: the plugin turns the provider's objects into the types below and its errors into
PaymentProviderError and WebhookSignatureError.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, Field

from finetune_core.errors import BillingNotConfiguredError, UnknownPluginError

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort
    from finetune_core.settings import Settings

WEBHOOK_TOLERANCE_S = 300  # a signed webhook older (or newer) than this is refused, as Stripe advises


class CheckoutRequest(BaseModel):
    """A subscription checkout for one user and one price; `idempotency_key` makes a double click one session."""

    user_id: str
    customer_email: str
    customer_id: str | None = None  # the provider's customer, once known: the new subscription joins it
    price_id: str
    plan: str
    billing_cycle: str
    success_url: str
    cancel_url: str
    promotion_code: str | None = None  # a code people type (crealia's affiliateCode), looked up by the gateway
    idempotency_key: str


class CheckoutInfo(BaseModel):
    """A checkout session as the provider reports it."""

    id: str
    url: str | None = None
    status: str | None = None  # open, complete, expired
    payment_status: str | None = None
    customer_email: str | None = None
    customer_id: str | None = None
    subscription_id: str | None = None
    amount_total: int | None = None
    currency: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


class SubscriptionState(BaseModel):
    """A provider subscription's state at `observed_at`."""

    id: str
    customer_id: str | None = None
    status: str
    price_id: str | None = None
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    cancel_at_period_end: bool = False
    metadata: dict[str, str] = Field(default_factory=dict)
    observed_at: datetime


class WebhookEvent(BaseModel):
    """A verified event: its id (applied once), type, creation time and the object it carries (a plain dict)."""

    id: str
    type: str
    created: datetime
    object: dict[str, Any] = Field(default_factory=dict)


class PaymentGateway(Protocol):
    def create_checkout(self, request: CheckoutRequest) -> CheckoutInfo: ...

    def checkout_session(self, session_id: str) -> CheckoutInfo: ...

    def portal_url(self, customer_id: str, return_url: str) -> str: ...

    def subscription(self, subscription_id: str) -> SubscriptionState: ...

    def subscription_from_event(self, event: WebhookEvent) -> SubscriptionState:
        """The subscription an event of type customer.subscription.* carries, as of the event's time."""
        ...

    def cancel_subscription(self, subscription_id: str) -> None:
        """Cancel at once; a subscription already cancelled (or unknown to the provider) is not an error."""
        ...

    def verify_event(self, payload: bytes, signature: str | None) -> WebhookEvent:
        """Check the signature on the raw body (WEBHOOK_TOLERANCE_S); WebhookSignatureError otherwise."""
        ...


class PaymentGatewayFactory(Protocol):
    name: str

    def configured(self, settings: Settings) -> bool:
        """Whether the settings hold what the gateway needs (its secret key)."""
        ...

    def create(self, settings: Settings) -> PaymentGateway: ...


def gateway_factory(workspace: WorkspacePort) -> PaymentGatewayFactory | None:
    """The factory the settings name; None when no plugin registered it."""
    name = workspace.settings.payment_gateway
    gateways = workspace.plugins.payment_gateways
    return gateways.get(name) if name in gateways else None


def billing_configured(workspace: WorkspacePort) -> bool:
    factory = gateway_factory(workspace)
    return factory is not None and factory.configured(workspace.settings)


def payment_gateway(workspace: WorkspacePort) -> PaymentGateway:
    """The configured gateway; BillingNotConfiguredError naming what to set when there is none."""
    factory = gateway_factory(workspace)
    name = workspace.settings.payment_gateway
    if factory is None and name == "stripe":
        raise BillingNotConfiguredError("billing needs the finetune-providers plugin (it provides the 'stripe' "
                                        "gateway)", gateway=name)
    if factory is None:
        raise UnknownPluginError(f"no payment gateway '{name}' is installed (finetune-providers provides 'stripe')",
                                 gateway=name)
    if not factory.configured(workspace.settings):
        raise BillingNotConfiguredError("billing is not set up: set FINETUNE_STRIPE_SECRET_KEY (and "
                                        "FINETUNE_STRIPE_WEBHOOK_SECRET for webhooks)", gateway=factory.name)
    return factory.create(workspace.settings)
