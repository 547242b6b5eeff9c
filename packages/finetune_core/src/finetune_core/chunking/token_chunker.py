"""`token`: chunks of at most `size` tokens, cut on the strongest boundary in reach, overlapping by words.

Text is split coarse to fine only where a cut is needed: paragraphs (blank lines), sentences, clauses
(`;`), lines, words, and only for a word longer than `size` tokens, inside the word. Each piece is
counted once; a chunk is packed from the pieces' summed counts, then counted for real (BPE counts of
a concatenation can differ from the sum) and packed again with a smaller budget if it is over.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from itertools import accumulate, pairwise
from typing import NamedTuple

from finetune_core.chunking.base import ChunkSpan, Tokenizer
from finetune_core.domain import Document
from finetune_core.errors import InvalidInputError

# Levels of the boundary a cut falls on; a higher one is a better place to cut.
TOKEN, WORD, LINE, CLAUSE, SENTENCE, PARAGRAPH, END = LEVELS = range(7)

HUGE_CHARS_PER_TOKEN = 32  # a piece longer than size * this is split before it is counted
RUN_CHARS = 192  # a long line is first split into runs of words this long, so only a run is counted by word

# Closing quotes or brackets after a full stop, French style (`! »`) included.
_CLOSERS = r"(?:[ \u00a0\u202f]?[»”\"’')\]])*"
# Each match ends where the next piece starts: on a non-space character.
_BOUNDARIES = {
    PARAGRAPH: re.compile(r"\n[^\S\n]*\n\s*"),
    SENTENCE: re.compile(r"[.!?…]+" + _CLOSERS + r"\s+"),
    CLAUSE: re.compile(r";" + _CLOSERS + r"\s+"),
    LINE: re.compile(r"\n\s*"),
    # Breaking spaces only, and never one that would strand French punctuation: `« mot » ;` stays whole.
    WORD: re.compile(r"(?<![«\s])[^\S\u00a0\u202f\u2007]++(?![»!?;:…\u00a0\u202f\u2007])"),
}
_NON_SPACE = re.compile(r"\S")


def boundaries(level: int, text: str, start: int, end: int) -> list[int]:
    """Where pieces separated by `level` boundaries start inside text[start:end], start excluded."""
    found = [match.end() for match in _BOUNDARIES[level].finditer(text, start, end)]
    if found and found[-1] >= end:
        found.pop()
    if level == SENTENCE:  # `etc. and` or `! » dit-il` go on with the sentence
        found = [at for at in found if not text[at].islower()]
    return found


def validate_sizes(size: int, overlap: int) -> None:
    if not size > overlap >= 0:
        raise InvalidInputError(
            f"chunk size ({size}) must be greater than the overlap ({overlap}), which must be >= 0",
            size=size,
            overlap=overlap,
        )


class _Piece(NamedTuple):
    """text[start:end], which starts on a non-space, `tokens` tokens (summed estimate for a word's rest)."""

    start: int
    end: int
    tokens: int
    inner: int  # the level of boundary to split it on next; TOKEN for a single word
    cut: int  # the level of the boundary at its end


class _Span(NamedTuple):
    start: int
    end: int
    tokens: int


class Packer:
    """Cuts character ranges of one text into token-bounded, overlapping spans."""

    def __init__(self, text: str, tokenizer: Tokenizer, size: int, overlap: int) -> None:
        validate_sizes(size, overlap)
        self.text = text
        self.count: Callable[[str], int] = tokenizer.count
        self.size = size
        self.overlap = overlap

    def spans(self, lo: int, hi: int) -> list[_Span]:
        """The chunks of text[lo:hi]: exact slices, none over `size` tokens unless one character is."""
        stack = self._paragraphs(lo, hi)
        spans: list[_Span] = []
        while stack:
            spans.append(self._next(stack, spans[-1] if spans else None))
        return spans

    def _next(self, stack: list[_Piece], previous: _Span | None) -> _Span:
        pos = stack[-1].start
        limit = self.overlap
        while previous is not None and limit > 0:
            found = self._overlap_start(previous, limit)
            if found is None:
                break
            start, shared = found
            used = shared + 1  # and about a token for the spaces up to `pos`, if any
            filled = self._fill(stack, start, self.size - used)
            if isinstance(filled, _Span):
                return filled
            # The next piece needs more room than the overlap leaves: give up that much of the overlap.
            limit = min(limit, used) - max(1, filled - (self.size - used)) if filled else 0
        filled = self._fill(stack, pos, self.size)
        return filled if isinstance(filled, _Span) else self._force(stack)

    def _paragraphs(self, lo: int, hi: int) -> list[_Piece]:
        first = _NON_SPACE.search(self.text, lo, hi)
        if first is None:
            return []
        bounds = [first.start(), *boundaries(PARAGRAPH, self.text, first.start(), hi), hi]
        pieces = self._pieces(bounds, SENTENCE, PARAGRAPH, END)
        pieces.reverse()
        return pieces

    def _pieces(self, bounds: list[int], inner: int, cut: int, last_cut: int) -> list[_Piece]:
        text, count, huge = self.text, self.count, self.size * HUGE_CHARS_PER_TOKEN
        # A piece that long cannot fit in a chunk unless its tokens are absurdly long: it is split without
        # being counted, and a rough estimate stands for its count, saving a pass over it.
        pieces = [
            _Piece(a, b, count(text[a:b]) if b - a <= huge else max(self.size + 1, (b - a) // 4), inner, cut)
            for a, b in pairwise(bounds)
        ]
        pieces[-1] = pieces[-1]._replace(cut=last_cut)
        return pieces

    def _fill(self, stack: list[_Piece], start: int, budget: int) -> _Span | int:
        """The chunk from `start` whose new text takes at most `budget` tokens; else the tokens the next
        piece needs, or 0 when the real counts keep overshooting the estimates."""
        need = 1
        while budget > 0:
            taken, need = self._pack(stack, budget)
            if not taken:
                return need
            end = taken[-1].end
            while self.text[end - 1].isspace():
                end -= 1
            tokens = self.count(self.text[start:end])
            if tokens <= self.size:
                return _Span(start, end, tokens)
            last = taken[-1]  # a word's rest carries an estimate: make it exact before packing again
            taken[-1] = last._replace(tokens=self.count(self.text[last.start : last.end]))
            stack.extend(reversed(taken))
            budget -= tokens - self.size
        return need

    def _pack(self, stack: list[_Piece], budget: int) -> tuple[list[_Piece], int]:
        """Pieces off the stack summing to at most `budget` tokens, and 0; or none and the tokens needed.

        The cut falls on the last boundary of the strongest level that fills at least half the budget; a
        piece that does not fit is split first when it holds a stronger boundary than that.
        """
        taken: list[_Piece] = []
        filled: list[int] = []
        latest = [-1] * (END + 1)  # per boundary level, the index in `taken` of the last piece ending on one
        total = 0
        while stack:
            piece = stack[-1]
            if total + piece.tokens <= budget:
                taken.append(stack.pop())
                total += piece.tokens
                filled.append(total)
                latest[piece.cut] = len(taken) - 1
                continue
            half_full = [lv for lv in LEVELS if latest[lv] >= 0 and 2 * filled[latest[lv]] >= budget]
            best = max(half_full, default=-1)
            if best >= piece.inner:
                return self._cut(stack, taken, latest[best]), 0
            if piece.inner > TOKEN:
                stack.pop()
                stack.extend(reversed(self._split(piece)))
                continue
            if taken:  # a single word that does not fit starts the next chunk
                best = max(lv for lv in LEVELS if latest[lv] >= 0)
                return self._cut(stack, taken, latest[best]), 0
            if piece.tokens <= self.size and piece.inner == TOKEN:
                # the rest of a cut word carries an estimate: an underestimate would pass for a word that fits a
                # chunk, and the caller would give up the overlap for it
                exact = self.count(self.text[piece.start : piece.end])
                if exact != piece.tokens:
                    stack[-1] = piece = piece._replace(tokens=exact)
                    continue
            if piece.tokens > self.size:  # a word longer than a chunk: the last resort, cut inside it
                parts = self._cut_word(piece, budget)
                if parts:
                    stack.pop()
                    stack.extend(reversed(parts))
                    continue
            return [], piece.tokens if piece.tokens <= self.size else self.count(self.text[piece.start])
        return taken, 0

    @staticmethod
    def _cut(stack: list[_Piece], taken: list[_Piece], last: int) -> list[_Piece]:
        stack.extend(reversed(taken[last + 1 :]))
        return taken[: last + 1]

    def _split(self, piece: _Piece) -> list[_Piece]:
        """The piece split on the strongest boundaries it holds; a single word comes back as it is."""
        level = piece.inner
        while level > TOKEN:
            if level == WORD and piece.end - piece.start > 2 * RUN_CHARS and (runs := self._runs(piece)):
                return self._pieces([piece.start, *runs, piece.end], WORD, WORD, piece.cut)
            starts = boundaries(level, self.text, piece.start, piece.end)
            if starts:
                return self._pieces([piece.start, *starts, piece.end], level - 1, level, piece.cut)
            level -= 1
        return [piece._replace(inner=TOKEN)]

    def _runs(self, piece: _Piece) -> list[int]:
        """Word starts about RUN_CHARS apart, found without listing every word of a huge piece."""
        starts: list[int] = []
        at = piece.start + RUN_CHARS
        while at < piece.end:
            match = _BOUNDARIES[WORD].search(self.text, at, piece.end)
            if match is None or match.end() >= piece.end:
                break
            starts.append(match.end())
            at = match.end() + RUN_CHARS
        return starts

    def _cut_word(self, piece: _Piece, room: int) -> list[_Piece]:
        """The longest head of a word that fits in `room` tokens, and the rest; [] if no character fits."""
        text, start, end = self.text, piece.start, piece.end
        while text[end - 1].isspace():
            end -= 1
        keep, head_tokens = self._longest_head(start, end - start, room, piece.tokens)
        if keep == 0:
            return []
        if keep < end - start and unicodedata.combining(text[start + keep]):
            shorter = keep
            while shorter > 0 and unicodedata.combining(text[start + shorter]):
                shorter -= 1  # do not strand an accent from its letter
            if shorter > 0:
                keep, head_tokens = shorter, self.count(text[start : start + shorter])
        rest = _NON_SPACE.search(text, start + keep, end)  # a `mot !` group holds non-breaking spaces
        if rest is None:
            return [_Piece(start, end, head_tokens, TOKEN, piece.cut)]
        head = _Piece(start, start + keep, head_tokens, TOKEN, TOKEN)
        # The rest is not counted (that would be quadratic in a huge word); the head's ratio estimates it.
        rest_tokens = max(1, (piece.end - rest.start()) * head_tokens // keep)
        return [head, _Piece(rest.start(), piece.end, rest_tokens, TOKEN, piece.cut)]

    def _longest_head(self, start: int, length: int, room: int, tokens: int) -> tuple[int, int]:
        """How many characters from `start` (at most `length`) fit in `room` tokens, and their count.

        Secant steps on the measured chars-per-token ratio, alternating with bisection so that it stays
        logarithmic; it stops within room/64 tokens of the room. Only about a chunk's worth of text is
        counted per call, so a huge word is cut in linear time.
        """
        text, count = self.text, self.count
        good, good_tokens, bad = 0, 0, length + 1
        probe = room * length // max(tokens, 1)
        for step in range(64):
            if bad - good <= 1:
                break
            probe = min(max(probe, good + 1), bad - 1)
            measured = count(text[start : start + probe])
            if measured <= room:
                good, good_tokens = probe, measured
                if room - measured <= room // 64:
                    break
            else:
                bad = probe
            probe = probe * room // max(measured, 1) if step % 2 == 0 else (good + bad) // 2
        return good, good_tokens

    def _force(self, stack: list[_Piece]) -> _Span:
        """A chunk of the next character alone: it is over size by itself, so nothing smaller is possible."""
        piece = stack.pop()
        tokens = self.count(self.text[piece.start])
        after = _NON_SPACE.search(self.text, piece.start + 1, piece.end)
        if after is not None:
            stack.append(piece._replace(start=after.start(), tokens=max(1, piece.tokens - tokens)))
        return _Span(piece.start, piece.start + 1, tokens)

    def _overlap_start(self, previous: _Span, limit: int) -> tuple[int, int] | None:
        """Where about the last `limit` tokens (never more) of the previous chunk begin, on a word or, when
        that keeps at least half as many tokens, on a sentence, and their count; None when not even the
        last word fits."""
        text, count = self.text, self.count
        first, last = previous.start, previous.end
        ratio = (last - first) / max(previous.tokens, 1)
        best: int | None = None
        best_tokens = 0
        # A few secant steps from the start the chunk's chars-per-token ratio predicts; each counts only
        # about `limit` tokens, where a bisection over the words would count ten times that.
        target, tried = last - int(limit * ratio), set()
        for _ in range(4):
            at = self._word_start(max(target, first + 1), last)
            if at is None or at in tried:
                break
            tried.add(at)
            tokens = count(text[at:last])
            if tokens <= limit:
                if best is None or at < best:
                    best, best_tokens = at, tokens
                if 10 * tokens >= 9 * limit:  # close enough: overlap is "about" `limit` tokens
                    break
                target = at - int((limit - tokens) * ratio)
            else:
                target = at + int((tokens - limit) * ratio) + 1
        if best is None:
            at = self._last_word_start(first, last)
            if at is None or at in tried:
                return None
            tokens = count(text[at:last])
            if tokens > limit:
                return None
            best, best_tokens = at, tokens
        window = max(first, best - 16)
        strong = [at for lv in (PARAGRAPH, SENTENCE) for at in boundaries(lv, text, window, last)]
        strong = [at for at in strong if at > best]
        if strong:
            sentence = min(strong)  # worth it if it keeps about half the overlap (judged by characters)
            if 2 * (last - sentence) >= last - best and (tokens := count(text[sentence:last])) <= limit:
                return sentence, tokens
        return best, best_tokens

    def _word_start(self, position: int, end: int) -> int | None:
        """The first word start at or after `position`, before `end`."""
        text = self.text
        if 0 < position < end and text[position - 1].isspace() and not text[position].isspace():
            position -= 1  # let the match see the space before a word starting right at `position`
        match = _BOUNDARIES[WORD].search(text, position, end)
        return match.end() if match is not None and match.end() < end else None

    def _last_word_start(self, first: int, last: int) -> int | None:
        width = 64
        while True:
            window = max(first, last - width)
            found = [at for at in boundaries(WORD, self.text, window, last) if at > first]
            if found or window == first:
                return found[-1] if found else None
            width *= 4


class Provenance:
    """Pages and headings of a Document, looked up by character offset."""

    def __init__(self, document: Document) -> None:
        pages = sorted(document.pages, key=lambda page: (page.start, page.end))
        self._pages = pages
        self._page_starts = [page.start for page in pages]
        self._max_ends = list(accumulate((page.end for page in pages), max))
        headings = sorted(document.headings, key=lambda heading: heading.offset)
        self._heading_offsets = [heading.offset for heading in headings]
        self._heading_titles = [heading.title for heading in headings]

    def pages(self, start: int, end: int) -> tuple[int | None, int | None]:
        """The first and last page numbers that text[start:end] overlaps."""
        first = bisect_right(self._max_ends, start)
        last = bisect_left(self._page_starts, end)
        numbers = [page.number for page in self._pages[first:last] if page.end > start and page.start < end]
        return (min(numbers), max(numbers)) if numbers else (None, None)

    def heading(self, offset: int) -> str | None:
        """The title of the last heading at or before `offset`."""
        index = bisect_right(self._heading_offsets, offset) - 1
        return self._heading_titles[index] if index >= 0 else None


def chunk_span(text: str, span: _Span, provenance: Provenance, heading: str | None) -> ChunkSpan:
    page_start, page_end = provenance.pages(span.start, span.end)
    return ChunkSpan(
        text=text[span.start : span.end],
        char_start=span.start,
        char_end=span.end,
        token_count=span.tokens,
        page_start=page_start,
        page_end=page_end,
        heading=heading,
    )


class TokenChunker:
    """Token-bounded chunks with about `overlap` tokens shared between neighbours."""

    name = "token"

    def chunk(self, document: Document, *, tokenizer: Tokenizer, size: int, overlap: int) -> list[ChunkSpan]:
        text = document.text
        provenance = Provenance(document)
        spans = Packer(text, tokenizer, size, overlap).spans(0, len(text))
        return [chunk_span(text, span, provenance, provenance.heading(span.start)) for span in spans]
