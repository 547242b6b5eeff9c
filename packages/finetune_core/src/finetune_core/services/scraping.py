"""Synchronous helpers (fintune-platform): a web page's text and a video's transcript, through the URL loaders.

Nothing is stored. The page goes through the same SSRF-safe fetcher as URL sources (scheme and
address checked at once, then on every redirect); the transcript through the loader of a video
host, which reaches only that host. A YouTube video without captions is transcribed from its audio
by the transcription model FINETUNE_TRANSCRIPTION_MODEL names (`finetune_core.media`), when one is set:
its smallest audio-only stream (`sources.youtube_audio`), within the model's size limit and a duration bound.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from finetune_core.domain import Document, SourceType
from finetune_core.errors import InvalidInputError, SourceLoadError
from finetune_core.media import (
    SETTINGS,
    MediaOptions,
    TranscriptionModel,
    configured_name,
    installed,
    media_model_class,
)
from finetune_core.services import keys as keys_service
from finetune_core.services.sources import fetch_context
from finetune_core.sources.base import FetchContext, UrlLoader
from finetune_core.sources.fetch import MB, SafeFetcher, check_url
from finetune_core.sources.youtube_parsing import NO_CAPTIONS, timed_paragraphs, video_id

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort

CAPTIONS_SOURCE = "youtube_transcript_api"
SPEECH_SOURCE = "whisper"  # the video's speech, transcribed by the configured transcription model
# OpenAI's upload limit: the size a transcription model takes unless it declares `max_audio_bytes`
DEFAULT_MAX_AUDIO_BYTES = 25 * MB
MAX_SPEECH_SECONDS = 60 * 60.0  # the answer is synchronous: longer videos would outlast any HTTP client
AUDIO_FETCH_TIMEOUT_S = 120.0


class ScrapedPage(BaseModel):
    url: str
    final_url: str | None
    title: str | None
    content: str
    paragraphs: list[str]


class Transcript(BaseModel):
    url: str
    video_id: str | None
    transcript: str
    paragraphs: list[str]
    language: str | None
    source: str  # where the text came from: the video's captions, or its speech


def _loader(workspace: WorkspacePort, url: str, source_type: SourceType) -> UrlLoader | None:
    loaders = sorted((item for item in workspace.plugins.sources
                      if isinstance(item, UrlLoader) and item.source_type is source_type),
                     key=lambda loader: -loader.priority)
    return next((loader for loader in loaders if loader.matches(url)), None)


def _paragraphs(document: Document) -> list[str]:
    return [" ".join(block.split()) for block in document.text.split("\n\n") if block.strip()]


def scrape_web(workspace: WorkspacePort, url: str) -> ScrapedPage:
    """The title and text of a web page (or a PDF, DOCX, text file served at that URL)."""
    check_url(url, allow_loopback=workspace.settings.allow_loopback_urls)
    loader = _loader(workspace, url, SourceType.WEBSITE)
    if loader is None:
        raise InvalidInputError(f"no installed loader reads web pages at '{url}'", url=url)
    document = loader.fetch(url, fetch_context(workspace))
    paragraphs = _paragraphs(document)
    if not paragraphs:
        raise SourceLoadError("no text could be extracted from this page", url=url)
    final_url = document.metadata.get("final_url")
    return ScrapedPage(url=url, final_url=final_url if isinstance(final_url, str) else None, title=document.title,
                       content="\n\n".join(paragraphs), paragraphs=paragraphs)


def video_transcript(workspace: WorkspacePort, url: str, owner_id: str | None = None) -> Transcript:
    """The captions of a video as text, else its speech transcribed; SourceLoadError when neither can be had.

    `owner_id` chooses whose stored provider key the transcription model is called with.
    """
    loader = _loader(workspace, url, SourceType.YOUTUBE)
    if loader is None:
        raise InvalidInputError(f"'{url}' is not the URL of a video this server can read (YouTube)", url=url)
    if not loader.hosts:  # a loader not bound to its own hosts fetches anything: check the URL like any other
        check_url(url, allow_loopback=workspace.settings.allow_loopback_urls)
    ctx = fetch_context(workspace)
    try:
        document = loader.fetch(url, ctx)
    except SourceLoadError as error:
        vid = video_id(url)
        if error.error_code != NO_CAPTIONS or vid is None:
            raise
        return _transcribed(workspace, url, vid, ctx, owner_id, error)
    vid = document.metadata.get("video_id")
    return Transcript(url=url, video_id=vid if isinstance(vid, str) else None,
                      transcript=document.text, paragraphs=_paragraphs(document), language=document.language,
                      source=CAPTIONS_SOURCE)


def _speech_model(workspace: WorkspacePort, owner_id: str | None) -> TranscriptionModel:
    """The configured transcription model, with the owner's key; 503 NO_MODEL_CONFIGURED when it is not installed."""
    model_class = media_model_class("transcription")
    key = None
    if model_class.key_provider is not None:
        key = keys_service.resolve_key(workspace, model_class.key_provider, owner_id=owner_id)
    model = model_class(MediaOptions(api_key=key))
    assert isinstance(model, TranscriptionModel)
    return model


def _transcribed(workspace: WorkspacePort, url: str, vid: str, ctx: FetchContext, owner_id: str | None,
                 no_captions: SourceLoadError) -> Transcript:
    """The speech of a captionless YouTube video, through the configured transcription model."""
    setting = SETTINGS["transcription"]
    if configured_name("transcription") is None:
        models = installed("transcription")
        raise SourceLoadError(
            f"{no_captions.message}; no speech-to-text model is configured to transcribe its audio instead: set "
            f"{setting} to one of the installed transcription models ({', '.join(models) or 'none installed'})",
            url=url, video_id=vid, setting=setting, installed=models)
    model = _speech_model(workspace, owner_id)
    settings = workspace.settings
    fetcher = SafeFetcher(allow_loopback=settings.allow_loopback_urls,
                          max_bytes=int(getattr(model, "max_audio_bytes", DEFAULT_MAX_AUDIO_BYTES)),
                          timeout=max(settings.fetch_timeout_s, AUDIO_FETCH_TIMEOUT_S),
                          transport=workspace.http_transport)
    from finetune_core.sources.youtube_audio import fetch_audio  # requests and youtube-transcript-api: on first use
    from finetune_core.sources.youtube_fetch import default_session

    try:
        audio = fetch_audio(vid, ctx.requests_session or default_session(), fetcher, max_seconds=MAX_SPEECH_SECONDS)
    except SourceLoadError as error:
        context = {**error.context, "url": url}
        raise SourceLoadError(f"{no_captions.message}, and speech-to-text cannot be done: {error.message}",
                              **context) from None
    with tempfile.TemporaryDirectory(prefix="finetune-video-audio-") as folder:
        path = Path(folder) / f"audio{audio.stream.suffix}"
        path.write_bytes(audio.content)
        segments = model.transcribe(path, audio.stream.language)
    paragraphs = timed_paragraphs((segment.start, segment.end, segment.text) for segment in segments)
    if not paragraphs:
        raise SourceLoadError(f"{no_captions.message}, and no speech was heard in its audio", url=url, video_id=vid)
    return Transcript(url=url, video_id=vid, transcript="\n\n".join(paragraphs), paragraphs=paragraphs,
                      language=audio.stream.language, source=SPEECH_SOURCE)
