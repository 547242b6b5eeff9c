"""Any http(s) URL: fetched through the SafeFetcher, then read as HTML, text, Markdown, PDF or DOCX."""

from __future__ import annotations

from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from finetune_core.domain import Document, SourceType
from finetune_core.errors import SourceLoadError
from finetune_core.sources import sniff
from finetune_core.sources.base import FetchContext, LoadOptions, UrlLoader
from finetune_core.sources.docx import load_docx
from finetune_core.sources.fetch import FetchResult
from finetune_core.sources.html import decode_html, html_to_document
from finetune_core.sources.pdf import load_pdf
from finetune_core.sources.text import decode_or_fail, markdown_headings

_DECLARED_TEXT = {
    "text/html": sniff.HTML,
    "application/xhtml+xml": sniff.HTML,
    "text/plain": sniff.PLAIN,
    "text/markdown": sniff.MARKDOWN,
    "text/x-markdown": sniff.MARKDOWN,
}
_DOCUMENT_TYPES = {sniff.PDF, sniff.DOCX, sniff.HTML, sniff.PLAIN, sniff.MARKDOWN}


def matches(url: str) -> bool:
    parts = urlsplit(url.strip())
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def _mime(result: FetchResult) -> str:
    """Binary documents by their bytes; text by what the server declared, else by sniffing."""
    filename = unquote(PurePosixPath(urlsplit(result.final_url).path).name)
    sniffed = sniff.detect_mime(result.content, filename)
    if sniffed in (sniff.PDF, sniff.DOCX):
        return sniffed
    declared = _DECLARED_TEXT.get(result.content_type)
    if declared == sniff.PLAIN and sniffed in (sniff.MARKDOWN, sniff.HTML):
        return sniffed  # raw Markdown files are usually served as text/plain
    return declared or sniffed


def _read(result: FetchResult, mime: str, filename: str) -> Document:
    if mime == sniff.PDF:
        return load_pdf(result.content, LoadOptions(filename=filename))
    if mime == sniff.DOCX:
        return load_docx(result.content, LoadOptions(filename=filename))
    if mime == sniff.HTML:
        return html_to_document(decode_html(result.content, result.charset))
    text = decode_or_fail(result.content, "page")
    if mime == sniff.MARKDOWN:
        headings = markdown_headings(text)
        return Document(text=text, title=headings[0].title if headings else None, headings=headings)
    return Document(text=text)


def fetch_web(url: str, ctx: FetchContext) -> Document:
    result = ctx.fetcher.get(url)
    if not result.content.strip():
        raise SourceLoadError(f"the page at {result.final_url} is empty", url=url)
    mime = _mime(result)
    if mime not in _DOCUMENT_TYPES:
        raise SourceLoadError(
            f"the URL serves '{result.content_type or mime}', which is not a web page, text, PDF or DOCX",
            url=url, content_type=result.content_type,
        )
    filename = PurePosixPath(urlsplit(result.final_url).path).name
    document = _read(result, mime, filename)
    document.metadata.update(url=url, final_url=result.final_url, content_type=result.content_type or mime)
    return document


web_loader = UrlLoader(name="web", source_type=SourceType.WEBSITE, matches=matches, fetch=fetch_web)
