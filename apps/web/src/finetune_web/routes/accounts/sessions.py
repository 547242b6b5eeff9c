"""The sign-in session behind the caller's token (foyergpt's `GET /api/sessions/current`)."""

from __future__ import annotations

from finetune_core.errors import NotFoundError
from flask.views import MethodView

from finetune_web.current import caller
from finetune_web.openapi import ApiBlueprint
from finetune_web.schemas.bridge import schema_for
from finetune_web.schemas.users import SessionOut

blp = ApiBlueprint("sessions", __name__, url_prefix="/api/sessions", description="Sign-in sessions")


@blp.route("/current")
class CurrentSession(MethodView):
    @blp.response(200, schema_for(SessionOut))
    def get(self) -> SessionOut:
        """The session of this access token: id, user, expiry, user agent and address it was opened from"""
        session = caller().session
        if session is None:
            raise NotFoundError("local mode has no sign-in sessions", error_code="NO_SESSION")
        return SessionOut.of(session)
