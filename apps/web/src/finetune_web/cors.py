"""CORS for browser frontends on other origins (FINETUNE_CORS_ORIGINS); preflights answer before any auth."""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask, Response, request

ALLOWED_HEADERS = "Authorization, Content-Type, Last-Event-ID"
EXPOSED_HEADERS = "X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After, Content-Disposition"
ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"


def install_cors(app: Flask, origins: Iterable[str]) -> None:
    allowed = frozenset(origins)
    if not allowed:
        return

    @app.after_request
    def _cors_headers(response: Response) -> Response:
        origin = request.headers.get("Origin")
        if origin and ("*" in allowed or origin in allowed):
            response.headers["Access-Control-Allow-Origin"] = "*" if "*" in allowed else origin
            response.headers.add("Vary", "Origin")
            response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
            if request.method == "OPTIONS":
                response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
                response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
                response.headers["Access-Control-Max-Age"] = "600"
        return response
