"""The caller's issued API keys (dualqueryintelligence's /api/apikeys): keys to one of their models, for the
OpenAI-compatible `/v1` routes (routes/openai_compat.py); the secret is shown once."""

from __future__ import annotations

from typing import Any

from finetune_core.services import issued_keys
from flask.views import MethodView

from finetune_web.current import caller, workspace
from finetune_web.openapi import ApiBlueprint
from finetune_web.pagination import ListArgs, page
from finetune_web.schemas.bridge import schema_for
from finetune_web.schemas.issued_keys import IssuedKeyCreate, IssuedKeyCreated, IssuedKeyOut, IssuedKeyPage

blp = ApiBlueprint("issued-keys", __name__, url_prefix="/api/apikeys",
                   description="API keys issued to query one of your models through the OpenAI-compatible /v1")


@blp.route("")
class IssuedKeys(MethodView):
    @blp.arguments(schema_for(ListArgs), location="query")
    @blp.response(200, schema_for(IssuedKeyPage))
    def get(self, args: ListArgs) -> dict[str, Any]:
        """The caller's live keys, newest first, with their usage (a prefix, never the secret)"""
        found, total = issued_keys.list_keys(workspace(), caller().owner_id, limit=args.limit, offset=args.offset)
        return page([IssuedKeyOut.of(key) for key in found], total, args)

    @blp.arguments(schema_for(IssuedKeyCreate))
    @blp.response(201, schema_for(IssuedKeyCreated))
    def post(self, body: IssuedKeyCreate) -> IssuedKeyCreated:
        """Issue a key to one of the caller's models (404 for another's); `key`, the secret, is shown this once"""
        key, secret = issued_keys.create_key(workspace(), caller().owner_id, model_id=body.model_id, name=body.name)
        return IssuedKeyCreated(**IssuedKeyOut.of(key).model_dump(), key=secret)


@blp.route("/<key_id>")
class IssuedKeyItem(MethodView):
    @blp.response(204)
    def delete(self, key_id: str) -> None:
        """Revoke one of the caller's keys: refused on /v1 from the next request on"""
        issued_keys.revoke_key(workspace(), key_id, caller().owner_id)
