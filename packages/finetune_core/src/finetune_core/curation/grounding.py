"""The grounding score: how well an answer is supported by its passage and answers its question, with no model.

    grounding_score("Annual leave is 25 days a year.", passage, "How long is annual leave?")   # 1.0 to 5.0

On content words (lower case, stop words and words of two letters or less left out), three parts:
- support (weight 0.5): the share of the answer's words found in the passage; what it adds unsupported lowers it;
- completeness (0.3): for each sentence of the answer, the share of the passage sentence it draws on most (the
  one sharing the most words) that it restates, averaged, halved when the answer stops mid-sentence (ends on a
  word or a comma, not in a list); an answer cut short, or one that only alludes to the fact, lowers it;
- relevance (0.2): the share of the question's words found in the answer (1 when the question has none).
Mapped onto the judge's scale, 1 + 4 x (weighted sum), so a margin reads the same whether the judge or this score
ranked a preference pair. It is a heuristic for ranking two answers to one question (the offline path); it does
not check facts, and a paraphrase scores lower than a quote.
"""

from __future__ import annotations

import re
import unicodedata

from finetune_core.generation.reading import CONTENT_STOP

_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n\s*\n")  # a wrapped line goes on with its sentence
_BULLET = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+")
UNFINISHED = 0.5  # what completeness keeps of an answer that stops mid-sentence
WEIGHTS = (0.5, 0.3, 0.2)  # support, completeness, relevance


def content_words(text: str) -> list[str]:
    words = _WORD.findall(unicodedata.normalize("NFKC", text).casefold())
    return [word for word in words if len(word) > 2 and word not in CONTENT_STOP]


def unfinished(answer: str) -> bool:
    """The answer stops mid-sentence: it ends on a word or a comma, and its last line is not a list item."""
    text = answer.rstrip()
    last_line = text.rsplit("\n", 1)[-1]
    return bool(text) and (text[-1] in ",;:" or (text[-1].isalnum() and not _BULLET.match(last_line)))


def _sentences(text: str) -> list[set[str]]:
    return [words for sentence in _SENTENCE_END.split(text) if (words := set(content_words(sentence)))]


def grounding_parts(answer: str, passage: str, question: str = "") -> tuple[float, float, float]:
    """(support, completeness, relevance), each 0 to 1; all 0 for an answer with no content word."""
    said = content_words(answer)
    if not said:
        return 0.0, 0.0, 0.0
    source = _sentences(passage)
    known = set().union(*source)
    support = sum(word in known for word in said) / len(said)
    shares = []
    for sentence in _sentences(answer):
        # the passage sentence it draws on most, and how much of that sentence it restates
        shared, size = max(((len(words & sentence), len(words)) for words in source), default=(0, 1))
        shares.append(shared / size)
    completeness = sum(shares) / len(shares) if shares else 0.0
    if unfinished(answer):
        completeness *= UNFINISHED
    asked = set(content_words(question))
    relevance = len(asked & set(said)) / len(asked) if asked else 1.0
    return support, completeness, relevance


def grounding_score(answer: str, passage: str, question: str = "") -> float:
    """1 (unsupported, off the question) to 5 (every word from the passage, one sentence restated in full, on the
    question), rounded to 3 decimals."""
    parts = grounding_parts(answer, passage, question)
    return round(1.0 + 4.0 * sum(weight * part for weight, part in zip(WEIGHTS, parts, strict=True)), 3)
