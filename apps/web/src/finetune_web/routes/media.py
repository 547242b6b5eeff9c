"""AI media (crealia): a voice-over, an image, subtitles; each a job, its files served to their owner only.

The job runs at once where jobs run inline (local mode, tests) and the answer then holds its `output`;
otherwise follow `/api/jobs/{job_id}`. No model configured for images or transcription: 503
NO_MODEL_CONFIGURED naming the setting to change (`context.setting`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from finetune_core.domain import Job
from finetune_core.services import media
from flask import Response, send_file
from flask.views import MethodView

from finetune_web.current import caller, workspace
from finetune_web.openapi import ApiBlueprint
from finetune_web.schemas.bridge import schema_for
from finetune_web.schemas.media import ImageIn, MediaJobOut, SubtitlesIn, VoiceIn
from finetune_web.user_content import DOWNLOAD_CSP

blp = ApiBlueprint("media", __name__, url_prefix="/api/ai", description="AI media: voice-overs, images, subtitles")
ACCEPTED = "the job, with its `output` once it has succeeded"


def send_media(path: Path, name: str, mime_type: str, *, inline: bool = True) -> Response:
    """A stored media file of a type no browser runs, under a CSP that forbids everything else."""
    response = send_file(path, mimetype=mime_type, as_attachment=not inline, download_name=name, max_age=0)
    response.headers["Content-Security-Policy"] = DOWNLOAD_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def output_of(job: Job) -> dict[str, Any]:
    """The URLs (and subtitles) of a finished media job."""
    if job.type == media.VOICE_JOB:
        return {"audio_url": f"/api/ai/voice/{job.id}/audio.mp3"}
    if job.type == media.IMAGE_JOB:
        return {"urls": [f"/api/ai/images/{job.id}/image.png"]}
    return {"subtitles": job.result_summary.get("subtitles", []), "srt_url": f"/api/ai/subtitles/{job.id}.srt",
            "vtt_url": f"/api/ai/subtitles/{job.id}.vtt"}


def answer(job: Job) -> MediaJobOut:
    job = media.media_job(workspace(), caller().owner_id, job.id, job.type)  # as it stands now
    return MediaJobOut.of(job, output_of(job))


@blp.route("/voice")
class Voice(MethodView):
    @blp.arguments(schema_for(VoiceIn))
    @blp.response(202, schema_for(MediaJobOut), description=ACCEPTED)
    def post(self, body: VoiceIn) -> MediaJobOut:
        """Speak a text (MP3): offline with espeak-ng unless FINETUNE_SPEECH_MODEL names another model"""
        return answer(media.start_voice(workspace(), caller().owner_id, text=body.text, voice=body.voice,
                                        speed=body.speed))


@blp.route("/images")
class Images(MethodView):
    @blp.arguments(schema_for(ImageIn))
    @blp.response(202, schema_for(MediaJobOut), description=ACCEPTED)
    def post(self, body: ImageIn) -> MediaJobOut:
        """Draw an image (PNG) with the model FINETUNE_IMAGE_MODEL names; 503 NO_MODEL_CONFIGURED without one"""
        return answer(media.start_image(workspace(), caller().owner_id, prompt=body.prompt, size=body.size,
                                        quality=body.quality))


@blp.route("/subtitles")
class Subtitles(MethodView):
    @blp.arguments(schema_for(SubtitlesIn))
    @blp.response(202, schema_for(MediaJobOut), description=ACCEPTED)
    def post(self, body: SubtitlesIn) -> MediaJobOut:
        """Subtitles of an audio or video URL or studio upload, with FINETUNE_TRANSCRIPTION_MODEL's model

        400 URL_NOT_ALLOWED for a refused URL, 404 for an upload not yours, 503 NO_MODEL_CONFIGURED without a model.
        """
        return answer(media.start_subtitles(workspace(), caller().owner_id, audio_url=body.audio_url,
                                            upload_id=body.file_id, language=body.language))


@blp.route("/voice/<job_id>/audio.mp3")
class VoiceAudio(MethodView):
    @blp.response(200, content_type="audio/mpeg", description="the MP3")
    def get(self, job_id: str) -> Response:
        """A voice-over's MP3 (yours only)"""
        path = media.job_file(workspace(), caller().owner_id, job_id, media.VOICE_JOB, media.AUDIO_FILE)
        return send_media(path, "audio.mp3", "audio/mpeg")


@blp.route("/images/<job_id>/image.png")
class ImageFile(MethodView):
    @blp.response(200, content_type="image/png", description="the PNG")
    def get(self, job_id: str) -> Response:
        """A generated image (yours only)"""
        path = media.job_file(workspace(), caller().owner_id, job_id, media.IMAGE_JOB, media.IMAGE_FILE)
        return send_media(path, "image.png", "image/png")


@blp.route("/subtitles/<job_id>.srt")
class SubtitlesSrt(MethodView):
    @blp.response(200, content_type="application/x-subrip", description="SubRip subtitles")
    def get(self, job_id: str) -> Response:
        """Subtitles as SRT (yours only)"""
        path = media.job_file(workspace(), caller().owner_id, job_id, media.SUBTITLES_JOB, media.SUBTITLE_FILES["srt"])
        return send_media(path, f"{job_id}.srt", "application/x-subrip", inline=False)


@blp.route("/subtitles/<job_id>.vtt")
class SubtitlesVtt(MethodView):
    @blp.response(200, content_type="text/vtt", description="WebVTT subtitles")
    def get(self, job_id: str) -> Response:
        """Subtitles as WebVTT (yours only)"""
        path = media.job_file(workspace(), caller().owner_id, job_id, media.SUBTITLES_JOB, media.SUBTITLE_FILES["vtt"])
        return send_media(path, f"{job_id}.vtt", "text/vtt")
