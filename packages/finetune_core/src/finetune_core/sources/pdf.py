"""PDF files: the text layer page by page, with page spans for provenance."""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING, Any

from finetune_core.domain import Document, PageSpan, SourceType
from finetune_core.errors import SourceLoadError
from finetune_core.sources.base import FileLoader, LoadOptions
from finetune_core.sources.sniff import PDF

if TYPE_CHECKING:
    from pypdf import PdfReader

PAGE_SEPARATOR = "\n\n"

_log = logging.getLogger(__name__)


def _open(data: bytes) -> PdfReader:
    # imported here: pypdf costs a quarter second, paid only when a PDF is actually read
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    if not data.strip():
        raise SourceLoadError("the PDF file is empty")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise SourceLoadError("the PDF is password-protected")
        _ = len(reader.pages)  # reads the page tree, where most damage shows up
    except SourceLoadError:
        raise
    except (FileNotDecryptedError, DependencyError):
        raise SourceLoadError("the PDF is password-protected or uses an unreadable encryption") from None
    # pypdf raises many exception types on malformed input; any of them means the same to the user.
    except Exception as exc:
        raise SourceLoadError(f"the PDF is damaged or not a PDF ({type(exc).__name__}: {exc})") from None
    return reader


def _page_texts(reader: PdfReader) -> tuple[list[str], int]:
    texts: list[str] = []
    failed = 0
    for number, page in enumerate(reader.pages, start=1):
        try:
            raw = page.extract_text()
        except Exception as exc:  # as in _open: one unreadable page must not lose the others
            _log.warning("pdf page %d: text extraction failed: %s", number, exc)
            raw, failed = "", failed + 1
        lines = (line.rstrip() for line in raw.replace("\x00", "").replace("\r\n", "\n").split("\n"))
        texts.append("\n".join(lines).strip())
    return texts, failed


def _info(reader: PdfReader) -> dict[str, Any]:
    try:
        info = reader.metadata
    except Exception:  # a broken Info dictionary must not lose the text
        return {}
    if info is None:
        return {}
    found = {"title": info.title, "author": info.author, "subject": info.subject}
    return {key: str(value).strip() for key, value in found.items() if value and str(value).strip()}


def load_pdf(data: bytes, options: LoadOptions) -> Document:
    reader = _open(data)
    texts, failed = _page_texts(reader)
    parts: list[str] = []
    pages: list[PageSpan] = []
    length = 0
    for number, page_text in enumerate(texts, start=1):
        if not page_text:
            continue
        if parts:
            parts.append(PAGE_SEPARATOR)
            length += len(PAGE_SEPARATOR)
        pages.append(PageSpan(number=number, start=length, end=length + len(page_text)))
        parts.append(page_text)
        length += len(page_text)
    if not pages:
        raise SourceLoadError("the PDF has no text layer; scanned PDFs need OCR")
    info = _info(reader)
    metadata: dict[str, Any] = {"page_count": len(texts)}
    metadata.update({key: info[key] for key in ("author", "subject") if key in info})
    if failed:
        metadata["pages_failed"] = failed
    return Document(text="".join(parts), title=info.get("title"), pages=pages, metadata=metadata)


pdf_loader = FileLoader(name="pdf", source_type=SourceType.PDF, mime_types=(PDF,), load=load_pdf)
