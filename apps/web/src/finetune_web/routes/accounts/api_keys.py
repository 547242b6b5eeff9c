"""The caller's provider API keys: stored encrypted, always shown masked (fintune-platform's /users/me/api-keys)."""

from __future__ import annotations

from typing import Any

from finetune_core.services import keys
from flask.views import MethodView

from finetune_web.current import caller, workspace
from finetune_web.openapi import ApiBlueprint
from finetune_web.pagination import ListArgs, page
from finetune_web.schemas.bridge import plugin_path_parameter, schema_for
from finetune_web.schemas.keys import KeyBody, KeyCheck, KeyCheckBody, ProviderKeyOut, ProviderKeyPage

blp = ApiBlueprint("api-keys", __name__, url_prefix="/api/users/me/api-keys",
                   description="Provider API keys (openai, anthropic, mistral, ... any installed provider)")
PROVIDER = plugin_path_parameter("provider", "providers")


@blp.route("")
class ProviderKeys(MethodView):
    @blp.arguments(schema_for(ListArgs), location="query")
    @blp.response(200, schema_for(ProviderKeyPage))
    def get(self, args: ListArgs) -> dict[str, Any]:
        """The caller's keys, masked, and the providers that can hold one"""
        stored = keys.list_keys(workspace(), owner_id=caller().owner_id)
        shown = [ProviderKeyOut.of(key) for key in stored[args.offset:args.offset + args.limit]]
        return page(shown, len(stored), args, providers=workspace().plugins.providers.names())

    @blp.arguments(schema_for(KeyBody))
    @blp.response(200, schema_for(ProviderKeyOut), description="the key replaced the one stored")
    @blp.alt_response(201, schema=schema_for(ProviderKeyOut), description="the first key of this provider")
    def post(self, body: KeyBody) -> tuple[ProviderKeyOut, int]:
        """Store the caller's key for a provider (its format checked): 201 the first time, 200 when replacing"""
        stored, created = keys.set_key(workspace(), body.provider, body.key, owner_id=caller().owner_id)
        return ProviderKeyOut.of(stored), 201 if created else 200


@blp.route("/<provider>", parameters=[PROVIDER])
class ProviderKey(MethodView):
    @blp.response(204)
    def delete(self, provider: str) -> None:
        """Delete the caller's key for this provider"""
        keys.delete_key(workspace(), provider, owner_id=caller().owner_id)


@blp.route("/<provider>/check", parameters=[PROVIDER])
class ProviderKeyCheck(MethodView):
    @blp.arguments(schema_for(KeyCheckBody), required=False)
    @blp.response(200, schema_for(KeyCheck))
    def post(self, body: KeyCheckBody, provider: str) -> dict[str, Any]:
        """Check a key (or the stored one): its format, then the provider's cheapest authenticated call"""
        return keys.check_key(workspace(), provider, key=body.key, owner_id=caller().owner_id)
