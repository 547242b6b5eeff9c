"""A chunk cut into sentences for the extractive generator: exact spans, sections, bullets, scores.

`Passage` cuts a chunk into sentences whose `start`/`end` are exact character spans of the chunk,
ranks them, and answers, through a `Reader` (see `reading.py`), what each one defines, what it is
about and what it obliges its subject to do.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from finetune_core.generation.language import word_set
from finetune_core.generation.reading import (
    CONTENT_STOP,
    LANGUAGES,
    Definition,
    Reader,
    SentenceInfo,
    starts_with_anaphor,
)

_ABBREVIATIONS = word_set(
    "e.g i.e etc mr mrs ms dr prof vs fig no art cf pp mme mlle env ex st jr inc ltd co al approx "
    "min max vol ch sect nr av ca resp ibid cie"
)
_END = re.compile(r"[.!?…]+[\"»”’)\]]*(?=\s+[\"«“(\[]?[A-ZÀ-ÖØ-Þ0-9])")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")
_BULLET = re.compile(r"^\s*(?:[-*•·–]|\d{1,2}[.)])\s+")
_TOKEN = re.compile(r"\w[\w\-]*")
_CLOSERS = "\"»”’)"
_DIGIT = re.compile(r"\d")
_STARTS_WELL = re.compile(r"[\"«“(]?[A-ZÀ-ÖØ-Þ0-9]")
_KEYWORDS = word_set(
    "must should required requires mandatory important key main essential because therefore defined "
    "allows consists means never always only doit doivent obligatoire importante principal principale "
    "essentiel essentielle car donc permet consiste signifie jamais toujours uniquement interdit "
    "nécessaire"
)


@dataclass(slots=True)
class Sentence:
    """Characters [start, end) of the passage; `text` is that span with whitespace collapsed."""

    start: int
    end: int
    text: str
    index: int
    paragraph: int
    section: str | None
    bullet: bool
    score: float = 0.0
    usable: bool = False  # a complete, self-standing sentence worth answering with
    anaphoric: bool = False
    terms: frozenset[str] = frozenset()  # content words, lowercased


def _clean_heading(title: str | None) -> str | None:
    if not title:
        return None
    title = title.strip().lstrip("#").strip()
    for separator in (" > ", " › "):
        title = title.rsplit(separator, 1)[-1]
    title = title.strip().rstrip(":").strip()
    return title or None


class Passage:
    """A chunk cut into sentences, scored, with what each usable sentence defines or is about."""

    def __init__(self, content: str, *, heading: str | None = None, language: str = "en") -> None:
        self.content = content
        self.language = language if language in LANGUAGES else "en"
        self._info: dict[int, SentenceInfo] = {}
        self._definitions: dict[int, Definition | None] = {}
        self.sentences = self._split(_clean_heading(heading))
        self.reader = Reader(content, self.language, self._score())
        self.usable = [s for s in self.sentences if s.usable]

    def _split(self, section: str | None) -> list[Sentence]:
        sentences: list[Sentence] = []
        lines = self.content.split("\n")
        segment: list[int] = []  # [start, end, bullet]
        paragraph = 0
        position = 0

        def flush() -> None:
            if segment:
                self._sentences(segment[0], segment[1], paragraph, section, bool(segment[2]), sentences)
                segment.clear()

        blank = [not line.strip() for line in lines]
        for number, line in enumerate(lines):
            start, end = position, position + len(line)
            position = end + 1
            if blank[number]:
                flush()
                paragraph += 1
                continue
            stripped = line.strip()
            heading = _MD_HEADING.match(line)
            isolated = (number == 0 or blank[number - 1]) and (number + 1 >= len(lines) or blank[number + 1])
            if heading or (
                isolated and len(stripped.split()) <= 10 and stripped[-1] not in ".!?;:,"
                and stripped[0].isupper()
            ):
                flush()
                section = _clean_heading(heading.group(1) if heading else stripped)
                paragraph += 1
            elif bullet := _BULLET.match(line):
                flush()
                segment.extend((start + bullet.end(), end, 1))
            elif segment:
                segment[1] = end  # a wrapped line continues the sentence
            else:
                segment.extend((start, end, 0))
        flush()
        return sentences

    def _sentences(self, start: int, end: int, paragraph: int, section: str | None, bullet: bool,
                   out: list[Sentence]) -> None:
        text = self.content[start:end]
        cut = 0
        for match in _END.finditer(text):
            if match.group()[0] == ".":
                word = text[cut : match.start()].rsplit(None, 1)[-1:] or [""]
                token = word[0].lower().lstrip("(\"'«“")
                if token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha()):
                    continue
            self._add(start + cut, start + match.end(), paragraph, section, bullet, out)
            cut = match.end()
        self._add(start + cut, end, paragraph, section, bullet, out)

    def _add(self, start: int, end: int, paragraph: int, section: str | None, bullet: bool,
             out: list[Sentence]) -> None:
        raw = self.content[start:end]
        stripped = raw.strip()
        if not stripped:
            return
        start += len(raw) - len(raw.lstrip())
        end = start + len(stripped)
        out.append(Sentence(start, end, " ".join(stripped.split()), len(out), paragraph, section, bullet))

    def _score(self) -> Counter[str]:
        """Mark usable sentences and score them; the content words' sentence counts."""
        words = [_TOKEN.findall(s.text.lower()) for s in self.sentences]
        frequency: Counter[str] = Counter()
        for s, ws in zip(self.sentences, words, strict=True):
            s.terms = frozenset(w for w in set(ws) - CONTENT_STOP if len(w) > 3 and not w.isdigit())
            frequency.update(s.terms)
        total = max(1, len(self.sentences))
        headings: dict[str | None, frozenset[str]] = {}
        for s, ws in zip(self.sentences, words, strict=True):
            text, count = s.text, len(ws)
            digit = _DIGIT.search(text) is not None
            s.anaphoric = starts_with_anaphor(text)
            # prose, not a table row or code: mostly word characters, few bare numbers
            wordy = sum(map(len, ws)) >= 0.6 * len(text) and (
                not digit or sum(w[0].isdigit() for w in ws) <= 0.4 * count
            )
            s.usable = (
                6 <= count <= 60 and wordy and bool(_STARTS_WELL.match(text))
                and (s.bullet or text.rstrip(_CLOSERS)[-1:] in (".", "!"))
            )
            if s.section not in headings:
                headings[s.section] = frozenset(_TOKEN.findall((s.section or "").lower()))
            cws = s.terms
            repeats = sum(map(frequency.__getitem__, cws)) - len(cws)
            centrality = min(1.0, repeats / (2 * len(cws))) if cws else 0.0
            s.score = (
                1.0 - min(abs(count - 20), 30) / 30
                + 0.5 * (1 - s.index / total)
                + (0.4 if digit else 0.0)
                + min(0.6, 0.3 * len(_KEYWORDS.intersection(ws)))
                + (0.4 if headings[s.section] & cws else 0.0)
                + centrality
                - (0.5 if s.anaphoric else 0.0)
            )
        return frequency

    @property
    def proper_nouns(self) -> set[str]:
        """Words capitalised in mid-sentence somewhere: names, kept capitalised in questions."""
        return self.reader.proper_nouns

    def phrase(self, words: list[str]) -> str:
        """Words from a sentence's start as they would read mid-sentence: "The GDPR" -> "the GDPR"."""
        return self.reader.phrase(words)

    def info(self, s: Sentence) -> SentenceInfo:
        """What `s` defines, its subject or topic, and what it obliges the subject to do."""
        found = self._info.get(s.index)
        if found is None:
            found = self._info[s.index] = self.reader.read(
                s.text, anaphoric=s.anaphoric, definition=self.definition(s)
            )
        return found

    def definition(self, s: Sentence) -> Definition | None:
        """What `s` defines, if it reads "X is a...", "X désigne..."."""
        if s.index not in self._definitions:
            self._definitions[s.index] = self.reader.definition(s.text)
        return self._definitions[s.index]

    def answer_sentences(self, s: Sentence) -> list[Sentence]:
        """`s`, and the next sentence when it goes on about the same thing ("It...", "Il...")."""
        following = self.sentences[s.index + 1] if s.index + 1 < len(self.sentences) else None
        if following is not None and following.anaphoric and following.usable and (
            following.paragraph == s.paragraph
        ):
            return [s, following]
        return [s]

    def answer(self, s: Sentence) -> str:
        return " ".join(t.text for t in self.answer_sentences(s))

    def partners(self, s: Sentence) -> list[Sentence]:
        """Nearby sentences of `s`'s section that share a term with it or its paragraph, closest first."""
        used = {t.index for t in self.answer_sentences(s)}
        ranked: list[tuple[tuple[bool, bool, int], Sentence]] = []
        for t in self.sentences[max(0, s.index - 4) : s.index + 5]:
            if not t.usable or t.anaphoric or t.section != s.section or t.index in used:
                continue
            shared = bool(s.terms & t.terms)
            if shared or t.paragraph == s.paragraph:
                ranked.append(((not shared, t.index < s.index, abs(t.index - s.index)), t))
        return [t for _, t in sorted(ranked, key=lambda pair: pair[0])]

    def section_leads(self) -> list[tuple[str, list[Sentence]]]:
        """Each titled section's first usable sentences (1 to 3, about 500 characters at most)."""
        leads: dict[str, list[Sentence]] = {}
        for s in self.usable:
            if s.section is None:
                continue
            lead = leads.setdefault(s.section, [])
            if len(lead) < 3 and (not lead or sum(len(t.text) for t in lead) + len(s.text) <= 500):
                lead.append(s)
        return list(leads.items())
