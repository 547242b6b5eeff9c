"""Media jobs (crealia): a voice-over, an image, subtitles; each a job of the owner's "Studio" project.

Each owner gets one project for their media, made on first use and marked `config.purpose = "studio"`, so
the jobs and the files belong to the owner as everything else does (services/tenancy.py): another user's job
answers NotFoundError. Files sit under `{project_id}/studio/` in the workspace file store, so deleting the
project (or the account) removes them.

Which model answers is `finetune_core.media`'s setting for its kind; none configured → ModelUnavailableError
NO_MODEL_CONFIGURED (503) before a job is stored. A job's `result_summary` names its files (`files`: kind →
file name) and, for subtitles, the segments; the web layer turns them into URLs.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from finetune_core.domain import Job, JobStatus
from finetune_core.errors import InvalidInputError, NotFoundError
from finetune_core.media import (
    ImageModel,
    MediaKind,
    MediaModel,
    MediaOptions,
    Segment,
    SpeechModel,
    TranscriptionModel,
    media_model_class,
)
from finetune_core.services import jobs
from finetune_core.services import keys as keys_service
from finetune_core.services.studio_space import (
    PROJECT_NAME as PROJECT_NAME,
)
from finetune_core.services.studio_space import PURPOSE as PURPOSE
from finetune_core.services.studio_space import is_studio as is_studio
from finetune_core.services.studio_space import job_file_key as job_file_key
from finetune_core.services.studio_space import studio_prefix as studio_prefix
from finetune_core.services.studio_space import studio_project as studio_project
from finetune_core.services.tenancy import owned_job
from finetune_core.sources.fetch import SafeFetcher, check_url

if TYPE_CHECKING:
    from finetune_core.jobs.context import JobContext
    from finetune_core.ports import WorkspacePort

MB = 1024 * 1024
VOICE_JOB, IMAGE_JOB, SUBTITLES_JOB = "media_voice", "media_image", "media_subtitles"
MEDIA_JOBS = (VOICE_JOB, IMAGE_JOB, SUBTITLES_JOB)
MAX_AUDIO_FETCH_BYTES = 100 * MB
SUFFIX = re.compile(r"\.[a-z0-9]{1,5}")
AUDIO_FILE, IMAGE_FILE = "audio.mp3", "image.png"
SUBTITLE_FILES = {"json": "subtitles.json", "srt": "subtitles.srt", "vtt": "subtitles.vtt"}
MIME_TYPES = {"mp3": "audio/mpeg", "png": "image/png", "srt": "application/x-subrip", "vtt": "text/vtt",
              "json": "application/json", "mp4": "video/mp4", "webm": "video/webm"}


# --- models -----------------------------------------------------------------------------------------------------

def _model(workspace: WorkspacePort, kind: MediaKind, owner_id: str | None) -> MediaModel:
    model_class = media_model_class(kind)
    key = None
    if model_class.key_provider is not None:
        key = keys_service.resolve_key(workspace, model_class.key_provider, owner_id=owner_id)
    return model_class(MediaOptions(api_key=key))


def _owner_of(workspace: WorkspacePort, project_id: str) -> str | None:
    with workspace.unit_of_work() as uow:
        return uow.projects.get(project_id).owner_id


# --- starting jobs ----------------------------------------------------------------------------------------------

def start_voice(workspace: WorkspacePort, owner_id: str | None, *, text: str, voice: str, speed: float) -> Job:
    media_model_class("speech")  # 503 now rather than a failed job
    project = studio_project(workspace, owner_id)
    assert project is not None
    return jobs.enqueue(workspace, VOICE_JOB, project_id=project.id, text=text, voice=voice, speed=speed)


def start_image(workspace: WorkspacePort, owner_id: str | None, *, prompt: str, size: str, quality: str) -> Job:
    media_model_class("image")
    project = studio_project(workspace, owner_id)
    assert project is not None
    return jobs.enqueue(workspace, IMAGE_JOB, project_id=project.id, prompt=prompt, size=size, quality=quality)


def start_subtitles(workspace: WorkspacePort, owner_id: str | None, *, audio_url: str | None = None,
                    upload_id: str | None = None, language: str | None = None) -> Job:
    """Subtitles of a public audio/video URL (refused at once when not allowed: 400 URL_NOT_ALLOWED) or of one
    of the owner's studio uploads (another's: 404)."""
    if (audio_url is None) == (upload_id is None):
        raise InvalidInputError("give either `audio_url` or `file_id`")
    media_model_class("transcription")
    if audio_url is not None:
        audio_url = check_url(audio_url, allow_loopback=workspace.settings.allow_loopback_urls)
    else:
        from finetune_core.services import studio  # studio imports this module

        assert upload_id is not None
        studio.owned_upload(workspace, owner_id, upload_id)
    project = studio_project(workspace, owner_id)
    assert project is not None
    return jobs.enqueue(workspace, SUBTITLES_JOB, project_id=project.id, audio_url=audio_url, upload_id=upload_id,
                        language=language)


# --- the jobs ---------------------------------------------------------------------------------------------------

def voice_job(context: JobContext, *, project_id: str, text: str, voice: str, speed: float) -> dict[str, Any]:
    workspace = context.workspace
    model = _model(workspace, "speech", _owner_of(workspace, project_id))
    assert isinstance(model, SpeechModel)
    context.progress(0, 1, f"speaking {len(text)} characters with {model.name}", force=True)
    audio = model.synthesize(text, voice, speed)
    workspace.files.put(job_file_key(jobs.get_job(workspace, context.job_id), AUDIO_FILE), audio)
    return {"model": model.name, "files": {"audio": AUDIO_FILE}, "bytes": len(audio)}


def image_job(context: JobContext, *, project_id: str, prompt: str, size: str, quality: str) -> dict[str, Any]:
    workspace = context.workspace
    model = _model(workspace, "image", _owner_of(workspace, project_id))
    assert isinstance(model, ImageModel)
    context.progress(0, 1, f"drawing with {model.name}", force=True)
    image = model.generate(prompt, size, quality)
    workspace.files.put(job_file_key(jobs.get_job(workspace, context.job_id), IMAGE_FILE), image)
    return {"model": model.name, "files": {"image": IMAGE_FILE}, "bytes": len(image)}


def subtitles_job(context: JobContext, *, project_id: str, audio_url: str | None = None, upload_id: str | None = None,
                  language: str | None = None) -> dict[str, Any]:
    workspace = context.workspace
    owner_id = _owner_of(workspace, project_id)
    model = _model(workspace, "transcription", owner_id)
    assert isinstance(model, TranscriptionModel)
    with tempfile.TemporaryDirectory(prefix="finetune-subtitles-") as folder:
        if audio_url is not None:
            context.progress(0, 2, "fetching the audio", force=True)
            audio = _fetched(workspace, audio_url, Path(folder))
        else:
            from finetune_core.services import studio

            assert upload_id is not None
            audio = studio.upload_path(workspace, studio.owned_upload(workspace, owner_id, upload_id))
        context.check_cancel()
        context.progress(1, 2, f"transcribing with {model.name}", force=True)
        segments = model.transcribe(audio, language)
    job = jobs.get_job(workspace, context.job_id)
    workspace.files.put(job_file_key(job, SUBTITLE_FILES["json"]),
                        json.dumps([segment.as_dict() for segment in segments]).encode())
    workspace.files.put(job_file_key(job, SUBTITLE_FILES["srt"]), to_srt(segments).encode())
    workspace.files.put(job_file_key(job, SUBTITLE_FILES["vtt"]), to_vtt(segments).encode())
    return {"model": model.name, "subtitles": [segment.as_dict() for segment in segments],
            "files": {name: file for name, file in SUBTITLE_FILES.items()}}


def _fetched(workspace: WorkspacePort, url: str, folder: Path) -> Path:
    settings = workspace.settings
    fetcher = SafeFetcher(allow_loopback=settings.allow_loopback_urls, max_bytes=MAX_AUDIO_FETCH_BYTES,
                          timeout=max(settings.fetch_timeout_s, 120.0), transport=workspace.http_transport)
    result = fetcher.get(url)
    suffix = PurePosixPath(result.final_url.split("?", 1)[0]).suffix.lower()
    path = folder / ("audio" + (suffix if SUFFIX.fullmatch(suffix) else ".mp3"))
    path.write_bytes(result.content)
    return path


# --- subtitle formats -------------------------------------------------------------------------------------------

def _timestamp(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def to_srt(segments: list[Segment]) -> str:
    blocks = [f"{index}\n{_timestamp(item.start, ',')} --> {_timestamp(item.end, ',')}\n{item.text}\n"
              for index, item in enumerate(segments, start=1)]
    return "\n".join(blocks)


def to_vtt(segments: list[Segment]) -> str:
    # a cue's text may not hold "-->"; a blank line would end it
    blocks = [f"{_timestamp(item.start, '.')} --> {_timestamp(item.end, '.')}\n"
              f"{' '.join(item.text.replace('-->', '→').split())}\n" for item in segments]
    return "WEBVTT\n\n" + "\n".join(blocks)


# --- reading results --------------------------------------------------------------------------------------------

def media_job(workspace: WorkspacePort, owner_id: str | None, job_id: str, type: str) -> Job:
    """The owner's media job of `type`; NotFoundError for another user's, or another type."""
    job = owned_job(workspace, job_id, owner_id)
    if job.type != type:
        raise NotFoundError(f"job '{job_id}' not found", job_id=job_id)
    return job


def job_file(workspace: WorkspacePort, owner_id: str | None, job_id: str, type: str, name: str) -> Path:
    """The local path of a finished media job's file; NotFoundError until the job has succeeded."""
    job = media_job(workspace, owner_id, job_id, type)
    key = job_file_key(job, name)
    if job.status is not JobStatus.SUCCESS or not workspace.files.exists(key):
        raise NotFoundError(f"job '{job_id}' has no {name} (yet): it is {job.status.value}",
                            error_code="NO_STORED_FILE", job_id=job_id)
    return workspace.files.local_path(key)
