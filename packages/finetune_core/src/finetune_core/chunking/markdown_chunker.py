"""`markdown-heading`: one section per heading, cut further by the token chunker when over size."""

from __future__ import annotations

from finetune_core.chunking.base import ChunkSpan, Tokenizer
from finetune_core.chunking.token_chunker import Packer, Provenance, chunk_span
from finetune_core.domain import Document, Heading

PATH_SEPARATOR = " > "


def sections(document: Document) -> list[tuple[int, int, str | None]]:
    """(start, end, heading path) of the text before the first heading and of each heading's section."""
    length = len(document.text)
    headings = sorted(
        (heading for heading in document.headings if 0 <= heading.offset < length), key=lambda h: h.offset
    )
    found: list[tuple[int, int, str | None]] = []
    trail: list[Heading] = []  # the open headings, outermost first
    start, path = 0, None
    for heading in headings:
        found.append((start, heading.offset, path))
        while trail and trail[-1].level >= heading.level:
            trail.pop()
        trail.append(heading)
        start, path = heading.offset, PATH_SEPARATOR.join(h.title for h in trail)
    found.append((start, length, path))
    return [section for section in found if section[1] > section[0]]


class MarkdownHeadingChunker:
    """Never lets a chunk span two sections; the heading is the section's title path."""

    name = "markdown-heading"

    def chunk(self, document: Document, *, tokenizer: Tokenizer, size: int, overlap: int) -> list[ChunkSpan]:
        text = document.text
        packer = Packer(text, tokenizer, size, overlap)
        provenance = Provenance(document)
        return [
            chunk_span(text, span, provenance, path)
            for start, end, path in sections(document)
            for span in packer.spans(start, end)
        ]
