"""Synchronous helpers (fintune-platform): a web page's text and a video's transcript, through the URL loaders.

Nothing is stored. The page goes through the same SSRF-safe fetcher as URL sources (scheme and
address checked at once, then on every redirect); the transcript through the loader of a video
host, which reaches only that host. A video without captions has no transcript: speech-to-text
is not done here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from finetune_core.domain import Document, SourceType
from finetune_core.errors import InvalidInputError, SourceLoadError
from finetune_core.services.sources import fetch_context
from finetune_core.sources.base import UrlLoader
from finetune_core.sources.fetch import check_url

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort

CAPTIONS_SOURCE = "youtube_transcript_api"


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
    source: str  # where the text came from: the video's captions


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


def video_transcript(workspace: WorkspacePort, url: str) -> Transcript:
    """The captions of a video as text; SourceLoadError when it has none (or they cannot be read)."""
    loader = _loader(workspace, url, SourceType.YOUTUBE)
    if loader is None:
        raise InvalidInputError(f"'{url}' is not the URL of a video this server can read (YouTube)", url=url)
    if not loader.hosts:  # a loader not bound to its own hosts fetches anything: check the URL like any other
        check_url(url, allow_loopback=workspace.settings.allow_loopback_urls)
    document = loader.fetch(url, fetch_context(workspace))
    video_id = document.metadata.get("video_id")
    return Transcript(url=url, video_id=video_id if isinstance(video_id, str) else None,
                      transcript=document.text, paragraphs=_paragraphs(document), language=document.language,
                      source=CAPTIONS_SOURCE)
