"""One error body for every 4xx/5xx: `{"detail": "human text", "error_code": "UPPER_SNAKE", "context": {}}`.

Core errors map to a status by their class (`STATUS_BY_ERROR`, most specific first); flask-smorest's
422 lists one entry per field in `context.errors`; router 404/405 and anything unforeseen (500) get
the same body. A route that must refuse something the core does not know raises `ApiError`.
What gunicorn refuses before the app sees it (a request line or headers too long, a malformed request)
gets it too (`finetune_web.serve`).
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from finetune_core.errors import (
    AuthenticationError,
    BillingNotConfiguredError,
    ConflictError,
    FileTooLargeError,
    FinetuneError,
    GenerationError,
    InvalidInputError,
    JobCancelledError,
    MissingApiKeyError,
    ModelUnavailableError,
    NotFoundError,
    PaymentProviderError,
    PermissionDeniedError,
    PlanLimitError,
    SourceLoadError,
    UnsupportedFileTypeError,
)
from flask import Flask, Response, jsonify
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from finetune_web.schemas.bridge import BODY, field_errors

log = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[FinetuneError], int] = {
    NotFoundError: 404,
    ConflictError: 409,  # JobAlreadyFinishedError included
    InvalidInputError: 400,  # UrlNotAllowedError, UnknownPluginError, InvalidApiKeyError, NotSupportedError
    SourceLoadError: 400,
    MissingApiKeyError: 401,
    AuthenticationError: 401,
    PermissionDeniedError: 403,
    FileTooLargeError: 413,
    UnsupportedFileTypeError: 415,
    JobCancelledError: 409,
    GenerationError: 502,  # the model behind a generator failed
    ModelUnavailableError: 503,  # the model a chat asked could not answer: nothing of the exchange is stored
    PlanLimitError: 402,
    BillingNotConfiguredError: 503,
    PaymentProviderError: 502,  # Stripe refused or failed the call
}
CODE_BY_STATUS = {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE",
                  422: "VALIDATION_ERROR", 429: "RATE_LIMITED", 500: "INTERNAL_ERROR"}
BODY_LOCATIONS = {"json", "form", "json_or_form", "files"}


class ApiError(Exception):
    """An answer the web layer gives by itself (rate limited, plugin not installed, bad token...)."""

    def __init__(self, status: int, error_code: str, detail: str, *, headers: dict[str, str] | None = None,
                 **context: Any) -> None:
        super().__init__(detail)
        self.status, self.error_code, self.detail = status, error_code, detail
        self.headers = headers or {}
        self.context = context


def status_of(error: FinetuneError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


def _jsonable(context: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(json.dumps(context, default=str)))


def error_body(detail: str, error_code: str, context: dict[str, Any] | None = None) -> dict[str, Any]:
    """The one error body (also written by `finetune serve`'s gunicorn worker, outside any request)."""
    return {"detail": detail, "error_code": error_code, "context": _jsonable(context or {})}


def code_of(status: int) -> str:
    """The error_code of an HTTP error that has none of its own: NOT_FOUND, PAYLOAD_TOO_LARGE..."""
    return CODE_BY_STATUS.get(status) or HTTPStatus(status).name


def error_response(status: int, error_code: str, detail: str, context: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> Response:
    response = jsonify(error_body(detail, error_code, context))
    response.status_code = status
    response.headers.update(headers or {})
    return response


def validation_context(messages: dict[str, Any]) -> dict[str, Any]:
    """webargs' `{location: {field: [messages]}}` as one `{field, location, message}` entry per field."""
    errors = []
    for location, fields in messages.items():
        where = "body" if location in BODY_LOCATIONS else location
        if not isinstance(fields, dict):
            fields = {BODY: fields}
        for field, texts in fields.items():
            text = "; ".join(texts) if isinstance(texts, list) else str(texts)
            errors.append({"field": None if field == BODY else field, "location": where, "message": text})
    return {"errors": errors}


def _summary(context: dict[str, Any]) -> str:
    first = context["errors"][0] if context["errors"] else None
    if first is None:
        return "the request is not valid"
    return f"{first['field'] or 'the body'}: {first['message']}" + (
        f" (and {len(context['errors']) - 1} more)" if len(context["errors"]) > 1 else "")


def http_error_response(error: HTTPException) -> Response:
    """Werkzeug's and flask-smorest's HTTP errors (router 404/405, webargs 422, ...) in the error body."""
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    headers = {key: value for key, value in error.get_headers() if key.lower() != "content-type"}
    headers.update(data.get("headers") or {})
    messages = data.get("messages")
    if status == 422 and isinstance(messages, dict):
        errors = validation_context(messages)
        return error_response(422, "VALIDATION_ERROR", _summary(errors), errors, headers)
    if status == 400 and messages:  # webargs refused the body before any schema saw it
        return error_response(400, "INVALID_JSON", "the request body is not valid JSON", {}, headers)
    context: dict[str, Any] = {}
    if status == 405 and "Allow" in headers:
        context["allowed_methods"] = [method.strip() for method in headers["Allow"].split(",")]
    return error_response(status, code_of(status), error.description or HTTPStatus(status).phrase, context, headers)


def register_error_handlers(app: Flask) -> None:
    """Every error path ends in `error_response` (flask-smorest's HTTP handler is overridden in `api`)."""

    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return error_response(error.status, error.error_code, error.detail, error.context, error.headers)

    @app.errorhandler(FinetuneError)
    def _core_error(error: FinetuneError) -> Response:
        status = status_of(error)
        if status >= 500:
            log.error("%s: %s", error.error_code, error.message)
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, AuthenticationError) else None
        return error_response(status, error.error_code, error.message, error.context, headers)

    @app.errorhandler(ValidationError)
    def _model_error(error: ValidationError) -> Response:  # a service validated what the route did not
        context = validation_context({"body": field_errors(error)})
        return error_response(422, "VALIDATION_ERROR", _summary(context), context)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        if isinstance(error, HTTPException):
            return http_error_response(error)
        log.exception("unhandled error")
        return error_response(500, "INTERNAL_ERROR", "internal server error")
