"""The built-in sources plugin registers every loader under its fixed name and MIME types."""

from __future__ import annotations

from typing import Any

from finetune_core.domain import SourceKind, SourceType
from finetune_core.sources import plugin
from finetune_core.sources.base import FileLoader, UrlLoader
from finetune_core.sources.sniff import detect_mime


def _registered() -> dict[str, Any]:
    items: list[Any] = []
    plugin.finetune_register_sources(items.append)
    names = [item.name for item in items]
    assert len(names) == len(set(names))
    return {item.name: item for item in items}


def test_file_loaders() -> None:
    loaders = _registered()
    expected = {
        "pdf": (SourceType.PDF, "application/pdf", SourceKind.RAW_DOC),
        "docx": (SourceType.DOCX, "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                 SourceKind.RAW_DOC),
        "text": (SourceType.TEXT, "text/plain", SourceKind.RAW_DOC),
        "markdown": (SourceType.MARKDOWN, "text/markdown", SourceKind.RAW_DOC),
        "html": (SourceType.HTML, "text/html", SourceKind.RAW_DOC),
        "csv": (SourceType.CSV, "text/csv", SourceKind.DATASET_UPLOAD),
        "jsonl": (SourceType.JSONL, "application/jsonl", SourceKind.DATASET_UPLOAD),
        "json": (SourceType.JSON, "application/json", SourceKind.DATASET_UPLOAD),
    }
    for name, (source_type, mime, kind) in expected.items():
        loader = loaders[name]
        assert isinstance(loader, FileLoader)
        assert (loader.source_type, loader.mime_types, loader.kind) == (source_type, (mime,), kind)


def test_url_loaders() -> None:
    loaders = _registered()
    web, youtube = loaders["web"], loaders["youtube"]
    assert isinstance(web, UrlLoader) and isinstance(youtube, UrlLoader)
    assert (web.source_type, youtube.source_type) == (SourceType.WEBSITE, SourceType.YOUTUBE)
    assert youtube.priority > web.priority
    video = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    assert youtube.matches(video) and web.matches(video)  # priority decides: YouTube is tried first
    assert not youtube.matches("https://example.org/")


def test_every_detected_text_type_has_a_loader() -> None:
    loaders = [item for item in _registered().values() if isinstance(item, FileLoader)]
    mimes = {mime for loader in loaders for mime in loader.mime_types}
    samples = [b"%PDF-1.4", b"plain words\n", b"# Title\n\n[a](https://b.c)\n", b"<!DOCTYPE html><html>",
               b"a,b\n1,2\n3,4\n", b'{"a": 1}\n{"a": 2}\n', b'[{"a": 1}]']
    assert {detect_mime(data) for data in samples} <= mimes
