"""Authentication: every route needs an access token unless its view is marked `@public`.

    class Login(MethodView):
        @public
        @blp.arguments(schema_for(LoginBody), location="json_or_form")
        def post(self, body): ...

Before each view, `authenticate` sets the caller (`finetune_web.current.caller()`): in local mode
the implicit local user; otherwise the user and session behind `Authorization: Bearer <access JWT>`,
whose session must still be live (logout and refresh-token reuse revoke it). Every token problem
answers 401 in the error body, a malformed token included (flask-jwt-extended would say 422).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from finetune_core.services import sessions, users
from finetune_core.services.sessions import Grant
from flask import Flask, Response, current_app, g, request
from flask_jwt_extended import (
    JWTManager,
    create_access_token,
    create_refresh_token,
    decode_token,
    get_jwt,
    verify_jwt_in_request,
)
from flask_smorest import Blueprint

from finetune_web.current import Caller, state, workspace
from finetune_web.errors import ApiError, error_response
from finetune_web.settings import WebSettings

F = TypeVar("F", bound=Callable[..., Any])
PUBLIC = "_finetune_public"
DOCS_BLUEPRINT = "api-docs"  # flask-smorest's: /api/openapi.json and /api/docs
SESSION_CLAIM = "sid"


def public(view: F) -> F:
    """Mark a view method as open to anonymous callers (and documented without a security requirement)."""
    setattr(view, PUBLIC, True)
    documented: F = Blueprint.doc(security=[])(view)
    return documented


def _is_public() -> bool:
    if request.blueprint == DOCS_BLUEPRINT or request.endpoint == "static":
        return True
    view = current_app.view_functions.get(request.endpoint or "")
    handler = getattr(getattr(view, "view_class", None), request.method.lower(), None)
    if handler is None and request.method == "HEAD":
        handler = getattr(getattr(view, "view_class", None), "get", None)
    return bool(getattr(handler, PUBLIC, False) or getattr(view, PUBLIC, False))


def authenticate() -> None:
    """A `before_request` hook: set `g.caller`, or refuse with 401."""
    if request.method == "OPTIONS" or request.routing_exception is not None or _is_public():
        return  # preflights, public routes, unknown routes (which answer 404/405 without asking who calls)
    if state().settings.local_mode:
        g.caller = Caller(users.local_user(workspace()), None, local=True)
        return
    verify_jwt_in_request()
    claims = get_jwt()
    user, session = sessions.check_access(workspace(), str(claims.get(SESSION_CLAIM, "")), str(claims["sub"]))
    g.caller = Caller(user, session)


def token_pair(grant: Grant) -> dict[str, Any]:
    """The answer of a sign-in or a refresh: both tokens (carrying the session id), and the user."""
    settings = state().settings
    claims = {SESSION_CLAIM: grant.session.id}
    return {
        "access_token": create_access_token(identity=grant.user.id, additional_claims=claims),
        "refresh_token": create_refresh_token(identity=grant.user.id,
                                              additional_claims={**claims, "jti": grant.refresh_jti}),
        "token_type": "bearer",
        "expires_in": settings.access_token_lifetime_s,
        "refresh_expires_in": settings.refresh_token_lifetime_s,
        "session_id": grant.session.id,
        "user": grant.user,
    }


def refresh_claims(refresh_token: str) -> tuple[str, str]:
    """The session id and token id of a valid refresh token (signature and expiry checked), or 401."""
    claims = decode_token(refresh_token)
    if claims.get("type") != "refresh" or SESSION_CLAIM not in claims:
        raise ApiError(401, "INVALID_TOKEN", "a refresh token is expected here")
    return str(claims[SESSION_CLAIM]), str(claims["jti"])


def _unauthorized(error_code: str, detail: str) -> Response:
    return error_response(401, error_code, detail, headers={"WWW-Authenticate": "Bearer"})


def init_jwt(app: Flask, settings: WebSettings, secret: str) -> JWTManager:
    """flask-jwt-extended with our lifetimes, and every token error in the error body with 401."""
    app.config.update(
        JWT_SECRET_KEY=secret,
        JWT_ACCESS_TOKEN_EXPIRES=timedelta(seconds=settings.access_token_lifetime_s),
        JWT_REFRESH_TOKEN_EXPIRES=timedelta(seconds=settings.refresh_token_lifetime_s),
        JWT_TOKEN_LOCATION=["headers"],
        JWT_COOKIE_CSRF_PROTECT=False,  # bearer headers only: no cookies, so no CSRF claim in the tokens
    )
    jwt = JWTManager(app)
    jwt.unauthorized_loader(lambda reason: _unauthorized(
        "AUTHENTICATION_REQUIRED", f"an access token is required (Authorization: Bearer <token>): {reason}"))
    jwt.invalid_token_loader(lambda reason: _unauthorized("INVALID_TOKEN", f"invalid token: {reason}"))
    jwt.expired_token_loader(lambda _header, _data: _unauthorized("TOKEN_EXPIRED", "the token has expired"))
    jwt.revoked_token_loader(lambda _header, _data: _unauthorized("TOKEN_REVOKED", "the token was revoked"))
    jwt.needs_fresh_token_loader(lambda _header, _data: _unauthorized("FRESH_TOKEN_REQUIRED",
                                                                      "sign in again for this action"))
    jwt.token_verification_failed_loader(lambda _header, _data: _unauthorized("INVALID_TOKEN",
                                                                              "the token was refused"))
    jwt.user_lookup_error_loader(lambda _header, _data: _unauthorized("INVALID_TOKEN", "unknown user"))
    return jwt
