"""DOCX loader: body order with tables, headings with offsets, list items, and zip-bomb refusal."""

from __future__ import annotations

import io
import random
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from docx.document import Document as WordDocument
from finetune_core.errors import SourceLoadError
from finetune_core.sources.base import LoadOptions
from finetune_core.sources.docx import load_docx

MB = 1024 * 1024
OPTIONS = LoadOptions(filename="doc.docx")
Builder = Callable[[Callable[[WordDocument], None]], bytes]


def _handbook(document: WordDocument) -> None:
    document.core_properties.title = "Bakery Handbook"
    document.core_properties.author = "Head Baker"
    document.add_heading("Bakery Handbook", level=0)
    document.add_paragraph("Welcome to the bakery.")
    document.add_heading("Ingredients", level=1)
    document.add_paragraph("Flour is the main ingredient.")
    document.add_paragraph("Bread flour", style="List Bullet")
    document.add_paragraph("Water", style="List Number")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Ingredient", "Grams"
    table.cell(1, 0).text, table.cell(1, 1).text = "Salt", "10"
    document.add_heading("Method", level=2)
    document.add_paragraph("Mix, rest, shape and bake.")


def _rezip(data: bytes, extra: dict[str, bytes] | None = None, replace: dict[str, bytes] | None = None
           ) -> bytes:
    out = io.BytesIO()
    source = zipfile.ZipFile(io.BytesIO(data))
    with source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, (replace or {}).get(info.filename, source.read(info.filename)))
        for name, blob in (extra or {}).items():
            target.writestr(name, blob)
    return out.getvalue()


def test_body_order_headings_lists_and_tables(make_docx: Builder) -> None:
    document = load_docx(make_docx(_handbook), OPTIONS)
    assert document.text == (
        "Bakery Handbook\n\n"
        "Welcome to the bakery.\n\n"
        "Ingredients\n\n"
        "Flour is the main ingredient.\n\n"
        "- Bread flour\n- Water\n\n"
        "Ingredient | Grams\nSalt | 10\n\n"
        "Method\n\n"
        "Mix, rest, shape and bake."
    )
    assert [(h.level, h.title) for h in document.headings] == [(1, "Bakery Handbook"), (1, "Ingredients"),
                                                                (2, "Method")]
    for heading in document.headings:
        assert document.text[heading.offset:].startswith(heading.title)
    assert document.title == "Bakery Handbook"
    assert document.metadata == {"author": "Head Baker"}


def test_title_falls_back_to_title_style_then_first_heading(make_docx: Builder) -> None:
    def titled(document: WordDocument) -> None:
        document.add_heading("Shop Rules", level=0)
        document.add_paragraph("Be kind.")

    def headed(document: WordDocument) -> None:
        document.add_heading("Opening Hours", level=1)
        document.add_paragraph("Nine to five.")

    assert load_docx(make_docx(titled), OPTIONS).title == "Shop Rules"
    assert load_docx(make_docx(headed), OPTIONS).title == "Opening Hours"


def test_merged_cells_appear_once(make_docx: Builder) -> None:
    def merged(document: WordDocument) -> None:
        table = document.add_table(rows=2, cols=3)
        table.cell(0, 0).merge(table.cell(0, 2)).text = "Feeding schedule"
        for column, value in enumerate(("Day", "Flour", "Water")):
            table.cell(1, column).text = value

    assert load_docx(make_docx(merged), OPTIONS).text == "Feeding schedule\nDay | Flour | Water"


def test_sample_sheet(samples_dir: Path) -> None:
    document = load_docx((samples_dir / "starter-care-sheet.docx").read_bytes(), OPTIONS)
    assert document.title == "Starting and Keeping a Sourdough Starter"
    assert "Day | Flour | Water | What to expect" in document.text
    assert "- A clean glass jar of about one litre, with a loose lid." in document.text
    assert ("Signs of a ripe starter", 2) in [(h.title, h.level) for h in document.headings]


def test_zip_bomb_is_refused_before_parsing(make_docx: Builder) -> None:
    bomb = _rezip(make_docx(_handbook), extra={"word/media/padding.bin": b"\0" * (30 * MB)})
    assert len(bomb) < 200_000  # 30 MB of zeros compress to almost nothing
    with pytest.raises(SourceLoadError, match="zip bomb"):
        load_docx(bomb, OPTIONS)


def _lie_about_size(data: bytes, name: str, size: int) -> bytes:
    """Patch the uncompressed size recorded for `name` in both its local and central headers."""
    patched = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(name)
    patched[info.header_offset + 22:info.header_offset + 26] = struct.pack("<I", size)
    central = data.find(b"PK\x01\x02")
    while struct.unpack("<I", data[central + 42:central + 46])[0] != info.header_offset:
        central = data.find(b"PK\x01\x02", central + 4)
    patched[central + 24:central + 28] = struct.pack("<I", size)
    return bytes(patched)


def test_a_lying_size_header_cannot_inflate_a_part(make_docx: Builder) -> None:
    real = _rezip(make_docx(_handbook))
    with zipfile.ZipFile(io.BytesIO(real)) as archive:
        xml = archive.read("word/document.xml")
    padded = _rezip(real, replace={"word/document.xml": xml + b" " * (40 * MB)})
    lying = _lie_about_size(padded, "word/document.xml", len(xml))
    with zipfile.ZipFile(io.BytesIO(lying)) as archive:
        assert archive.getinfo("word/document.xml").file_size == len(xml)
    # zipfile stops at the declared size and then fails the CRC check: no 40 MB inflation
    with pytest.raises(SourceLoadError, match="damaged"):
        load_docx(lying, OPTIONS)


def test_total_uncompressed_size_is_capped(make_docx: Builder) -> None:
    # Incompressible parts: no ratio alarm, only the total counts.
    part = random.Random(7).randbytes(3 * MB)
    big = _rezip(make_docx(_handbook), extra={"word/media/a.bin": part, "word/media/b.bin": part})
    with pytest.raises(SourceLoadError, match="more than 5 MB"):
        load_docx(big, LoadOptions(max_uncompressed_bytes=5 * MB))
    assert "Method" in load_docx(big, LoadOptions(max_uncompressed_bytes=20 * MB)).text


def test_a_zip_that_is_not_a_docx() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(SourceLoadError, match=r"not a DOCX document \(word/document.xml is missing\)"):
        load_docx(out.getvalue(), OPTIONS)


@pytest.mark.parametrize("data", [b"PK\x03\x04 broken archive", b"plain text, not a zip at all"])
def test_not_a_zip(data: bytes) -> None:
    with pytest.raises(SourceLoadError, match="not a valid DOCX"):
        load_docx(data, OPTIONS)


def test_damaged_document_xml(make_docx: Builder) -> None:
    broken = _rezip(make_docx(_handbook), replace={"word/document.xml": b"<w:document><unclosed>"})
    with pytest.raises(SourceLoadError, match="damaged"):
        load_docx(broken, OPTIONS)


def test_empty_file_and_empty_document(make_docx: Builder) -> None:
    with pytest.raises(SourceLoadError, match="empty"):
        load_docx(b"", OPTIONS)
    with pytest.raises(SourceLoadError, match="contains no text"):
        load_docx(make_docx(lambda document: None), OPTIONS)
