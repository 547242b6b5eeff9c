"""The `markdown-heading` chunker: one section per heading, titled by its heading path."""

from __future__ import annotations

from finetune_core.chunking.markdown_chunker import MarkdownHeadingChunker, sections
from finetune_core.chunking.token_chunker import TokenChunker
from finetune_core.chunking.tokenizers import get_tokenizer
from finetune_core.domain import Document, Heading

O200K = get_tokenizer("o200k_base")


def markdown(*blocks: tuple[int, str, str]) -> Document:
    """A Document from (level, title, body) blocks; level 0 is text before any heading."""
    text, headings = "", []
    for level, title, body in blocks:
        if level:
            headings.append(Heading(level=level, title=title, offset=len(text)))
            text += "#" * level + " " + title + "\n"
        text += body
    return Document(text=text, headings=headings)


GUIDE = markdown(
    (0, "", "Read this first.\n\n"),
    (1, "Guide", "How to bake.\n\n"),
    (2, "Installation", "Buy flour and water.\n\n"),
    (3, "Starter", "Feed it daily.\n\n"),
    (2, "Usage", "Mix, fold, bake.\n\n"),
    (1, "Other", "Notes."),
)


def test_each_section_is_a_chunk_titled_by_its_path() -> None:
    chunks = MarkdownHeadingChunker().chunk(GUIDE, tokenizer=O200K, size=512, overlap=50)
    assert [(span.heading, span.text) for span in chunks] == [
        (None, "Read this first."),
        ("Guide", "# Guide\nHow to bake."),
        ("Guide > Installation", "## Installation\nBuy flour and water."),
        ("Guide > Installation > Starter", "### Starter\nFeed it daily."),
        ("Guide > Usage", "## Usage\nMix, fold, bake."),
        ("Other", "# Other\nNotes."),
    ]
    for span in chunks:
        assert GUIDE.text[span.char_start : span.char_end] == span.text
        assert span.token_count == O200K.count(span.text)


def test_a_long_section_is_cut_by_tokens_without_leaving_it() -> None:
    long_body = " ".join(f"Step {i}: fold the dough and let it rest." for i in range(200)) + "\n\n"
    document = markdown((1, "Intro", "Short.\n\n"), (1, "Method", long_body), (1, "End", "Done."))
    method_start, method_end = document.headings[1].offset, document.headings[2].offset
    chunks = MarkdownHeadingChunker().chunk(document, tokenizer=O200K, size=100, overlap=20)
    method = [span for span in chunks if span.heading == "Method"]
    assert len(method) > 10
    assert all(method_start <= span.char_start and span.char_end <= method_end for span in method)
    assert all(span.token_count <= 100 for span in chunks)
    assert method[0].char_start == method_start and method[1].char_start < method[0].char_end  # overlapping
    assert chunks[-1].text == "# End\nDone." and chunks[0].text == "# Intro\nShort."


def test_without_headings_it_matches_the_token_chunker_with_no_heading() -> None:
    document = Document(text="Alpha beta gamma. " * 300)
    plain = TokenChunker().chunk(document, tokenizer=O200K, size=64, overlap=8)
    by_heading = MarkdownHeadingChunker().chunk(document, tokenizer=O200K, size=64, overlap=8)
    assert by_heading == plain
    assert all(span.heading is None for span in by_heading)


def test_headings_are_taken_in_text_order_and_out_of_range_ones_ignored() -> None:
    text = "# B\nbee\n# A\nay"
    headings = [Heading(level=1, title="A", offset=8), Heading(level=1, title="B", offset=0),
                Heading(level=1, title="Lost", offset=99)]
    assert sections(Document(text=text, headings=headings)) == [(0, 8, "B"), (8, len(text), "A")]
