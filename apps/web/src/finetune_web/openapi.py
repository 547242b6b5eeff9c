"""flask-smorest set up for this API: OpenAPI 3.1 at /api/openapi.json, Swagger UI at /api/docs, our error body.

The document and the app agree: a body an operation requires must be sent (`ApiParser`), what plugins
provide is listed as installed (`installed`), and an OPTIONS answer allows the methods of its own path only
(`ApiFlask`), not those of another route that the path also matches (`/api/contents/upload` is also a
`/api/contents/<content_id>`).
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from finetune_core.sources.base import FileLoader
from flask import Flask, Response, request
from flask_smorest import Api, Blueprint
from marshmallow import missing
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException

from finetune_web.current import EXTENSION
from finetune_web.docs_assets import ASSETS_PATH
from finetune_web.errors import BODY_LOCATIONS, http_error_response
from finetune_web.schemas.bridge import MEDIA, NO_BODY, FormModel, Installed, PydanticPlugin, optional_body, schema_for
from finetune_web.schemas.common import ErrorBody
from finetune_web.settings import WebSettings
from finetune_web.version import __version__

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


class ApiFlask(Flask):
    """Flask whose automatic OPTIONS answer allows the methods of the matched route's path, as documented.

    Flask's own lists every method of every rule the path matches, so `OPTIONS /api/contents/upload`
    would also allow GET, PUT and DELETE of `/api/contents/<content_id>`.
    """

    def make_default_options_response(self) -> Response:
        matched = request.url_rule
        if matched is None:
            return super().make_default_options_response()
        response = self.response_class()
        response.allow.update(method for rule in self.url_map.iter_rules() if rule.rule == matched.rule
                              for method in rule.methods or ())
        return response


class ApiParser(FlaskParser):
    """webargs' parser that tells a request without a body from one with `{}` (`NO_BODY`), so that a body an
    operation requires is refused when missing (webargs alone reads a missing body as `{}`). A body that is
    not JSON is still read as `{}`: its fields are missing."""

    def load_json(self, req: Any, schema: Any) -> Any:
        data = super().load_json(req, schema)
        if data is missing and not req.get_data(cache=True):
            return NO_BODY
        return data

    def load_json_or_form(self, req: Any, schema: Any) -> Any:
        data = super().load_json(req, schema)
        return self.load_form(req, schema) if data is missing else data


View = TypeVar("View", bound=Callable[..., Any])  # a view function, or a MethodView class


class ViewDecorator(Protocol):
    """What each of flask-smorest's decorators gives back (it is untyped): the view, or a wrapper that stands for it."""

    def __call__(self, view: View, /) -> View: ...


class ApiBlueprint(Blueprint):  # type: ignore[misc]
    """A flask-smorest Blueprint that also documents `location="json_or_form"` bodies (as JSON), and refuses a
    missing body where the operation requires one (`required=True`, the default)."""

    if TYPE_CHECKING:  # flask-smorest's own decorators, typed (it ships no annotations)
        def route(self, rule: str, *, parameters: list[Any] | None = None, tags: list[str] | None = None,
                  **options: Any) -> ViewDecorator: ...

        def response(self, status_code: int | str | HTTPStatus, schema: Any = None, *, content_type: str | None = None,
                     description: str | None = None, example: Any = None, examples: dict[str, Any] | None = None,
                     headers: dict[str, Any] | None = None) -> ViewDecorator: ...

        def alt_response(self, status_code: int | str | HTTPStatus, response: Any = None, *, schema: Any = None,
                         content_type: str | None = None, description: str | None = None, example: Any = None,
                         examples: dict[str, Any] | None = None, headers: dict[str, Any] | None = None,
                         success: bool = False) -> ViewDecorator: ...

        @staticmethod
        def doc(**kwargs: Any) -> ViewDecorator: ...

    ARGUMENTS_PARSER = ApiParser()
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {  # noqa: RUF012
        **Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
        "json_or_form": "application/json",
    }

    def arguments(self, schema: Any, *, location: str = "json", required: bool = True,
                  **kwargs: Any) -> ViewDecorator:
        if location in BODY_LOCATIONS and not required:
            schema = optional_body(schema)
        decorator: ViewDecorator = super().arguments(schema, location=location, required=required, **kwargs)
        model = getattr(schema, "model", None)
        if not (isinstance(model, type) and issubclass(model, FormModel) and model.file_kinds):
            return decorator
        content_type = kwargs.get("content_type") or self.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING[location]
        encoding = {part: {"contentType": {MEDIA: kind}} for part, kind in model.file_kinds.items()}
        documented = self.doc(requestBody={"content": {content_type: {"encoding": encoding}}})

        def decorate(view: View) -> View:
            return documented(decorator(view))

        return decorate


def api_config(settings: WebSettings) -> dict[str, Any]:
    return {
        "API_TITLE": "finetune",
        "API_VERSION": __version__,
        "OPENAPI_VERSION": "3.1.0",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        "OPENAPI_SWAGGER_UI_URL": settings.swagger_ui_url or ASSETS_PATH,
        "API_SPEC_OPTIONS": {
            "info": {"description": DESCRIPTION},
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                                              "bearerFormat": "JWT"}}},
            "security": [{"bearerAuth": []}],
        },
    }


def installed(app: Flask) -> Installed:
    """What the plugins installed for the app's workspace provide, as the document lists it."""
    plugins = app.extensions[EXTENSION].workspace.plugins
    names = {kind: getattr(plugins, kind).names() for kind in ("providers", "generators", "chunkers", "exporters",
                                                                  "trainers")}
    media_types: dict[str, set[str]] = {}
    for loader in plugins.sources:
        if isinstance(loader, FileLoader):
            media_types.setdefault(loader.kind.value, set()).update(loader.mime_types)
    return Installed(names=names, methods={trainer.name: list(trainer.methods) for trainer in plugins.trainers},
                     key_patterns={spec.name: spec.key_pattern for spec in plugins.providers if spec.key_pattern},
                     media_types={kind: sorted(types) for kind, types in media_types.items()})


def make_api(app: Flask, blueprints: list[Blueprint]) -> FinetuneApi:
    api = FinetuneApi(app, spec_kwargs={"marshmallow_plugin": PydanticPlugin(installed(app))})
    for blueprint in blueprints:
        api.register_blueprint(blueprint)
    return api
