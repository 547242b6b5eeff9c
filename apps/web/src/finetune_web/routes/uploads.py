"""What the source and dataset families share: ids checked before bodies, multipart bodies, body limits.

    blp = SourcesBlueprint("files", __name__, url_prefix="/api/projects")

    @blp.route("/<project_id>/files/upload")
    class FilesUpload(MethodView):
        @body_limit(lambda settings: settings.max_project_bytes)
        @blp.arguments(schema_for(FilesForm), location="files")     # the files *and* the form fields
        def post(self, form, project_id): ...

- Ids first: before the body is parsed, every id in the path must be the caller's, so another
  user's id answers 404 whatever the body (never a 422 that would tell the id exists).
- `location="files"` reads the whole multipart body as one model: file parts and form fields.
- `body_limit` sets the request's MAX_CONTENT_LENGTH before the body is read (plus room for the
  multipart framing): a larger body is refused with 413 PAYLOAD_TOO_LARGE without being read whole.
  Other routes keep the app's MAX_CONTENT_LENGTH, which these blueprints set to `DEFAULT_MAX_BODY`
  unless the configuration already has one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from finetune_core.errors import NotFoundError
from finetune_core.services import contents
from finetune_core.settings import Settings
from flask import current_app, g, request
from flask.blueprints import BlueprintSetupState
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import CombinedMultiDict, FileStorage

from finetune_web.current import caller, owned_project, workspace
from finetune_web.openapi import ApiBlueprint

F = TypeVar("F", bound=Callable[..., Any])
MB = 1024 * 1024
MULTIPART_SLACK = MB  # headers and boundaries around the parts
DEFAULT_MAX_BODY = 32 * MB  # any other body (JSON): bulk pairs at most
LIMIT = "_finetune_body_limit"
BodyLimit = Callable[[Settings], int]


class MultipartParser(FlaskParser):
    """webargs' parser whose `files` location is the whole multipart body: file parts and form fields."""

    def load_files(self, req: Any, schema: Any) -> Any:
        return self._makeproxy(CombinedMultiDict([req.files, req.form]), schema)


def body_limit(limit: BodyLimit) -> Callable[[F], F]:
    """Mark a view method: its request body may hold `limit(workspace settings)` bytes of files."""

    def mark(view: F) -> F:
        setattr(view, LIMIT, limit)
        return view

    return mark


def _handler() -> Any:
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(getattr(view, "view_class", None), request.method.lower(), None)


def apply_body_limit() -> None:
    limit: BodyLimit | None = getattr(_handler(), LIMIT, None)
    if limit is not None:
        request.max_content_length = limit(workspace().settings) + MULTIPART_SLACK


def _source(source_id: str) -> None:
    contents.owned_source(workspace(), source_id, caller().owner_id)


def _dataset(dataset_id: str) -> None:
    try:
        owned_project(dataset_id)
    except NotFoundError:
        raise NotFoundError(f"dataset '{dataset_id}' not found", dataset_id=dataset_id) from None


ID_CHECKS: dict[str, Callable[[str], object]] = {
    "project_id": owned_project,
    "dataset_id": _dataset,
    "file_id": _source,
    "content_id": _source,
    "document_id": _source,
}


def check_ids() -> None:
    """404 for any id in the path the caller may not see, before the view parses the body."""
    if request.method == "OPTIONS" or "caller" not in g:
        return
    for name, value in (request.view_args or {}).items():
        check = ID_CHECKS.get(name)
        if check is not None:
            check(value)


def _default_max_body(state: BlueprintSetupState) -> None:
    if state.app.config.get("MAX_CONTENT_LENGTH") is None:
        state.app.config["MAX_CONTENT_LENGTH"] = DEFAULT_MAX_BODY


class SourcesBlueprint(ApiBlueprint):
    """An ApiBlueprint that checks path ids first, reads multipart bodies whole, and limits bodies."""

    ARGUMENTS_PARSER = MultipartParser()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.before_request(check_ids)
        self.before_request(apply_body_limit)
        self.record_once(_default_max_body)


def read_upload(upload: FileStorage, limit: int) -> bytes:
    """The file's bytes, at most `limit + 1` of them (enough for the core to refuse a file over the limit)."""
    return upload.stream.read(limit + 1)
