"""Text and Markdown loaders: text kept as is, Markdown headings found with their offsets."""

from __future__ import annotations

from pathlib import Path

import pytest
from finetune_core.errors import SourceLoadError
from finetune_core.sources.base import LoadOptions
from finetune_core.sources.text import load_markdown, load_text, markdown_headings

OPTIONS = LoadOptions()

MARKDOWN = """\
# Bakery Guide

Intro paragraph.

## Starter ##

A starter is a culture.

```python
# not a heading, this is code
```

Shaping
-------

### Scoring

    # indented code, not a heading
"""


def test_text_is_kept_with_unix_newlines() -> None:
    document = load_text(b"Line one.\r\nLine two.\rLine three.\n", OPTIONS)
    assert document.text == "Line one.\nLine two.\nLine three.\n"
    assert document.headings == []
    assert document.title is None


def test_text_encodings() -> None:
    assert load_text("\ufeffPain au levain".encode(), OPTIONS).text == "Pain au levain"
    assert load_text("Crème fraîche".encode("latin-1"), OPTIONS).text == "Crème fraîche"
    assert load_text("“smart quotes” – cp1252".encode("cp1252"), OPTIONS).text == "“smart quotes” – cp1252"


@pytest.mark.parametrize(("data", "message"), [
    (b"", "empty"),
    (b"  \n\t ", "empty"),
    (b"\x00\x01\x02binary", "not readable text"),
    ("text".encode("utf-16"), "not readable text"),
])
def test_unreadable_text(data: bytes, message: str) -> None:
    with pytest.raises(SourceLoadError, match=message):
        load_text(data, OPTIONS)
    with pytest.raises(SourceLoadError, match=message):
        load_markdown(data, OPTIONS)


def test_markdown_headings_and_offsets() -> None:
    document = load_markdown(MARKDOWN.encode(), OPTIONS)
    assert document.text == MARKDOWN
    assert [(h.level, h.title) for h in document.headings] == [
        (1, "Bakery Guide"), (2, "Starter"), (2, "Shaping"), (3, "Scoring"),
    ]
    lines = [MARKDOWN[h.offset:].split("\n", 1)[0] for h in document.headings]
    assert lines == ["# Bakery Guide", "## Starter ##", "Shaping", "### Scoring"]
    assert document.title == "Bakery Guide"


def test_markdown_edge_cases() -> None:
    assert markdown_headings("#hashtag is not a heading\n####### seven is too many\n") == []
    assert [h.title for h in markdown_headings("Title\n=====\n\n- item\n---\n")] == ["Title"]
    assert [h.level for h in markdown_headings("~~~\n# in fence\n~~~\n###### Six\n")] == [6]


def test_french_sample(samples_dir: Path) -> None:
    document = load_markdown((samples_dir / "guide-du-levain.md").read_bytes(), OPTIONS)
    assert document.title == "Guide du levain naturel"
    assert "Qu'est-ce que le levain ?" in [h.title for h in document.headings]
    assert "Le levain est une culture de levures sauvages" in document.text
