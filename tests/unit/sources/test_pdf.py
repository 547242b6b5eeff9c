"""PDF loader: page-by-page text with page spans, title from metadata, clear errors on bad files."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from finetune_core.errors import SourceLoadError
from finetune_core.sources.base import LoadOptions
from finetune_core.sources.pdf import load_pdf
from pypdf import PdfReader, PdfWriter

OPTIONS = LoadOptions(filename="doc.pdf")
PAGES = [
    "Chapter one. A sourdough starter is a culture of wild yeast and lactic acid bacteria.",
    "Chapter two. Hydration is the weight of water divided by the weight of flour.",
    "Chapter three. Bulk fermentation is the first rise of the whole dough.",
]


def _encrypt(data: bytes, user: str, owner: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    # RC4: pypdf's built-in crypto; AES would need the optional `cryptography` package
    writer.encrypt(user_password=user, owner_password=owner, algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_pages_are_spans_of_the_text(make_pdf: Callable[..., bytes]) -> None:
    document = load_pdf(make_pdf(PAGES, title="Bread Basics", author="A. Baker"), OPTIONS)
    assert document.title == "Bread Basics"
    assert document.metadata == {"page_count": 3, "author": "A. Baker"}
    assert [page.number for page in document.pages] == [1, 2, 3]
    for page, expected in zip(document.pages, PAGES, strict=True):
        assert " ".join(document.text[page.start:page.end].split()) == expected
    assert document.pages[0].start == 0
    assert document.pages[-1].end == len(document.text)
    assert all(a.end < b.start for a, b in zip(document.pages, document.pages[1:], strict=False))


def test_blank_pages_keep_the_numbering_of_the_others(make_pdf: Callable[..., bytes]) -> None:
    document = load_pdf(make_pdf(["First page text.", "", "Third page text."]), OPTIONS)
    assert [page.number for page in document.pages] == [1, 3]
    assert document.metadata["page_count"] == 3
    assert document.text == "First page text.\n\nThird page text."


def test_no_title_in_metadata_gives_none(make_pdf: Callable[..., bytes]) -> None:
    assert load_pdf(make_pdf(["Some text."]), OPTIONS).title is None


def test_sample_handbook(samples_dir: Path) -> None:
    document = load_pdf((samples_dir / "sourdough-handbook.pdf").read_bytes(), OPTIONS)
    assert document.title == "The Sourdough Handbook"
    assert len(document.pages) == 3
    assert "Hydration is the weight of water" in document.text
    hydration = document.text.index("Hydration is the weight")
    assert document.pages[1].start <= hydration < document.pages[1].end


def test_scanned_pdf_without_text_layer(make_pdf: Callable[..., bytes]) -> None:
    with pytest.raises(SourceLoadError, match="no text layer; scanned PDFs need OCR"):
        load_pdf(make_pdf(["", ""]), OPTIONS)


def test_password_protected_pdf(make_pdf: Callable[..., bytes]) -> None:
    locked = _encrypt(make_pdf(PAGES), user="secret", owner="owner")
    with pytest.raises(SourceLoadError, match="the PDF is password-protected"):
        load_pdf(locked, OPTIONS)


def test_pdf_with_only_an_owner_password_opens(make_pdf: Callable[..., bytes]) -> None:
    # Anyone can open these (viewers do too); the owner password only restricts editing.
    restricted = _encrypt(make_pdf(PAGES), user="", owner="owner")
    assert "Chapter two" in load_pdf(restricted, OPTIONS).text


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.7\nthis is not really a pdf at all",
        b"%PDF-1.4\n" + bytes(range(256)) * 4,
    ],
)
def test_corrupt_pdf(data: bytes) -> None:
    with pytest.raises(SourceLoadError, match="damaged or not a PDF"):
        load_pdf(data, OPTIONS)


def test_truncated_pdf(make_pdf: Callable[..., bytes]) -> None:
    data = make_pdf(PAGES)
    with pytest.raises(SourceLoadError, match="damaged or not a PDF"):
        load_pdf(data[: len(data) // 3], OPTIONS)


@pytest.mark.parametrize("data", [b"", b"   \n"])
def test_empty_pdf(data: bytes) -> None:
    with pytest.raises(SourceLoadError, match="empty"):
        load_pdf(data, OPTIONS)
