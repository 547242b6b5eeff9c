"""A fake Stripe API on 127.0.0.1 speaking Stripe's wire format, for the calls the `stripe` gateway makes.

    with serve_stripe() as stripe:
        workspace = open_test_workspace(root, **stripe.settings())
        opened = payment_gateway(workspace).create_checkout(request)
        session = stripe.complete_checkout(opened.id)             # what Stripe does once the buyer pays
        payload = stripe.event("checkout.session.completed", session)
        event = payment_gateway(workspace).verify_event(payload, stripe.sign(payload))

Routes: POST /v1/checkout/sessions, GET /v1/checkout/sessions/{id}, POST /v1/billing_portal/sessions,
GET and DELETE /v1/subscriptions/{id}, GET /v1/promotion_codes. Bodies are form-encoded with Stripe's bracket
notation (`line_items[0][price]`), answers are JSON objects with an `object` field, and errors are
`{"error": {"type", "code", "message", "param"}}` with Stripe's status (400, 401, 402, 404, 500...).

Like Stripe, it checks `Authorization: Bearer <secret key>` (401 otherwise) and honours `Idempotency-Key`
on POST: the same key answers the stored response again (header `Idempotent-Replayed: true`) and creates
nothing, and the same key with other parameters is a 400 idempotency_error. Only successful answers are
stored; the failures `fail_next` injects are not, so the library's retry with the same key goes through.

Objects follow the API version the library pins (2026-10-28): a subscription's current period lives on its
items, not on the subscription. The objects in the dicts below are the ones served: a test may change them.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from kits.local_server import serving

API_VERSION = "2026-10-28.endive"  # what stripe 16.1.0 sends as Stripe-Version
DAY_S = 86_400

_ERRORS: dict[int, tuple[str, str | None, str]] = {  # status -> (type, code, message) of an injected failure
    400: ("invalid_request_error", "parameter_invalid_empty", "Invalid request (injected by the test)."),
    401: ("invalid_request_error", None, "Invalid API Key provided: sk_test_****fake"),
    402: ("card_error", "card_declined", "Your card was declined."),
    403: ("invalid_request_error", "secret_key_required", "The provided key does not have the required permissions."),
    404: ("invalid_request_error", "resource_missing", "No such object (injected by the test)."),
    409: ("invalid_request_error", "lock_timeout", "This object cannot be accessed right now because another API "
          "request or Stripe process is currently accessing it."),
    429: ("invalid_request_error", "rate_limit", "Too many requests hit the API too quickly."),
}


class StripeApiError(Exception):
    """An error answer: HTTP status and Stripe's error object."""

    def __init__(self, status: int, type_: str, message: str, *, code: str | None = None,
                 param: str | None = None, decline_code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"type": type_, "message": message}
        if code is not None:
            self.body["code"] = code
            self.body["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
        if param is not None:
            self.body["param"] = param
        if decline_code is not None:
            self.body["decline_code"] = decline_code


def _missing(kind: str, object_id: str, param: str = "id") -> StripeApiError:
    return StripeApiError(404 if param == "id" else 400, "invalid_request_error", f"No such {kind}: '{object_id}'",
                          code="resource_missing", param=param)


def _required(param: str) -> StripeApiError:
    return StripeApiError(400, "invalid_request_error", f"Missing required param: {param}.",
                          code="parameter_missing", param=param)


def decode_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's bracket notation as nested values: `a[0][b]=x&m[k]=v` -> {"a": [{"b": "x"}], "m": {"k": "v"}}."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        parts = [head, *re.findall(r"([^\[\]]*)\]", "[" + rest)] if rest else [head]
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    decoded: dict[str, Any] = _lists(root)
    return decoded


def _lists(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    converted = {key: _lists(item) for key, item in value.items()}
    if converted and all(key.isdigit() for key in converted) and sorted(map(int, converted)) == list(
            range(len(converted))):
        return [converted[str(index)] for index in range(len(converted))]
    return converted


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


@dataclass
class FakeStripe:
    """The fake's state; the server thread and the test share it (under `lock`)."""

    url: str = ""  # http://127.0.0.1:PORT, set by serve_stripe
    secret_key: str = field(default_factory=lambda: "sk_test_" + secrets.token_hex(16))
    webhook_secret: str = field(default_factory=lambda: "whsec_" + secrets.token_hex(16))
    checkout_sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    portal_sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    promotion_codes: dict[str, str] = field(default_factory=dict)  # typed code -> promo_... id; tests add entries
    prices: dict[str, dict[str, Any]] = field(default_factory=dict)  # price id -> {"unit_amount", "currency"}
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)  # (method, path, headers)
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (method, path, decoded params)
    fail_next: list[int] = field(default_factory=list)  # statuses answering the next calls, popped in order
    lock: threading.RLock = field(default_factory=threading.RLock)
    _idempotent: dict[str, tuple[tuple[str, str, dict[str, Any]], int, bytes]] = field(default_factory=dict)
    _checkout_params: dict[str, dict[str, Any]] = field(default_factory=dict)  # session id -> its create params

    def settings(self) -> dict[str, str]:
        """Workspace settings pointing the `stripe` gateway here."""
        return {"stripe_secret_key": self.secret_key, "stripe_webhook_secret": self.webhook_secret,
                "stripe_api_base": self.url}

    def calls_to(self, method: str, path: str) -> list[dict[str, Any]]:
        """The decoded parameters of every call to `method path` (query for GET/DELETE, body for POST)."""
        with self.lock:
            return [params for (m, p, params) in self.calls if m == method and p == path]

    # -- what Stripe does on its own ----------------------------------------------------------------------------

    def add_customer(self, *, email: str | None = None, customer_id: str | None = None) -> dict[str, Any]:
        with self.lock:
            customer_id = customer_id or _new_id("cus")
            customer = self.customers.setdefault(customer_id, {
                "id": customer_id, "object": "customer", "email": email, "created": int(time.time()),
                "livemode": False, "metadata": {},
            })
            return customer

    def add_subscription(self, *, customer: str, price: str, status: str = "active",
                         metadata: dict[str, str] | None = None, period_days: int = 30) -> dict[str, Any]:
        """A subscription of `customer` (created if unknown) to `price`, its period starting now."""
        with self.lock:
            self.add_customer(customer_id=customer)
            now = int(time.time())
            subscription_id = _new_id("sub")
            item: dict[str, Any] = {
                "id": _new_id("si"), "object": "subscription_item", "created": now, "quantity": 1,
                "subscription": subscription_id, "price": self._price(price), "metadata": {},
                "current_period_start": now, "current_period_end": now + period_days * DAY_S,
            }
            subscription = {
                "id": subscription_id, "object": "subscription", "status": status, "customer": customer,
                "created": now, "start_date": now, "billing_cycle_anchor": now, "livemode": False,
                "cancel_at_period_end": False, "cancel_at": None, "canceled_at": None, "ended_at": None,
                "currency": item["price"]["currency"], "collection_method": "charge_automatically",
                "metadata": dict(metadata or {}), "latest_invoice": None, "discounts": [],
                "items": {"object": "list", "data": [item], "has_more": False, "total_count": 1,
                          "url": f"/v1/subscription_items?subscription={subscription_id}"},
            }
            self.subscriptions[subscription_id] = subscription
            return subscription

    def complete_checkout(self, session_id: str) -> dict[str, Any]:
        """The buyer paid: a customer (unless the session named one) and a subscription to the session's price,
        with its subscription_data metadata; the session becomes complete and paid. Returns the session."""
        with self.lock:
            session = self.checkout_sessions[session_id]
            if session["status"] != "open":
                raise ValueError(f"checkout session {session_id} is {session['status']}, not open")
            params = self._checkout_params[session_id]
            customer_id = session["customer"] or self.add_customer(email=session["customer_email"])["id"]
            email = self.customers[customer_id].get("email") or session["customer_email"]
            subscription = self.add_subscription(
                customer=customer_id, price=params["line_items"][0]["price"],
                metadata=(params.get("subscription_data") or {}).get("metadata") or {})
            subscription["discounts"] = [discount["promotion_code"] for discount in session["discounts"]]
            session.update(status="complete", payment_status="paid", customer=customer_id,
                           subscription=subscription["id"],
                           customer_details={"email": email, "name": None, "address": None, "phone": None})
            return session

    def event(self, type: str, obj: dict[str, Any], *, created: int | None = None,
              event_id: str | None = None) -> bytes:
        """The JSON body of a webhook delivering `obj` in an event of `type`."""
        return json.dumps({
            "id": event_id or _new_id("evt"), "object": "event", "api_version": API_VERSION,
            "created": int(time.time()) if created is None else created, "type": type, "livemode": False,
            "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None},
            "data": {"object": copy.deepcopy(obj)},
        }).encode()

    def sign(self, payload: bytes, *, timestamp: int | None = None, secret: str | None = None) -> str:
        """The Stripe-Signature header for `payload`: `t=<timestamp>,v1=<HMAC-SHA256 of "t.payload">`."""
        signed_at = int(time.time()) if timestamp is None else timestamp
        digest = hmac.new((secret or self.webhook_secret).encode(), f"{signed_at}.".encode() + payload,
                          hashlib.sha256).hexdigest()
        return f"t={signed_at},v1={digest}"

    # -- the API ------------------------------------------------------------------------------------------------

    def _price(self, price_id: str) -> dict[str, Any]:
        known = self.prices.get(price_id, {})
        return {"id": price_id, "object": "price", "active": True, "type": "recurring",
                "unit_amount": known.get("unit_amount", 1000), "currency": known.get("currency", "usd"),
                "recurring": {"interval": known.get("interval", "month"), "interval_count": 1}}

    def handle(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        """Answer one authenticated call (raises StripeApiError)."""
        parts = path.strip("/").split("/")
        match method, parts:
            case "POST", ["v1", "checkout", "sessions"]:
                return self._create_checkout(params)
            case "GET", ["v1", "checkout", "sessions", session_id]:
                if session_id not in self.checkout_sessions:
                    raise _missing("checkout.session", session_id)
                return self.checkout_sessions[session_id]
            case "POST", ["v1", "billing_portal", "sessions"]:
                return self._create_portal_session(params)
            case "GET", ["v1", "subscriptions", subscription_id]:
                if subscription_id not in self.subscriptions:
                    raise _missing("subscription", subscription_id)
                return self.subscriptions[subscription_id]
            case "DELETE", ["v1", "subscriptions", subscription_id]:
                subscription = self.subscriptions.get(subscription_id)
                if subscription is None or subscription["status"] == "canceled":  # Stripe: as if it were gone
                    raise _missing("subscription", subscription_id)
                now = int(time.time())
                subscription.update(status="canceled", canceled_at=now, ended_at=now, cancel_at_period_end=False)
                return subscription
            case "GET", ["v1", "promotion_codes"]:
                return self._list_promotion_codes(params)
        raise StripeApiError(404, "invalid_request_error",
                             f"Unrecognized request URL ({method}: {path}). The fake Stripe serves only the calls "
                             "of the `stripe` gateway.")

    def _create_checkout(self, params: dict[str, Any]) -> dict[str, Any]:
        for required in ("mode", "success_url"):
            if not params.get(required):
                raise _required(required)
        if params["mode"] != "subscription":
            raise StripeApiError(400, "invalid_request_error", "The fake Stripe supports mode=subscription only.",
                                 code="parameter_invalid_string", param="mode")
        line_items = params.get("line_items")
        if not isinstance(line_items, list) or not line_items:
            raise StripeApiError(400, "invalid_request_error", "`line_items` is required in `subscription` mode.",
                                 code="parameter_missing", param="line_items")
        for index, item in enumerate(line_items):
            if not item.get("price"):
                raise _required(f"line_items[{index}][price]")
            if not str(item.get("quantity", "1")).isdigit():
                raise StripeApiError(400, "invalid_request_error", "Invalid integer: quantity",
                                     code="parameter_invalid_integer", param=f"line_items[{index}][quantity]")
        if params.get("customer") and params.get("customer_email"):
            raise StripeApiError(400, "invalid_request_error",
                                 "You may only specify one of these parameters: customer, customer_email.")
        customer = params.get("customer")
        if customer and customer not in self.customers:
            raise _missing("customer", customer, param="customer")
        discounts = params.get("discounts") or []
        for index, discount in enumerate(discounts):
            if discount.get("promotion_code") not in self.promotion_codes.values():
                raise _missing("promotion code", str(discount.get("promotion_code")),
                               param=f"discounts[{index}][promotion_code]")
        now = int(time.time())
        session_id = "cs_test_" + secrets.token_hex(24)
        amount = sum(self._price(item["price"])["unit_amount"] * int(item.get("quantity", 1)) for item in line_items)
        session = {
            "id": session_id, "object": "checkout.session", "mode": "subscription", "status": "open",
            "payment_status": "unpaid", "url": f"{self.url}/c/pay/{session_id}", "created": now,
            "expires_at": now + DAY_S, "livemode": False, "customer": customer or None,
            "customer_email": params.get("customer_email"), "customer_details": None,
            "client_reference_id": params.get("client_reference_id"), "metadata": params.get("metadata") or {},
            "subscription": None, "success_url": params["success_url"], "cancel_url": params.get("cancel_url"),
            "amount_subtotal": amount, "amount_total": amount,
            "currency": self._price(line_items[0]["price"])["currency"],
            "discounts": [{"coupon": None, "promotion_code": discount["promotion_code"]} for discount in discounts],
        }
        self.checkout_sessions[session_id] = session
        self._checkout_params[session_id] = params
        return session

    def _create_portal_session(self, params: dict[str, Any]) -> dict[str, Any]:
        customer = params.get("customer")
        if not customer:
            raise _required("customer")
        if customer not in self.customers:
            raise _missing("customer", customer, param="customer")
        session_id = _new_id("bps")
        session = {"id": session_id, "object": "billing_portal.session", "customer": customer,
                   "return_url": params.get("return_url"), "url": f"{self.url}/p/session/{session_id}",
                   "created": int(time.time()), "livemode": False, "configuration": "bpc_fake", "locale": None}
        self.portal_sessions[session_id] = session
        return session

    def _list_promotion_codes(self, params: dict[str, Any]) -> dict[str, Any]:
        code = params.get("code")
        wanted_active = params.get("active", "true") == "true"
        limit = int(params.get("limit", 10))
        found = [{"id": promo_id, "object": "promotion_code", "code": typed, "active": True,
                  "created": 0, "livemode": False, "metadata": {}, "customer": None, "expires_at": None,
                  "max_redemptions": None, "times_redeemed": 0,
                  "promotion": {"type": "coupon", "coupon": f"coupon_{promo_id}"}}
                 for typed, promo_id in self.promotion_codes.items()
                 if wanted_active and (code is None or typed.lower() == code.lower())]  # codes are case-insensitive
        return {"object": "list", "data": found[:limit], "has_more": len(found) > limit,
                "url": "/v1/promotion_codes"}


def _injected(status: int) -> StripeApiError:
    type_, code, message = _ERRORS.get(status, ("api_error", None, "Something went wrong on Stripe's end."))
    return StripeApiError(status, type_, message, code=code,
                          decline_code="generic_decline" if status == 402 else None)


@contextmanager
def serve_stripe() -> Iterator[FakeStripe]:
    """Run a FakeStripe on an ephemeral port of 127.0.0.1."""
    state = FakeStripe()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the library's pooled session expects

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def do_DELETE(self) -> None:
            self._answer("DELETE")

        def _answer(self, method: str) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            pairs = parse_qsl(split.query, keep_blank_values=True)
            if method == "POST":
                pairs += parse_qsl(body.decode(), keep_blank_values=True)
            params = decode_form(pairs)
            headers = {name.lower(): value for name, value in self.headers.items()}
            with state.lock:
                state.requests.append((method, split.path, headers))
                state.calls.append((method, split.path, params))
                status, payload, extra = self._respond(method, split.path, params, headers)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Request-Id", _new_id("req"))
            self.send_header("Stripe-Version", headers.get("stripe-version", API_VERSION))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def _respond(self, method: str, path: str, params: dict[str, Any],
                     headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
            auth = headers.get("authorization", "")
            if not auth:
                return _error(StripeApiError(401, "invalid_request_error", "You did not provide an API key. You "
                                             "need to provide your API key in the Authorization header, using "
                                             "Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."))
            if auth != f"Bearer {state.secret_key}":
                given = auth.removeprefix("Bearer ")
                return _error(StripeApiError(401, "invalid_request_error",
                                             f"Invalid API Key provided: {given[:8]}****{given[-4:]}"))
            if state.fail_next:
                return _error(_injected(state.fail_next.pop(0)))
            key = headers.get("idempotency-key") if method == "POST" else None
            if key is not None and key in state._idempotent:
                request, status, payload = state._idempotent[key]
                if request != (method, path, params):
                    return _error(StripeApiError(
                        400, "idempotency_error", "Keys for idempotent requests can only be used with the same "
                        f"parameters they were first used with. Try using a key other than '{key}' if you meant "
                        "to execute a different request."))
                return status, payload, {"Idempotent-Replayed": "true", "Idempotency-Key": key}
            try:
                payload = json.dumps(state.handle(method, path, params)).encode()
            except StripeApiError as error:
                return _error(error)
            if key is not None:
                state._idempotent[key] = ((method, path, params), 200, payload)
            return 200, payload, ({"Idempotency-Key": key} if key else {})

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serving(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as port:
        state.url = f"http://127.0.0.1:{port}"
        yield state


def _error(error: StripeApiError) -> tuple[int, bytes, dict[str, str]]:
    return error.status, json.dumps({"error": error.body}).encode(), {}
