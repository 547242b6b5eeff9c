"""Studio uploads (crealia): video, audio and images up to 100 MB, typed by their bytes; the owner's only.

A body announcing more is refused with 413 PAYLOAD_TOO_LARGE before it is read; a streamed one is read up to
the limit only. A composed video is a job (services/studio_compose.py), its file at
/api/studio/outputs/{job_id}/video.mp4 (or .webm) for its owner only. Studio jobs are at
GET /api/studio/jobs/{id} (routes/jobs.py: the one job model).
"""

from __future__ import annotations

from finetune_core.errors import NotFoundError
from finetune_core.services import media, studio, studio_compose
from flask import Response
from flask.views import MethodView

from finetune_web.current import caller, workspace
from finetune_web.routes.media import send_media
from finetune_web.schemas.bridge import schema_for
from finetune_web.schemas.media import ComposeIn, MediaJobOut, StudioUploadForm, StudioUploadOut, TransitionIn
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


@blp.route("/video/compose")
class VideoCompose(MethodView):
    @blp.arguments(schema_for(ComposeIn))
    @blp.response(202, schema_for(MediaJobOut), description="the job, with `output.video_url` once it has succeeded")
    def post(self, body: ComposeIn) -> MediaJobOut:
        """Compose a video of your uploads (ffmpeg): clips, transitions, music; 10 minutes of output at most

        404 for an upload not yours (or any other URL), 400 for a clip outside its video, one without video, or an
        output over 10 minutes. Follow the job at /api/studio/jobs/{job_id}.
        """
        sources = [clip.upload_id or clip.url for clip in body.clips]  # one of them: ClipIn checks
        given = body.transitions if isinstance(body.transitions, list) else [body.transitions]
        transitions = [(item if isinstance(item, TransitionIn) else TransitionIn(type=item)).model_dump()
                       for item in given]
        owner_id = caller().owner_id
        job = studio_compose.start_compose(
            workspace(), owner_id, transitions=transitions, music=body.music, output_format=body.output_format,
            clips=[{"source": source, "start_time": clip.start_time, "end_time": clip.end_time}
                   for source, clip in zip(sources, body.clips, strict=True)])
        job = media.media_job(workspace(), owner_id, job.id, studio_compose.COMPOSE_JOB)  # as it stands now
        return MediaJobOut.of(job, job.result_summary.get("output", {}))


@blp.route("/outputs/<job_id>/<name>")
class ComposedVideo(MethodView):
    @blp.response(200, content_type="video/mp4", description="the composed video (MP4 or WebM)")
    def get(self, job_id: str, name: str) -> Response:
        """A composed video (yours only): video.mp4 or video.webm"""
        if name not in ("video.mp4", "video.webm"):
            raise NotFoundError(f"no file '{name}'", job_id=job_id)
        path = media.job_file(workspace(), caller().owner_id, job_id, studio_compose.COMPOSE_JOB, name)
        return send_media(path, name, media.MIME_TYPES[name.rsplit(".", 1)[1]])
