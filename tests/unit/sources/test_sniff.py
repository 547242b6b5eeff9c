"""MIME detection reads the bytes; a file name only breaks ties between text types."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from finetune_core.domain import SourceType
from finetune_core.sources import sniff
from finetune_core.sources.sniff import decode_text, detect_mime, source_type_for_mime

ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 200
PE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["report.pdf", "report.txt", "report", "report.docx"])
def test_pdf_is_recognised_whatever_its_name(make_pdf: Callable[..., bytes], name: str) -> None:
    assert detect_mime(make_pdf(["Hello"]), name) == sniff.PDF


@pytest.mark.parametrize("name", ["letter.docx", "letter.pdf", "letter.zip"])
def test_docx_is_a_zip_holding_word_document_xml(make_docx: Callable[..., bytes], name: str) -> None:
    data = make_docx(lambda document: document.add_paragraph("Hi"))
    assert detect_mime(data, name) == sniff.DOCX


def test_a_zip_without_word_document_is_not_a_docx() -> None:
    assert detect_mime(_zip({"notes.txt": b"hello"}), "fake.docx") == "application/zip"


@pytest.mark.parametrize(
    ("data", "name"),
    [(ELF, "invoice.pdf"), (PE, "invoice.pdf"), (PE, "malware.exe"), (ELF, "notes.txt"), (PE, "data.csv")],
)
def test_executables_are_reported_as_such_even_when_renamed(data: bytes, name: str) -> None:
    assert detect_mime(data, name) == "application/x-executable"


def test_a_png_named_txt_stays_an_image() -> None:
    assert detect_mime(PNG, "notes.txt") == "image/png"


def test_unknown_binary_is_octet_stream_not_text() -> None:
    blob = bytes(range(256)) * 8
    assert detect_mime(blob, "notes.txt") == "application/octet-stream"
    assert detect_mime(blob, "notes.md") == "application/octet-stream"


@pytest.mark.parametrize("text", ["BMW sold more cars this year.", "ID3 tags are metadata in MP3 files.",
                                  "MZ is the signature of DOS executables."])
def test_weak_binary_signatures_do_not_capture_plain_text(text: str) -> None:
    # filetype alone says image/bmp, audio/mpeg and x-msdownload for these: the text check comes first
    assert detect_mime(text.encode(), "notes.txt") == sniff.PLAIN


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('[{"question": "a", "answer": "b"}]', sniff.JSON),
        ('{"data": [{"prompt": "a"}]}\n', sniff.JSON),
        ('{"prompt": "a", "completion": "b"}\n{"prompt": "c", "completion": "d"}\n', sniff.JSONL),
        ("question,answer\nWhat is sourdough?,Bread leavened by wild yeast.\nWhy?,Flavour.\n", sniff.CSV),
        ("question;answer\nQ1;A1\nQ2;A2\n", sniff.CSV),
        ("question\tanswer\nQ1\tA1\nQ2\tA2\n", sniff.CSV),
        ("<!DOCTYPE html><html><body><p>Hi</p></body></html>", sniff.HTML),
        ("<!-- saved page -->\n<html lang='en'><p>Hi</p></html>", sniff.HTML),
        ("<div><p>A fragment of a page.</p></div>", sniff.HTML),
        ("# Title\n\nSome text with a [link](https://example.org).\n", sniff.MARKDOWN),
        ("Title\n=====\n\nBody text.\n", sniff.MARKDOWN),
        ("Just a few sentences of prose.\nNothing more to say here.\n", sniff.PLAIN),
        ("Hello, world.\n", sniff.PLAIN),
    ],
)
def test_text_is_classified_by_content(content: str, expected: str) -> None:
    assert detect_mime(content.encode("utf-8"), "") == expected


def test_extension_breaks_ties_between_text_types() -> None:
    single_line = b'{"prompt": "a", "completion": "b"}\n'  # valid JSON and valid JSONL
    assert detect_mime(single_line, "") == sniff.JSON
    assert detect_mime(single_line, "train.jsonl") == sniff.JSONL
    markdown = b"# Title\n\nBody with a [link](https://example.org).\n"
    assert detect_mime(markdown, "notes.txt") == sniff.PLAIN
    assert detect_mime(b"Plain prose, nothing marked up.\n", "notes.md") == sniff.MARKDOWN


def test_extension_cannot_turn_one_structured_type_into_another() -> None:
    data = json.dumps([{"q": 1}]).encode()
    assert detect_mime(data, "data.csv") == sniff.JSON
    assert detect_mime(b"<!DOCTYPE html><html><body>x</body></html>", "page.md") == sniff.HTML
    assert detect_mime(b"prose that is not a table\n", "data.csv") == sniff.PLAIN


def test_encodings() -> None:
    assert detect_mime("question,answer\nQ,A\nR,B\n".encode("utf-8-sig"), "") == sniff.CSV
    assert detect_mime("Crème brûlée et pâte à pain.\n".encode("latin-1"), "") == sniff.PLAIN
    assert detect_mime("Plain text".encode("utf-16"), "notes.txt") == "application/octet-stream"
    assert decode_text("Crème".encode("latin-1")) == "Crème"
    assert decode_text("\ufeffCrème".encode()) == "Crème"
    assert decode_text(b"\x00abc") is None


def test_samples_are_detected(samples_dir: Path) -> None:
    expected = {
        "sourdough-handbook.pdf": sniff.PDF,
        "starter-care-sheet.docx": sniff.DOCX,
        "guide-du-levain.md": sniff.MARKDOWN,
        "shaping-and-scoring.html": sniff.HTML,
        "sourdough-faq.csv": sniff.CSV,
    }
    for name, mime in expected.items():
        assert detect_mime((samples_dir / name).read_bytes(), name) == mime, name


def test_source_type_for_mime() -> None:
    assert source_type_for_mime(sniff.PDF) == SourceType.PDF
    assert source_type_for_mime("text/html; charset=utf-8") == SourceType.HTML
    assert source_type_for_mime(sniff.JSONL) == SourceType.JSONL
    assert source_type_for_mime("application/x-executable") is None


@pytest.mark.parametrize(("name", "mime", "stored_as"), [
    ("x.pdf.exe", sniff.PDF, "x.pdf"),  # the type's extension sat before a wrong one
    ("report.exe", sniff.PDF, "report.pdf"),
    ("invoice.pdf.js", sniff.PDF, "invoice.pdf"),
    ("x.docx.pdf", sniff.DOCX, "x.docx"),
    ("page.exe", sniff.HTML, "page.html"),
    ("notes", sniff.PLAIN, "notes.txt"),
    ("guide.PDF", sniff.PDF, "guide.PDF"),  # already right: kept as it is
    ("a.htm", sniff.HTML, "a.htm"),
    ("data.tsv", sniff.CSV, "data.tsv"),
    ("readme.txt", sniff.MARKDOWN, "readme.txt"),  # text may keep a plain-text name
    ("rows.json", sniff.JSONL, "rows.json"),
    ("archive.zip", sniff.ZIP, "archive.zip"),  # no loader reads it: refused before any name is kept
])
def test_a_stored_name_ends_in_an_extension_of_the_type_read_from_the_bytes(name: str, mime: str,
                                                                          stored_as: str) -> None:
    assert sniff.name_for_type(name, mime) == stored_as


def test_a_long_name_stays_within_the_limit_with_its_new_extension() -> None:
    renamed = sniff.name_for_type("a" * 255, sniff.PDF)
    assert len(renamed) == 255 and renamed.endswith(".pdf")
