"""What the YouTube source reads without the network: a video's id in its URL, and a transcript's paragraphs.

Shared by `youtube` (what the plugin registers) and `youtube_fetch` (the network side, imported on first use);
both import it, and `youtube_fetch` no longer imports `youtube`, so the two make no cycle.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from youtube_transcript_api import FetchedTranscriptSnippet

# SourceLoadError.error_code of a video that has no captions (none at all, or none in the languages asked for)
NO_CAPTIONS = "NO_CAPTIONS"
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


def paragraphs(snippets: Iterable[FetchedTranscriptSnippet]) -> list[str]:
    """Snippets joined into paragraphs: closed at a sentence end after a minute, or after 90 s regardless."""
    return timed_paragraphs((snippet.start, snippet.start + snippet.duration, snippet.text) for snippet in snippets)


def timed_paragraphs(pieces: Iterable[tuple[float, float, str]]) -> list[str]:
    """(start, end, text) pieces joined into paragraphs, as `paragraphs` joins caption snippets."""
    found: list[str] = []
    current: list[str] = []
    started: float | None = None
    for start, end, raw in pieces:
        text = " ".join(raw.split())
        if not text:
            continue
        started = start if started is None else started
        current.append(text)
        elapsed = end - started
        sentence_end = text.endswith(_SENTENCE_END)
        if (elapsed >= PARAGRAPH_SECONDS and sentence_end) or elapsed >= MAX_PARAGRAPH_SECONDS:
            found.append(" ".join(current))
            current, started = [], None
    if current:
        found.append(" ".join(current))
    return found
