"""YouTube videos: the transcript, joined into paragraphs of about a minute.

This module is what the plugin registers (URL matching); the transcript is fetched by `youtube_fetch`,
imported on first use so that youtube-transcript-api and requests stay out of processes that never read a
video. Both take the video id and paragraphs from `youtube_parsing` (re-exported here).
"""

from __future__ import annotations

from finetune_core.domain import Document, SourceType
from finetune_core.sources.base import FetchContext, UrlLoader
from finetune_core.sources.youtube_parsing import HOSTS, video_id
from finetune_core.sources.youtube_parsing import paragraphs as paragraphs  # re-exported: its home until now


def matches(url: str) -> bool:
    return video_id(url) is not None


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
