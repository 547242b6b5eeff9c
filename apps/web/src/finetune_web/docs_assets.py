"""Swagger UI's scripts and styles, served by the app itself at /api/docs/assets/ (the /api/docs page works offline).

The files come from the `flask-swagger-ui` package, which ships Swagger UI's `dist` folder; only its files
are served, by name. `FINETUNE_SWAGGER_UI_URL` points the page at another copy (a CDN) instead.
"""

from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, Flask, Response, send_from_directory

from finetune_web.auth import public
from finetune_web.errors import ApiError

ASSETS_PATH = "/api/docs/assets/"
DIST = Path(flask_swagger_ui.__file__).parent / "dist"
SERVED = frozenset(path.name for path in DIST.iterdir() if path.suffix in {".js", ".css", ".png"})
MAX_AGE_S = 24 * 3600  # versioned with the installed package: a day in the browser's cache is safe

blp = Blueprint("swagger-ui", __name__)


@blp.get(f"{ASSETS_PATH}<name>")
@public
def asset(name: str) -> Response:
    if name not in SERVED:
        raise ApiError(404, "NOT_FOUND", f"no Swagger UI file named {name!r}")
    return send_from_directory(DIST, name, max_age=MAX_AGE_S)


def install_docs_assets(app: Flask) -> None:
    app.register_blueprint(blp)
