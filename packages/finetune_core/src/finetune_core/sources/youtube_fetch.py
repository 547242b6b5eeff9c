"""Fetching a YouTube transcript with youtube-transcript-api, its failures turned into clear messages."""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import ParseError

import requests
from requests.adapters import HTTPAdapter
from youtube_transcript_api import (
    AgeRestricted,
    CouldNotRetrieveTranscript,
    InvalidVideoId,
    IpBlocked,
    NoTranscriptFound,
    PoTokenRequired,
    RequestBlocked,
    TranscriptsDisabled,
    VideoUnavailable,
    VideoUnplayable,
    YouTubeRequestFailed,
    YouTubeTranscriptApi,
    YouTubeTranscriptApiException,
)

from finetune_core.domain import Document
from finetune_core.errors import SourceLoadError
from finetune_core.sources.base import FetchContext
from finetune_core.sources.youtube_parsing import NO_CAPTIONS, paragraphs, video_id

REQUEST_TIMEOUT_S = 30.0


class _TimeoutAdapter(HTTPAdapter):
    """`requests` has no session-wide timeout; this gives every request one."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().send(request, *args, **kwargs)


def default_session() -> requests.Session:
    """A session whose every request has a timeout: what reaches YouTube when no test session is given."""
    session = requests.Session()
    adapter = _TimeoutAdapter(REQUEST_TIMEOUT_S)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _message(exc: YouTubeTranscriptApiException, languages: tuple[str, ...]) -> str:
    if isinstance(exc, TranscriptsDisabled):
        return "subtitles are disabled for this YouTube video, so it has no transcript"
    if isinstance(exc, NoTranscriptFound):
        return f"this YouTube video has no transcript in {', '.join(languages)}"
    if isinstance(exc, VideoUnavailable | InvalidVideoId):
        return "the YouTube video is unavailable (removed, private or a wrong id)"
    if isinstance(exc, AgeRestricted):
        return "the YouTube video is age-restricted; its transcript needs a signed-in account"
    if isinstance(exc, VideoUnplayable):
        return f"the YouTube video cannot be played: {exc.reason or 'no reason given'}"
    if isinstance(exc, IpBlocked | RequestBlocked):
        return "YouTube is refusing requests from this server's IP address; try again later or use a proxy"
    if isinstance(exc, PoTokenRequired):
        return "YouTube requires a proof-of-origin token for this transcript; it cannot be fetched"
    if isinstance(exc, YouTubeRequestFailed):
        return f"the request to YouTube failed: {exc.reason}"
    if isinstance(exc, CouldNotRetrieveTranscript):
        return f"could not retrieve the transcript: {exc.cause or type(exc).__name__}"
    return f"could not retrieve the transcript ({type(exc).__name__})"


def fetch_transcript(url: str, ctx: FetchContext) -> Document:
    vid = video_id(url)
    if vid is None:
        raise SourceLoadError(f"'{url}' is not a YouTube video URL", url=url)
    api = YouTubeTranscriptApi(http_client=ctx.requests_session or default_session())
    try:
        transcript = api.fetch(vid, languages=ctx.languages)
    except YouTubeTranscriptApiException as exc:
        captionless = isinstance(exc, TranscriptsDisabled | NoTranscriptFound)
        raise SourceLoadError(_message(exc, ctx.languages), error_code=NO_CAPTIONS if captionless else None,
                              url=url, video_id=vid) from None
    except requests.RequestException as exc:
        raise SourceLoadError(f"could not reach YouTube: {exc}", url=url, video_id=vid) from None
    except (ParseError, ValueError, KeyError) as exc:
        raise SourceLoadError(f"YouTube answered with data that could not be read ({exc})", url=url) from None
    blocks = paragraphs(transcript.snippets)
    if not blocks:
        raise SourceLoadError("the transcript of this YouTube video is empty", url=url, video_id=vid)
    last = transcript.snippets[-1]
    return Document(
        text="\n\n".join(blocks),
        language=transcript.language_code.split("-")[0].lower() or None,
        metadata={
            "url": url,
            "video_id": vid,
            "transcript_language": transcript.language,
            "transcript_language_code": transcript.language_code,
            "transcript_generated": transcript.is_generated,
            "duration_s": round(last.start + last.duration, 1),
        },
    )
