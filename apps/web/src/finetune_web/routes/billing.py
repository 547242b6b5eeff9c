"""Billing: the caller's subscription and limits, Stripe Checkout (fintune-platform's and crealia's routes), the
customer portal, and Stripe's webhooks (public: the signature is the authentication)."""

from __future__ import annotations

from finetune_core.services import billing, billing_webhooks, checkout
from flask import request
from flask.views import MethodView

from finetune_web.auth import public
from finetune_web.current import caller, workspace
from finetune_web.openapi import ApiBlueprint
from finetune_web.schemas.billing import (
    CheckoutCreate,
    CheckoutUrlOut,
    SessionInfoArgs,
    SessionInfoOut,
    SubscriptionOut,
    UrlOut,
    WebhookReceivedOut,
    WebhookStatusOut,
)
from finetune_web.schemas.bridge import schema_for

blp = ApiBlueprint("billing", __name__, url_prefix="/api",
                   description="Plans and limits, Stripe Checkout and portal, Stripe webhooks")

SIGNATURE_HEADER = "Stripe-Signature"


def _client_key() -> str | None:
    """The client's `Idempotency-Key`, if it sends one (else the service derives one)."""
    return request.headers.get("Idempotency-Key") or None


@blp.route("/users/me/subscription")
class MySubscription(MethodView):
    @blp.response(200, schema_for(SubscriptionOut))
    def get(self) -> SubscriptionOut:
        """The caller's plan, status and period, its limits, and what is used of them"""
        return SubscriptionOut.of(billing.subscription_view(workspace(), caller().user.id))


@blp.route("/checkout/create-checkout-session/<plan_id>")
class CheckoutForPlan(MethodView):
    @blp.response(200, schema_for(CheckoutUrlOut))
    def post(self, plan_id: str) -> CheckoutUrlOut:
        """Open a Stripe Checkout for a plan, billed monthly (400 unknown plan); one session per double click"""
        opened = checkout.create_checkout(workspace(), caller().user.id, plan_id, client_key=_client_key())
        return CheckoutUrlOut(checkout_url=opened.url or "")


@blp.route("/checkout/create-session")
class CheckoutSession(MethodView):
    @blp.arguments(schema_for(CheckoutCreate))
    @blp.response(200, schema_for(UrlOut))
    def post(self, body: CheckoutCreate) -> UrlOut:
        """crealia's checkout: `planId`, `billingCycle` (monthly, yearly), `affiliateCode` (a promotion code)"""
        opened = checkout.create_checkout(workspace(), caller().user.id, body.plan_id,
                                          billing_cycle=body.billing_cycle, promotion_code=body.affiliate_code,
                                          client_key=_client_key())
        return UrlOut(url=opened.url or "")


@blp.route("/checkout/session-info")
class CheckoutSessionInfo(MethodView):
    @blp.arguments(schema_for(SessionInfoArgs), location="query")
    @blp.response(200, schema_for(SessionInfoOut))
    def get(self, args: SessionInfoArgs) -> SessionInfoOut:
        """One of the caller's checkout sessions as Stripe reports it (404 for another's)"""
        stored, info = checkout.checkout_info(workspace(), caller().user.id, args.session_id)
        return SessionInfoOut.of(stored.plan, stored.billing_cycle, info)


@blp.route("/billing/portal")
class BillingPortal(MethodView):
    @blp.response(200, schema_for(UrlOut))
    def post(self) -> UrlOut:
        """Stripe's customer portal for the caller (400 before any purchase)"""
        return UrlOut(url=checkout.portal_url(workspace(), caller().user.id))


def _apply_webhook() -> str:
    return billing_webhooks.handle_webhook(workspace(), request.get_data(cache=False),
                                           request.headers.get(SIGNATURE_HEADER))


@blp.route("/checkout/webhook")
class CheckoutWebhook(MethodView):
    @public
    @blp.response(200, schema_for(WebhookStatusOut))
    def post(self) -> WebhookStatusOut:
        """Stripe's events (signed): each event id applied once; 400 for a bad signature or an old timestamp"""
        _apply_webhook()
        return WebhookStatusOut()


@blp.route("/stripe-webhook")
class StripeWebhook(MethodView):
    @public
    @blp.response(200, schema_for(WebhookReceivedOut))
    def post(self) -> WebhookReceivedOut:
        """crealia's webhook route: the same events, answered `{"received": true}`"""
        _apply_webhook()
        return WebhookReceivedOut()
