"""YouTube videos: the transcript, joined into paragraphs of about a minute.

This module is what the plugin registers (URL matching, paragraphs); the transcript is fetched by
`youtube_fetch`, imported on first use so that youtube-transcript-api and requests stay out of
processes that never read a video.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from finetune_core.domain import Document, SourceType
from finetune_core.sources.base import FetchContext, UrlLoader

if TYPE_CHECKING:
    from youtube_transcript_api import FetchedTranscriptSnippet

HOSTS = ("youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com", "youtu.be")
PARAGRAPH_SECONDS = 60.0
MAX_PARAGRAPH_SECONDS = 90.0

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


def fetch_youtube(url: str, ctx: FetchContext) -> Document:
    from finetune_core.sources.youtube_fetch import fetch_transcript

    return fetch_transcript(url, ctx)


youtube_loader = UrlLoader(
    name="youtube",
    source_type=SourceType.YOUTUBE,
    matches=matches,
    fetch=fetch_youtube,
    priority=10,
    hosts=HOSTS,
)
