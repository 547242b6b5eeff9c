"""The caller's profile: `GET /api/users/me` ≡ `GET /api/auth/me`, and `PUT /api/users/me`."""

from __future__ import annotations

from typing import Any

from finetune_core.domain import User
from finetune_core.services import users
from flask.views import MethodView

from finetune_web.current import caller, workspace
from finetune_web.openapi import ApiBlueprint
from finetune_web.schemas.bridge import schema_for
from finetune_web.schemas.users import ProfileOut, ProfileUpdate

blp = ApiBlueprint("users", __name__, url_prefix="/api", description="The caller's profile")


def profile(user: User) -> dict[str, Any]:
    return {**user.model_dump(), **users.usage(workspace(), caller().owner_id)}


@blp.route("/users/me", endpoint="me")
class Me(MethodView):
    @blp.response(200, schema_for(ProfileOut))
    def get(self) -> dict[str, Any]:
        """The caller's profile, with usage counters"""
        return profile(caller().user)

    @blp.arguments(schema_for(ProfileUpdate))
    @blp.response(200, schema_for(ProfileOut))
    def put(self, body: ProfileUpdate) -> dict[str, Any]:
        """Update the caller's name, trigramme or onboarding flag (absent fields stay)"""
        return profile(users.update_profile(workspace(), caller().user.id, **body.model_dump(exclude_unset=True)))


@blp.route("/auth/me", endpoint="auth_me")
class AuthMe(MethodView):
    get = Me.get
