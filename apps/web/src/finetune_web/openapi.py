"""flask-smorest set up for this API: OpenAPI 3.1 at /api/openapi.json, Swagger UI at /api/docs, our error body."""

from __future__ import annotations

from typing import Any

from flask_smorest import Api, Blueprint
from werkzeug.exceptions import HTTPException

from finetune_web import __version__
from finetune_web.errors import http_error_response
from finetune_web.schema import PydanticPlugin, schema_for
from finetune_web.schemas.common import ErrorBody
from finetune_web.settings import WebSettings

DESCRIPTION = (
    "Turn documents into LLM fine-tuning datasets and models. Every route but sign-up, sign-in, token refresh "
    "and health needs `Authorization: Bearer <access token>` (unless the server runs in local mode). Lists answer "
    "`{items, total, limit, offset}`; every error answers `{detail, error_code, context}`. Each response carries "
    "`X-RateLimit-Limit/Remaining/Reset`; a 429 carries `Retry-After`."
)


class FinetuneApi(Api):  # type: ignore[misc]
    ERROR_SCHEMA = schema_for(ErrorBody)

    def handle_http_exception(self, error: HTTPException) -> Any:
        return http_error_response(error)


class ApiBlueprint(Blueprint):  # type: ignore[misc]
    """A flask-smorest Blueprint that also documents `location="json_or_form"` bodies (as JSON)."""

    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {  # noqa: RUF012
        **Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
        "json_or_form": "application/json",
    }


def api_config(settings: WebSettings) -> dict[str, Any]:
    return {
        "API_TITLE": "finetune",
        "API_VERSION": __version__,
        "OPENAPI_VERSION": "3.1.0",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        "OPENAPI_SWAGGER_UI_URL": settings.swagger_ui_url,
        "API_SPEC_OPTIONS": {
            "info": {"description": DESCRIPTION},
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                                              "bearerFormat": "JWT"}}},
            "security": [{"bearerAuth": []}],
        },
    }


def make_api(app: Any, blueprints: list[Blueprint]) -> FinetuneApi:
    api = FinetuneApi(app, spec_kwargs={"marshmallow_plugin": PydanticPlugin()})
    for blueprint in blueprints:
        api.register_blueprint(blueprint)
    return api
