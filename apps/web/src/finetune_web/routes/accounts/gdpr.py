"""GDPR (crealia's /api/gdpr): download everything the caller holds, erase it all, and their consent."""

from __future__ import annotations

import json
from datetime import datetime

from finetune_core.services import gdpr
from flask import Response
from flask.views import MethodView

from finetune_web.current import caller, workspace
from finetune_web.openapi import ApiBlueprint
from finetune_web.schemas.bridge import schema_for
from finetune_web.schemas.gdpr import ConsentChoices, ConsentOut, ConsentUpdate, ErasureBody, GdprAck

blp = ApiBlueprint("gdpr", __name__, url_prefix="/api/gdpr",
                   description="GDPR: export of all your data, its erasure, and your consent preferences")

EXPORT_DOC = ("one JSON file (`Content-Disposition: attachment; filename=\"crealia-data-export-{userId}-{timestamp}"
              ".json\"`): every row you own, and your stored files listed by key and size")


@blp.route("/export")
class Export(MethodView):
    @blp.response(200, content_type="application/json", description=EXPORT_DOC)
    def post(self) -> Response:
        """Download all your data as one JSON file

        Provider keys appear masked, issued keys by their prefix; no password hash, no secret.
        """
        user_id = caller().user.id
        data = gdpr.export_user_data(workspace(), user_id)
        stamp = datetime.fromisoformat(str(data["exported_at"])).strftime("%Y%m%dT%H%M%SZ")
        response = Response(json.dumps(data, ensure_ascii=False, indent=2), mimetype="application/json")
        response.headers["Content-Disposition"] = f'attachment; filename="crealia-data-export-{user_id}-{stamp}.json"'
        return response


@blp.route("/delete")
class Delete(MethodView):
    @blp.arguments(schema_for(ErasureBody))
    @blp.response(200, schema_for(GdprAck))
    def post(self, body: ErasureBody) -> GdprAck:
        """Erase your account and everything it holds, files included (cannot be undone)

        Your tokens and issued API keys are refused from then on, running jobs cancelled, a paid subscription
        cancelled. 400 CONFIRMATION_REQUIRED unless `confirmation` is DELETE_MY_DATA; 400 in local mode.
        """
        gdpr.delete_my_data(workspace(), caller().user.id, confirmation=body.confirmation)
        return GdprAck(message="All your data has been permanently deleted")


@blp.route("/consent")
class ConsentPreferences(MethodView):
    @blp.response(200, schema_for(ConsentOut))
    def get(self) -> ConsentOut:
        """Your consent preferences (the defaults, `necessary` alone, until you choose)"""
        return ConsentOut(consent=ConsentChoices.of(gdpr.get_consent(workspace(), caller().user.id)))

    @blp.arguments(schema_for(ConsentUpdate))
    @blp.response(200, schema_for(GdprAck))
    def post(self, body: ConsentUpdate) -> GdprAck:
        """Change any of analytics, marketing, preferences (`necessary` cannot be set false: 400)"""
        gdpr.set_consent(workspace(), caller().user.id, **body.model_dump(exclude_none=True))
        return GdprAck(message="Consent preferences updated")
