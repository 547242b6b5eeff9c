"""Documents made on the spot: PDFs with fpdf2, DOCX files with python-docx, and bad files (corrupt, encrypted,
a zip bomb, an executable)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from typing import Any

import docx
from docx.document import Document as WordDocument
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from pypdf import PdfReader, PdfWriter

MB = 1024 * 1024


def build_pdf(pages: list[str], *, title: str | None = None, author: str | None = None) -> bytes:
    """A PDF with one page per string (an empty string gives a blank page)."""
    pdf = FPDF()
    if title:
        pdf.set_title(title)
    if author:
        pdf.set_author(author)
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        if text:
            pdf.multi_cell(0, 6, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())


def build_docx(fill: Callable[[WordDocument], None]) -> bytes:
    document = docx.Document()
    fill(document)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


# --- bad files ------------------------------------------------------------------------------------

def corrupt_pdf() -> bytes:
    return b"%PDF-1.7\nthis is not really a pdf at all"


def encrypted_pdf() -> bytes:
    data = build_pdf(["A page nobody may read without the password."])
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_zip_bomb() -> bytes:
    """A real DOCX plus 30 MB of zeros that compress to almost nothing."""
    def fill(document: Any) -> None:
        document.add_paragraph("An innocent looking document.")

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(build_docx(fill))) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info.filename))
        target.writestr("word/media/padding.bin", b"\0" * (30 * MB))
    return out.getvalue()


def elf_binary() -> bytes:
    """The header of a 64-bit Linux executable, then padding: clearly not a PDF."""
    header = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00\x01\x00\x00\x00"
    return header + bytes(range(256)) * 4
