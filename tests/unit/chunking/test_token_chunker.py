"""The `token` chunker on hand-made documents: defaults, boundaries, long words, French, provenance."""

from __future__ import annotations

import random
from itertools import pairwise

import pytest
from finetune_core.chunking.base import ChunkSpan, Tokenizer
from finetune_core.chunking.plugin import finetune_register_chunkers
from finetune_core.chunking.token_chunker import WORD, TokenChunker, boundaries
from finetune_core.chunking.tokenizers import get_tokenizer
from finetune_core.domain import Document, Heading, PageSpan
from finetune_core.errors import InvalidInputError

O200K = get_tokenizer("o200k_base")
WORDS = [
    "sourdough", "starter", "flour", "water", "salt", "dough", "gluten", "fermentation", "oven", "crust",
    "crumb", "hydration", "levain", "temperature", "proof", "shape", "bake", "loaf", "yeast", "bacteria",
]


def realistic_text(paragraphs: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    out = []
    for _ in range(paragraphs):
        sentences = []
        for _ in range(rng.randint(2, 9)):
            words = [rng.choice(WORDS) for _ in range(rng.randint(5, 25))]
            sentences.append(" ".join(words).capitalize() + rng.choice([".", ".", "?", "!"]))
        out.append(" ".join(sentences))
    return "\n\n".join(out)


def chunk(text: str, size: int, overlap: int, pages: list[PageSpan] | None = None,
          headings: list[Heading] | None = None) -> list[ChunkSpan]:
    document = Document(text=text, pages=pages or [], headings=headings or [])
    return TokenChunker().chunk(document, tokenizer=O200K, size=size, overlap=overlap)


def assert_exact(text: str, chunks: list[ChunkSpan], size: int, tokenizer: Tokenizer = O200K) -> None:
    for span in chunks:
        assert text[span.char_start : span.char_end] == span.text
        assert span.token_count == tokenizer.count(span.text) <= size
        assert span.text == span.text.strip() != ""


def test_defaults_on_a_multi_paragraph_text() -> None:
    text = realistic_text(60)
    chunks = chunk(text, 512, 50)
    assert_exact(text, chunks, 512)
    assert len(chunks) >= 5
    overlaps: list[int] = []
    assert chunks[0].char_start == 0 and chunks[-1].char_end == len(text)
    for previous, current in pairwise(chunks):
        assert previous.char_start < current.char_start < previous.char_end  # they overlap...
        shared = O200K.count(text[current.char_start : previous.char_end])
        assert 20 <= shared <= 50  # ...by about 50 tokens, never more (a sentence start may keep fewer)
        assert text[current.char_start - 1].isspace()  # starting on a word
        overlaps.append(shared)
    assert sum(overlaps) / len(overlaps) >= 35
    # paragraphs are whole unless one is cut to fill at least half a chunk
    ends = [span.char_end for span in chunks[:-1]]
    assert sum(text.startswith("\n\n", end) for end in ends) >= len(ends) // 2
    assert all(text[end - 1] in ".?!" for end in ends)
    assert sum(span.token_count for span in chunks) / len(chunks) > 300


def test_cuts_on_sentences_before_words() -> None:
    text = " ".join(f"Sentence number {i} is about {WORDS[i % len(WORDS)]} at length." for i in range(80))
    chunks = chunk(text, 60, 0)
    assert_exact(text, chunks, 60)
    assert all(span.text.endswith(".") for span in chunks)
    assert all(span.text.startswith("Sentence") for span in chunks)


def test_cuts_on_words_when_there_is_no_sentence() -> None:
    text = " ".join(WORDS * 20)
    chunks = chunk(text, 30, 5)
    assert_exact(text, chunks, 30)
    for span in chunks:
        assert span.text.split()[0] in WORDS and span.text.split()[-1] in WORDS


def test_a_5000_character_word_is_cut_inside_only_because_it_must() -> None:
    word = "".join(random.Random(2).choice("abcdefghijklmnopqrstuvwxyz") for _ in range(5000))
    text = f"Before the word.\n\n{word}\n\nAfter the word."
    start, end = text.index(word), text.index(word) + len(word)
    chunks = chunk(text, 100, 10)
    assert_exact(text, chunks, 100)
    assert chunks[0].text == "Before the word."  # the word starts a chunk of its own (after the overlap)
    inside = [span for span in chunks if span.char_start < end and start < span.char_end]
    # cut into contiguous pieces of nearly 100 tokens, which cannot overlap without a boundary inside
    assert "".join(text[max(s.char_start, start) : min(s.char_end, end)] for s in inside) == word
    assert all(span.token_count >= 90 for span in inside[:-1])
    assert chunks[-1].text.endswith("After the word.")


def test_french_punctuation_stays_with_its_words() -> None:
    sentence = "« Viens ici ! » dit-elle ; il répondit : « Pourquoi ? » Puis il partit, l'air déçu… "
    text = sentence * 40
    for size, overlap in [(12, 4), (20, 0), (33, 10)]:
        chunks = chunk(text, size, overlap)
        assert_exact(text, chunks, size)
        for span in chunks:
            assert span.text[0] not in "»!?;:…", span.text
            assert span.text[-1] != "«", span.text
    starts = boundaries(WORD, sentence, 0, len(sentence))
    assert [sentence[at:].split()[0] for at in starts][:4] == ["ici", "dit-elle", "il", "répondit"]


def test_french_sentences_end_after_closing_quotes() -> None:
    text = " ".join(["« C'est fini ! » Le lendemain, elle est revenue avec ses élèves."] * 30)
    chunks = chunk(text, 40, 0)
    assert_exact(text, chunks, 40)
    assert all(span.text.endswith(("! »", "élèves.")) for span in chunks)


@pytest.mark.parametrize(("size", "overlap"), [(10, 10), (10, 11), (0, 0), (10, -1)])
def test_size_must_exceed_overlap(size: int, overlap: int) -> None:
    with pytest.raises(InvalidInputError):
        chunk("some text", size, overlap)


def test_empty_and_blank_documents_have_no_chunks() -> None:
    assert chunk("", 10, 2) == []
    assert chunk(" \n\n\t \u00a0 ", 10, 2) == []


def test_a_short_document_is_one_chunk_without_its_surrounding_spaces() -> None:
    [only] = chunk("\n\n  Hello there, world.  \n", 512, 50)
    assert (only.text, only.char_start, only.char_end, only.token_count) == ("Hello there, world.", 4, 23, 5)
    assert only.page_start is None and only.heading is None


def test_pages_and_headings_come_from_the_document() -> None:
    text = realistic_text(30, seed=4)
    thirds = [0, len(text) // 3, 2 * len(text) // 3, len(text)]
    pages = [PageSpan(number=n + 1, start=thirds[n], end=thirds[n + 1]) for n in range(3)]
    headings = [Heading(level=1, title="Intro", offset=0), Heading(level=2, title="Middle", offset=thirds[1])]
    chunks = chunk(text, 200, 20, pages=pages, headings=headings)
    assert_exact(text, chunks, 200)
    for span in chunks:
        touched = [p.number for p in pages if p.start < span.char_end and span.char_start < p.end]
        assert (span.page_start, span.page_end) == (min(touched), max(touched))
        assert span.heading == ("Intro" if span.char_start < thirds[1] else "Middle")
    assert {span.page_start for span in chunks} == {1, 2, 3}
    assert any(span.page_start != span.page_end for span in chunks)


def test_the_plugin_registers_both_chunkers() -> None:
    registered: list[object] = []
    finetune_register_chunkers(registered.append)
    assert [getattr(item, "name", None) for item in registered] == ["token", "markdown-heading"]
