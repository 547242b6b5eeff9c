"""YouTube videos: the transcript, joined into paragraphs of about a minute."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.etree.ElementTree import ParseError

import requests
from requests.adapters import HTTPAdapter
from youtube_transcript_api import (
    AgeRestricted,
    CouldNotRetrieveTranscript,
    FetchedTranscriptSnippet,
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

from finetune_core.domain import Document, SourceType
from finetune_core.errors import SourceLoadError
from finetune_core.sources.base import FetchContext, UrlLoader

HOSTS = ("youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com", "youtu.be")
PARAGRAPH_SECONDS = 60.0
MAX_PARAGRAPH_SECONDS = 90.0
REQUEST_TIMEOUT_S = 30.0

_VIDEO_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
_PATH_PREFIXES = ("shorts", "embed", "live", "v")
_SENTENCE_END = (".", "!", "?", "…", '."', '?"', '!"')


def video_id(url: str) -> str | None:
    """The 11-character id in a watch, youtu.be, shorts, embed or live URL, or None."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if parts.scheme.lower() not in ("http", "https") or host not in HOSTS:
        return None
    segments = [segment for segment in parts.path.split("/") if segment]
    if host == "youtu.be":
        candidate = segments[0] if segments else ""
    elif segments == ["watch"]:
        candidate = parse_qs(parts.query).get("v", [""])[0]
    elif len(segments) >= 2 and segments[0] in _PATH_PREFIXES:
        candidate = segments[1]
    else:
        return None
    return candidate if _VIDEO_ID.match(candidate) else None


def matches(url: str) -> bool:
    return video_id(url) is not None


class _TimeoutAdapter(HTTPAdapter):
    """`requests` has no session-wide timeout; this gives every request one."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().send(request, *args, **kwargs)


def _default_session() -> requests.Session:
    session = requests.Session()
    adapter = _TimeoutAdapter(REQUEST_TIMEOUT_S)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def paragraphs(snippets: Iterable[FetchedTranscriptSnippet]) -> list[str]:
    """Snippets joined into paragraphs: closed at a sentence end after a minute, or after 90 s regardless."""
    found: list[str] = []
    current: list[str] = []
    started: float | None = None
    for snippet in snippets:
        text = " ".join(snippet.text.split())
        if not text:
            continue
        started = snippet.start if started is None else started
        current.append(text)
        elapsed = snippet.start + snippet.duration - started
        sentence_end = text.endswith(_SENTENCE_END)
        if (elapsed >= PARAGRAPH_SECONDS and sentence_end) or elapsed >= MAX_PARAGRAPH_SECONDS:
            found.append(" ".join(current))
            current, started = [], None
    if current:
        found.append(" ".join(current))
    return found


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


def fetch_youtube(url: str, ctx: FetchContext) -> Document:
    vid = video_id(url)
    if vid is None:
        raise SourceLoadError(f"'{url}' is not a YouTube video URL", url=url)
    api = YouTubeTranscriptApi(http_client=ctx.requests_session or _default_session())
    try:
        transcript = api.fetch(vid, languages=ctx.languages)
    except YouTubeTranscriptApiException as exc:
        raise SourceLoadError(_message(exc, ctx.languages), url=url, video_id=vid) from None
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


youtube_loader = UrlLoader(
    name="youtube",
    source_type=SourceType.YOUTUBE,
    matches=matches,
    fetch=fetch_youtube,
    priority=10,
    hosts=HOSTS,
)
