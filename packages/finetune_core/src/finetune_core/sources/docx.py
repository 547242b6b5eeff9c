"""Word (.docx) files: body paragraphs and tables in order, headings and list items marked.

python-docx (and lxml under it, ~7 MB resident) is imported when a DOCX is actually read, so a
process that never reads one (a training job, the CLI) does not carry it.
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import TYPE_CHECKING

from finetune_core.domain import Document, SourceType
from finetune_core.errors import SourceLoadError
from finetune_core.sources.base import FileLoader, LoadOptions
from finetune_core.sources.sniff import DOCX
from finetune_core.sources.text import DocumentBuilder

if TYPE_CHECKING:
    from docx.document import Document as WordDocument
    from docx.styles.style import ParagraphStyle
    from docx.table import Table
    from docx.text.paragraph import Paragraph

MB = 1024 * 1024
MAX_MEMBERS = 10_000
# Deflate tops out near 1032:1; real DOCX parts stay far below, zip bombs sit near the top.
MAX_RATIO = 500
RATIO_MIN_BYTES = 1 * MB

_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)


def check_archive(data: bytes, max_uncompressed_bytes: int) -> None:
    """Refuse what is not a DOCX, or what would expand beyond the limit, before any XML is parsed."""
    if not data.strip():
        raise SourceLoadError("the DOCX file is empty")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            if len(members) > MAX_MEMBERS:
                raise SourceLoadError(f"the DOCX has {len(members)} parts; at most {MAX_MEMBERS} are allowed")
            if "word/document.xml" not in {member.filename for member in members}:
                raise SourceLoadError("the file is not a DOCX document (word/document.xml is missing)")
            # Enough on its own: zipfile never inflates a member past its declared size.
            _check_declared_sizes(members, max_uncompressed_bytes)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError,
            NotImplementedError) as exc:
        raise SourceLoadError(f"the file is not a valid DOCX (damaged zip archive: {exc})") from None


def _too_large(limit: int) -> SourceLoadError:
    return SourceLoadError(
        f"the DOCX expands to more than {limit // MB or 1} MB when unzipped (a possible zip bomb); refused",
        max_uncompressed_bytes=limit,
    )


def _check_declared_sizes(members: list[zipfile.ZipInfo], limit: int) -> None:
    if sum(member.file_size for member in members) > limit:
        raise _too_large(limit)
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > RATIO_MIN_BYTES and ratio > MAX_RATIO:
            raise SourceLoadError(
                f"the DOCX part '{member.filename}' is compressed {ratio:.0f}:1, "
                "which only a zip bomb does; refused"
            )


def _heading_level(style: ParagraphStyle | None) -> int | None:
    seen = 0
    while style is not None and seen < 10:
        name = (style.name or "").strip()
        if name.lower() == "title":
            return 1
        match = _HEADING_STYLE.match(name)
        if match:
            return min(int(match.group(1)), 6)
        style, seen = style.base_style, seen + 1
    return None


def _is_list_item(paragraph: Paragraph) -> bool:
    properties = paragraph._p.pPr
    if properties is not None and properties.numPr is not None:
        return True
    name = (paragraph.style.name if paragraph.style is not None else "") or ""
    return name.lower().startswith("list")


def _table_rows(table: Table) -> list[str]:
    rows = []
    for row in table.rows:
        cells: list[str] = []
        seen: set[int] = set()
        for cell in row.cells:
            if id(cell._tc) in seen:  # a merged cell is returned once per grid column it spans
                continue
            seen.add(id(cell._tc))
            cells.append(" ".join(cell.text.split()))
        if any(cells):
            rows.append(" | ".join(cells))
    return rows


def _render(document: WordDocument) -> tuple[DocumentBuilder, str | None]:
    from docx.table import Table

    builder = DocumentBuilder()
    title: str | None = None
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            builder.paragraph("\n".join(_table_rows(item)))
            continue
        text = item.text.strip()
        if not text:
            continue
        level = _heading_level(item.style)
        if level is not None:
            builder.heading(level, text)
            if title is None and item.style is not None and (item.style.name or "").lower() == "title":
                title = " ".join(text.split())
        elif _is_list_item(item):
            builder.list_item(text)
        else:
            builder.paragraph(text)
    return builder, title


def load_docx(data: bytes, options: LoadOptions) -> Document:
    check_archive(data, options.max_uncompressed_bytes)
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
        builder, styled_title = _render(document)
        properties = document.core_properties
        title = (properties.title or "").strip() or styled_title
        author = (properties.author or "").strip()
    # python-docx and lxml raise many exception types on malformed parts; any means the file is damaged.
    except Exception as exc:
        raise SourceLoadError(f"the DOCX document is damaged ({type(exc).__name__}: {exc})") from None
    if not builder.text.strip():
        raise SourceLoadError("the DOCX document contains no text")
    if title is None and builder.headings:
        title = builder.headings[0].title
    metadata = {"author": author} if author else {}
    return Document(text=builder.text, title=title, headings=builder.headings, metadata=metadata)


docx_loader = FileLoader(name="docx", source_type=SourceType.DOCX, mime_types=(DOCX,), load=load_docx)
