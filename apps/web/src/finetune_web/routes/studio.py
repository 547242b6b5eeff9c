"""Studio uploads (crealia): video, audio and images up to 100 MB, typed by their bytes; the owner's only.

A body announcing more is refused with 413 PAYLOAD_TOO_LARGE before it is read; a streamed one is read up to
the limit only. Studio jobs are at GET /api/studio/jobs/{id} (routes/jobs.py: the one job model).
"""

from __future__ import annotations

from finetune_core.services import studio
from flask import Response
from flask.views import MethodView

from finetune_web.current import caller, workspace
from finetune_web.routes.media import send_media
from finetune_web.schemas.bridge import schema_for
from finetune_web.schemas.media import StudioUploadForm, StudioUploadOut
from finetune_web.user_content import MULTIPART_SLACK, SourcesBlueprint, body_limit, read_upload

FRAMING = 64 * 1024  # one file part's headers and boundaries: a body over 100 MB + this is refused unread
blp = SourcesBlueprint("studio", __name__, url_prefix="/api/studio", description="Studio media uploads")


def upload_out(upload: studio.Upload) -> StudioUploadOut:
    return StudioUploadOut.model_validate({"id": upload.id, "filename": upload.filename, "size": upload.size,
                                           "url": f"/api/studio/uploads/{upload.id}", "mime_type": upload.mime_type,
                                           "created_at": upload.created_at})


@blp.route("/upload")
class StudioUpload(MethodView):
    @body_limit(lambda _settings: studio.MAX_UPLOAD_BYTES + FRAMING - MULTIPART_SLACK)
    @blp.arguments(schema_for(StudioUploadForm), location="files")
    @blp.response(201, schema_for(StudioUploadOut))
    def post(self, form: StudioUploadForm) -> StudioUploadOut:
        """Upload a video, audio or image file (413 over 100 MB, 415 when the bytes are none of those types)"""
        data = read_upload(form.file, studio.MAX_UPLOAD_BYTES)
        return upload_out(studio.add_upload(workspace(), caller().owner_id, form.file.filename or "", data))


@blp.route("/uploads/<upload_id>")
class StudioUploadItem(MethodView):
    @blp.response(200, content_type="application/octet-stream", description="the uploaded bytes, of their type")
    def get(self, upload_id: str) -> Response:
        """Download one of your uploads"""
        upload = studio.owned_upload(workspace(), caller().owner_id, upload_id)
        return send_media(studio.upload_path(workspace(), upload), upload.filename, upload.mime_type)
