"""Media (crealia's AI generation and studio): voice-overs, images, subtitles, studio uploads.

Crealia's bodies in the API's snake_case: `job_id`, `status`, `output` (URLs of the files, the subtitles).
"""

from __future__ import annotations

from typing import Any, Literal

from finetune_core.domain import Job, JobStatus
from pydantic import BaseModel, ConfigDict, Field, model_validator

from finetune_web.schemas.bridge import FormModel
from finetune_web.schemas.common import ID_MAX
from finetune_web.schemas.sources import UploadedFile
from finetune_web.schemas.urls import PublicUrl


class VoiceIn(BaseModel):
    text: str = Field(min_length=1, max_length=4096)
    voice: str = Field("alloy", min_length=1, max_length=32,
                       description="OpenAI's voices (alloy, echo, nova...) or, offline, an espeak-ng voice (en, fr...)")
    speed: float = Field(1.0, ge=0.25, le=4.0)


class ImageIn(BaseModel):
    prompt: str = Field(min_length=1, max_length=4000)
    size: Literal["256x256", "512x512", "1024x1024", "1792x1024", "1024x1792"] = "1024x1024"
    quality: Literal["standard", "hd"] = "standard"


class SubtitlesIn(BaseModel):
    audio_url: PublicUrl | None = Field(None, description="a public http(s) URL of audio or video")
    file_id: str | None = Field(None, min_length=1, max_length=ID_MAX, description="or one of your studio uploads")
    language: str | None = Field(None, pattern=r"^[a-z]{2,3}$", description="ISO-639-1 code (fr, en...)")


class MediaJobOut(BaseModel):
    """A media job: follow it at /api/jobs/{job_id} (≡ /api/studio/jobs/{job_id}) while it runs."""

    job_id: str
    status: JobStatus
    progress_pct: float
    error_message: str | None
    output: dict[str, Any] = Field(description="once it succeeded: `audio_url`; `urls` (images); `subtitles`, "
                                               "`srt_url`, `vtt_url`; `video_url` (compose)")

    @classmethod
    def of(cls, job: Job, output: dict[str, Any]) -> MediaJobOut:
        return cls(job_id=job.id, status=job.status, progress_pct=job.progress_pct, error_message=job.error_message,
                   output=output if job.status is JobStatus.SUCCESS else {})


TransitionType = Literal["none", "fade", "fadeblack", "fadewhite", "dissolve", "wipeleft", "wiperight", "slideleft",
                         "slideright"]


class TransitionIn(BaseModel):
    type: TransitionType = "fade"
    duration: float = Field(0.5, gt=0, le=5, description="seconds (ignored for `none`, a cut)")


class ClipIn(BaseModel):
    """A part of one of your uploads, named by `upload_id` or `url` (one of them is required)."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [{"required": ["upload_id"]}, {"required": ["url"]}]})

    # absent rather than null (the JSON Schema then says "a string, when given"), hence the ignores
    upload_id: str = Field(None, min_length=1, max_length=ID_MAX, description="one of your studio uploads")  # type: ignore[assignment]
    url: str = Field(None, min_length=1, max_length=2048, description="or its URL (/api/studio/uploads/{id})")  # type: ignore[assignment]
    start_time: float = Field(0.0, ge=0, le=86400, description="seconds into the upload")
    end_time: float = Field(gt=0, le=86400)

    @model_validator(mode="after")
    def _named(self) -> ClipIn:
        if self.upload_id is None and self.url is None:
            raise ValueError("give the clip's `upload_id` or `url`")
        return self


class ComposeIn(BaseModel):
    """Clips of your uploads joined with transitions (one for every join, or one per join), over optional music."""

    clips: list[ClipIn] = Field(min_length=1, max_length=20)
    transitions: list[TransitionIn | TransitionType] | TransitionType = Field(default_factory=list)
    music: str | None = Field(None, min_length=1, max_length=2048, description="an audio upload's id or URL")
    output_format: Literal["mp4", "webm"] = "mp4"


class StudioUploadForm(FormModel):
    file: UploadedFile


class StudioUploadOut(BaseModel):
    id: str
    filename: str
    url: str
    size: int
    mime_type: Literal["video/mp4", "video/quicktime", "video/webm", "video/x-matroska", "audio/mp4", "audio/mpeg",
                       "audio/wav", "audio/ogg", "audio/flac", "image/png", "image/jpeg", "image/gif", "image/webp"]
    created_at: str
