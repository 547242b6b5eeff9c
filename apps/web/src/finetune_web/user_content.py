"""What the source and dataset families share: ids checked before bodies, multipart bodies, body limits,
and the download of stored user files.

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
  `json_body_limit(bytes)` does the same for a JSON route that takes more than the app's own
  MAX_CONTENT_LENGTH (the `max_json_bytes` setting, 1 MiB by default), which every other route keeps.
- `send_user_file` answers stored user bytes as an attachment of a type no browser runs or renders.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar

from finetune_core.errors import NotFoundError
from finetune_core.services import contents
from finetune_core.settings import Settings
from flask import Response, current_app, g, request, send_file
from werkzeug.datastructures import CombinedMultiDict, FileStorage

from finetune_web.current import caller, owned_project, workspace
from finetune_web.openapi import ApiBlueprint, ApiParser

F = TypeVar("F", bound=Callable[..., Any])
MB = 1024 * 1024
MULTIPART_SLACK = MB  # headers and boundaries around the parts
LIMIT = "_finetune_body_limit"
BodyLimit = Callable[[Settings], int]
# what browsers only show or save: any other type (HTML, SVG, XML, scripts...) goes out as BINARY
BINARY = "application/octet-stream"
INERT_TYPES = frozenset({
    BINARY, "application/pdf", "application/zip", "application/json", "application/jsonl", "application/x-ndjson",
    "application/msword", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "text/plain", "text/csv", "text/markdown", "image/png", "image/jpeg", "image/gif", "image/webp",
})
DOWNLOAD_CSP = "default-src 'none'; sandbox"  # were a browser to open one anyway: no scripts, no requests


class MultipartParser(ApiParser):
    """webargs' parser whose `files` location is the whole multipart body: file parts and form fields."""

    def load_files(self, req: Any, schema: Any) -> Any:
        return self._makeproxy(CombinedMultiDict([req.files, req.form]), schema)


def _limit_body(limit: BodyLimit) -> Callable[[F], F]:
    def mark(view: F) -> F:
        setattr(view, LIMIT, limit)
        return view

    return mark


def body_limit(limit: BodyLimit) -> Callable[[F], F]:
    """Mark a view method: its multipart body may hold `limit(workspace settings)` bytes of files."""
    return _limit_body(lambda settings: limit(settings) + MULTIPART_SLACK)


def json_body_limit(max_bytes: int) -> Callable[[F], F]:
    """Mark a view method: its JSON body may hold `max_bytes`, or the app's `max_json_bytes` where that is more."""
    return _limit_body(lambda _settings: max(max_bytes, current_app.config["MAX_CONTENT_LENGTH"] or 0))


def _handler() -> Any:
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(getattr(view, "view_class", None), request.method.lower(), None)


def apply_body_limit() -> None:
    limit: BodyLimit | None = getattr(_handler(), LIMIT, None)
    if limit is not None:
        request.max_content_length = limit(workspace().settings)


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


class SourcesBlueprint(ApiBlueprint):
    """An ApiBlueprint that checks path ids first, reads multipart bodies whole, and limits bodies."""

    ARGUMENTS_PARSER = MultipartParser()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.before_request(check_ids)
        self.before_request(apply_body_limit)


def read_upload(upload: FileStorage, limit: int) -> bytes:
    """The file's bytes, at most `limit + 1` of them (enough for the core to refuse a file over the limit)."""
    return upload.stream.read(limit + 1)


def inert_type(mime_type: str | None) -> str:
    """`mime_type` when browsers only show or save files of it, else application/octet-stream."""
    essence = (mime_type or "").split(";", 1)[0].strip().lower()
    return essence if essence in INERT_TYPES else BINARY


def send_user_file(file: Path | IO[bytes], name: str, mime_type: str | None) -> Response:
    """Stored user bytes as an attachment named `name`, of an inert type, under a CSP that forbids everything."""
    response = send_file(file, mimetype=inert_type(mime_type), as_attachment=True, download_name=name, max_age=0)
    response.headers["Content-Security-Policy"] = DOWNLOAD_CSP
    return response
