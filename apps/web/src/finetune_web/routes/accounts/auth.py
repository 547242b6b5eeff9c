"""Auth: sign-up ≡ register, sign-in ≡ login, token refresh (rotating), sign-out."""

from __future__ import annotations

from typing import Any

from finetune_core.domain import User
from finetune_core.services import sessions, users
from flask import request
from flask.views import MethodView

from finetune_web.auth import public, refresh_claims, token_pair
from finetune_web.current import caller, state, workspace
from finetune_web.openapi import ApiBlueprint
from finetune_web.schemas.bridge import REF_PREFIX, schema_for
from finetune_web.schemas.common import Detail
from finetune_web.schemas.users import LoginBody, RefreshBody, RegisterBody, TokenPair, UserOut

blp = ApiBlueprint("auth", __name__, url_prefix="/api/auth", description="Accounts, tokens and sessions")
OAUTH2_FORM = {"content": {"application/x-www-form-urlencoded": {"schema": {"$ref": REF_PREFIX + "LoginBody"}}}}


@blp.route("/register", endpoint="register")
@blp.route("/signup", endpoint="signup")
class Register(MethodView):
    @public
    @blp.arguments(schema_for(RegisterBody))
    @blp.response(201, schema_for(UserOut))
    def post(self, body: RegisterBody) -> User:
        """Create an account; 409 when the email (or the trigramme) is taken"""
        return users.register(workspace(), body.email, body.password, name=body.name, trigramme=body.trigramme)


@blp.route("/login", endpoint="login")
@blp.route("/signin", endpoint="signin")
class Login(MethodView):
    @public
    @blp.arguments(schema_for(LoginBody), location="json_or_form")
    @blp.doc(requestBody=OAUTH2_FORM)
    @blp.response(200, schema_for(TokenPair))
    def post(self, body: LoginBody) -> dict[str, Any]:
        """Sign in with an email (or username) and a password, as JSON or an OAuth2 password form"""
        grant = sessions.sign_in(workspace(), body.login, body.password,
                                 lifetime_s=state().settings.refresh_token_lifetime_s,
                                 user_agent=request.user_agent.string or None, ip_address=request.remote_addr)
        return token_pair(grant)


@blp.route("/refresh-token")
class RefreshToken(MethodView):
    @public
    @blp.arguments(schema_for(RefreshBody))
    @blp.response(200, schema_for(TokenPair))
    def post(self, body: RefreshBody) -> dict[str, Any]:
        """Trade the refresh token for a new pair; each works once, and a reuse signs the session out"""
        session_id, refresh_jti = refresh_claims(body.refresh_token)
        grant = sessions.refresh(workspace(), session_id, refresh_jti,
                                 lifetime_s=state().settings.refresh_token_lifetime_s)
        return token_pair(grant)


@blp.route("/logout")
class Logout(MethodView):
    @blp.response(200, schema_for(Detail))
    def post(self) -> dict[str, str]:
        """Sign out: this session's access and refresh tokens are refused from now on"""
        session = caller().session
        if session is not None:  # local mode has no session to end
            sessions.revoke(workspace(), session.id)
        return {"detail": "Successfully logged out"}
