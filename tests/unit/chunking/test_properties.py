"""Properties of both chunkers on generated texts, with the whitespace tokenizer and o200k_base."""

from __future__ import annotations

from itertools import pairwise

import pytest
from finetune_core.chunking.base import ChunkSpan, Tokenizer
from finetune_core.chunking.markdown_chunker import MarkdownHeadingChunker, sections
from finetune_core.chunking.token_chunker import WORD, TokenChunker, boundaries
from finetune_core.chunking.tokenizers import get_tokenizer
from finetune_core.domain import Document, Heading, PageSpan
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TOKENIZERS = [get_tokenizer("whitespace"), get_tokenizer("o200k_base")]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

words = st.sampled_from(
    ["le", "chat", "élève", "naïve", "déjà", "Ça", "cœur", "hello", "world", "token", "l'école", "demain",
     "12", "3.14", "Straße", "東京", "😀", "e\u0301te\u0301", "x_y", "https://example.org/a?b=c"]
)
long_words = st.text(alphabet="abcdefghijklmnopqrstuvwxyzéèàç", min_size=30, max_size=400)
punctuation = st.sampled_from([".", "!", "?", "…", ",", ";", ":", "«", "»", "—", "(", ")", '"', "’"])
spaces = st.sampled_from([" ", " ", " ", "  ", "\n", "\n\n", "\t", "\u00a0", " \n \n ", "\r\n", "\n\n\n   "])
anything = st.text(max_size=12)
pieces = st.one_of(words, words, words, words, long_words, punctuation, punctuation, spaces, spaces, anything)
texts = st.lists(pieces, max_size=150).map("".join)


@st.composite
def size_and_overlap(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(st.integers(min_value=4, max_value=60))
    return size, draw(st.integers(min_value=0, max_value=size - 1))


def check_chunks(text: str, chunks: list[ChunkSpan], tokenizer: Tokenizer, size: int, overlap: int,
                 lo: int = 0, hi: int | None = None) -> None:
    """Every property the token chunker promises, on its chunks of text[lo:hi]."""
    hi = len(text) if hi is None else hi
    covered = [False] * len(text)
    for index, span in enumerate(chunks):
        assert text[span.char_start : span.char_end] == span.text
        assert span.token_count == tokenizer.count(span.text)
        assert span.token_count <= size
        assert span.text.strip() == span.text != ""
        assert lo <= span.char_start and span.char_end <= hi
        covered[span.char_start : span.char_end] = [True] * (span.char_end - span.char_start)
        if index == 0:
            continue
        previous = chunks[index - 1]
        assert previous.char_start < span.char_start and previous.char_end < span.char_end
        if span.char_start < previous.char_end:
            assert tokenizer.count(text[span.char_start : previous.char_end]) <= overlap
    assert all(covered[i] or text[i].isspace() for i in range(lo, hi))


def overlap_was_possible(text: str, previous: ChunkSpan, current: ChunkSpan, tokenizer: Tokenizer, size: int,
                         overlap: int) -> bool:
    """The last word of `previous` fits in the overlap, and leaves room for the next chunk's first word."""
    starts = boundaries(WORD, text, previous.char_start + 1, previous.char_end)
    if overlap == 0 or not starts or current.char_start > previous.char_end:
        return False
    if tokenizer.count(text[starts[-1] : previous.char_end]) > overlap:
        return False
    following = boundaries(WORD, text, previous.char_end, len(text))
    first_word = text[previous.char_end : following[0] if following else len(text)]
    needed = tokenizer.count(first_word)
    return needed > size or needed + overlap + 2 <= size


@pytest.mark.parametrize("tokenizer", TOKENIZERS, ids=lambda t: t.name)
@SETTINGS
@given(text=texts, sizes=size_and_overlap())
def test_token_chunks_are_exact_bounded_covering_and_overlapping(
    tokenizer: Tokenizer, text: str, sizes: tuple[int, int]
) -> None:
    size, overlap = sizes
    document = Document(text=text)
    chunks = TokenChunker().chunk(document, tokenizer=tokenizer, size=size, overlap=overlap)
    check_chunks(text, chunks, tokenizer, size, overlap)
    for previous, current in pairwise(chunks):
        if overlap_was_possible(text, previous, current, tokenizer, size, overlap):
            assert current.char_start < previous.char_end
    assert TokenChunker().chunk(document, tokenizer=tokenizer, size=size, overlap=overlap) == chunks


@st.composite
def paged_documents(draw: st.DrawFn) -> Document:
    text = draw(texts)
    cuts = sorted(draw(st.lists(st.integers(min_value=0, max_value=len(text)), max_size=6)))
    bounds = [0, *cuts, len(text)]
    # gaps between pages are allowed, as when a loader drops a page footer
    pages = [PageSpan(number=n + 1, start=a, end=b) for n, (a, b) in enumerate(pairwise(bounds))
             if b > a and draw(st.booleans() | st.just(True))]
    return Document(text=text, pages=pages)


@pytest.mark.parametrize("tokenizer", TOKENIZERS, ids=lambda t: t.name)
@SETTINGS
@given(document=paged_documents(), sizes=size_and_overlap())
def test_page_ranges_are_the_pages_a_chunk_touches(
    tokenizer: Tokenizer, document: Document, sizes: tuple[int, int]
) -> None:
    size, overlap = sizes
    for span in TokenChunker().chunk(document, tokenizer=tokenizer, size=size, overlap=overlap):
        touched = [p.number for p in document.pages if p.start < span.char_end and span.char_start < p.end]
        assert (span.page_start, span.page_end) == ((min(touched), max(touched)) if touched else (None, None))


@st.composite
def markdown_documents(draw: st.DrawFn) -> Document:
    parts, headings, length = [], [], 0
    for _ in range(draw(st.integers(min_value=0, max_value=6))):
        body = draw(texts)
        level = draw(st.integers(min_value=1, max_value=4))
        title = draw(words)
        headings.append(Heading(level=level, title=title, offset=length + len(body)))
        line = "#" * level + " " + title + "\n"
        parts += [body, line]
        length += len(body) + len(line)
    parts.append(draw(texts))
    return Document(text="".join(parts), headings=headings)


@pytest.mark.parametrize("tokenizer", TOKENIZERS, ids=lambda t: t.name)
@SETTINGS
@given(document=markdown_documents(), sizes=size_and_overlap())
def test_markdown_chunks_stay_inside_their_sections(
    tokenizer: Tokenizer, document: Document, sizes: tuple[int, int]
) -> None:
    size, overlap = sizes
    chunks = MarkdownHeadingChunker().chunk(document, tokenizer=tokenizer, size=size, overlap=overlap)
    text, found = document.text, sections(document)
    for start, end, path in found:
        inside = [span for span in chunks if start <= span.char_start < end]
        check_chunks(text, inside, tokenizer, size, overlap, start, end)  # covers its section, and only it
        assert all(span.heading == path for span in inside)
    assert sum(1 for span in chunks if any(s <= span.char_start < e for s, e, _ in found)) == len(chunks)
