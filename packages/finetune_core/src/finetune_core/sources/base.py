"""What a source plugin registers: file loaders by MIME type, URL loaders by pattern."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from finetune_core.domain import Document, RecordSet, SourceKind, SourceType

if TYPE_CHECKING:
    import requests

    from finetune_core.sources.fetch import SafeFetcher


@dataclass(frozen=True)
class LoadOptions:
    """Per-load settings a loader may honour."""

    filename: str = ""
    languages: tuple[str, ...] = ("en", "fr")
    max_uncompressed_bytes: int = 200 * 1024 * 1024  # zip-bomb guard for DOCX
    # a table file whose columns match no example column set is kept as a plain table (no examples) instead of
    # being refused: a dataset uploaded to be queried (dualqueryintelligence), not trained on
    tables: bool = False


@dataclass(frozen=True)
class FetchContext:
    """What a URL loader may use to reach the outside world: only these, never its own client."""

    fetcher: SafeFetcher
    languages: tuple[str, ...] = ("en", "fr")
    # youtube-transcript-api speaks `requests`; tests mount a fake YouTube on this session.
    requests_session: requests.Session | None = None


@dataclass(frozen=True)
class FileLoader:
    """Turns the bytes of one file into a Document (raw_doc) or a RecordSet (dataset_upload).

    When several loaders accept a MIME type, the highest `priority` wins, so a plugin
    can take over a type from a built-in (built-ins use 0).
    """

    name: str
    source_type: SourceType
    mime_types: tuple[str, ...]
    load: Callable[[bytes, LoadOptions], Document | RecordSet]
    kind: SourceKind = SourceKind.RAW_DOC
    priority: int = 0


@dataclass(frozen=True)
class UrlLoader:
    """Fetches a URL it `matches` into a Document; higher `priority` is tried first."""

    name: str
    source_type: SourceType
    matches: Callable[[str], bool]
    fetch: Callable[[str, FetchContext], Document]
    priority: int = 0
    hosts: tuple[str, ...] = field(default=())
