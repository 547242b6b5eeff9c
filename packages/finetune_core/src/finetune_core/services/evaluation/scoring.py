"""Scores that need no model: token F1, ROUGE-L, the key fact's exact match, abstention; means with their
95 % confidence interval (a seeded percentile bootstrap), and win/tie/loss counts between two models.

    token_f1("The cat sat", "the cat sat down")    # 0.8: SQuAD's F1 over normalised tokens
    rouge_l("the cat sat", "the cat down sat")      # 0.8: F-measure (beta 1) of the longest common subsequence
    key_fact("Opened in 1987 by Mara Quill.")       # "1987": its longest number, else a capitalised entity...
    abstains("I don't know: the documents do not say.")   # True
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

_WORD = re.compile(r"\w+", re.UNICODE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_CAPITALISED_RUN = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*)")
ARTICLES = frozenset({"a", "an", "the", "le", "la", "les", "l", "un", "une", "des"})
STOPWORDS = ARTICLES | frozenset({
    "and", "or", "of", "to", "in", "on", "at", "by", "for", "with", "from", "is", "are", "was", "were", "be", "been",
    "it", "its", "this", "that", "these", "those", "as", "not", "no", "but", "if", "then", "than", "so", "such",
    "has", "have", "had", "do", "does", "did", "can", "could", "should", "would", "must", "may", "might", "will",
    "what", "which", "who", "whom", "when", "where", "why", "how", "there", "their", "they", "them", "he", "she",
    "we", "you", "i", "one", "de", "du", "et", "en", "est", "sont", "au", "aux", "pour", "par", "sur", "dans",
})
MAX_TOKENS = 400  # ROUGE-L's dynamic programme is quadratic: longer answers are cut
_ABSTAIN = re.compile("|".join((
    r"\bi (?:do not|don't|dont) know\b", r"\bi'?m not sure\b", r"\bi am not sure\b",
    r"\bnot (?:in|from) the (?:provided )?(?:documents?|texts?|sources?|context|passages?)\b",
    r"\b(?:no|not any|don't have any|do not have any) (?:information|data|record|mention)\b",
    r"\bnot (?:mentioned|stated|specified|provided|given|available|covered)\b",
    r"\b(?:cannot|can't|can not|unable to) (?:find|answer|say|tell|determine|know)\b", r"\bno (?:such|known)\b",
    r"\b(?:does|do) not (?:contain|mention|say|include)\b", r"\bje ne sais pas\b", r"\bpas d'information\b",
    r"\bne (?:mentionne|précise|contient) pas\b",
)), re.IGNORECASE)


def normalize(text: str) -> str:
    """Lower case, accents and punctuation kept apart from words, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


def tokens(text: str) -> list[str]:
    """The words of `text`, lower case, articles dropped (as SQuAD's evaluation does)."""
    return [word for word in _WORD.findall(normalize(text)) if word not in ARTICLES]


def token_f1(prediction: str, reference: str) -> float:
    """Harmonic mean of the precision and recall of the prediction's tokens against the reference's."""
    predicted, expected = tokens(prediction), tokens(reference)
    if not predicted or not expected:
        return float(predicted == expected)
    shared = sum((Counter(predicted) & Counter(expected)).values())
    if not shared:
        return 0.0
    precision, recall = shared / len(predicted), shared / len(expected)
    return 2 * precision * recall / (precision + recall)


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token lists (one row of the table kept)."""
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for token_a in a:
        current = [0]
        for j, token_b in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if token_a == token_b else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure (beta 1): LCS over the prediction's and the reference's tokens."""
    predicted, expected = tokens(prediction)[:MAX_TOKENS], tokens(reference)[:MAX_TOKENS]
    if not predicted or not expected:
        return float(predicted == expected)
    common = lcs_length(predicted, expected)
    if not common:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def key_fact(reference: str, document_frequency: Counter[str] | None = None) -> str:
    """What an answer must state to be right: the reference's longest number, else its longest capitalised
    entity (a run of capitalised words not opening a sentence), else its most informative token (the rarest among
    the set's references when `document_frequency` is given, then the longest)."""
    numbers = _NUMBER.findall(reference)
    if numbers:
        return str(max(numbers, key=len))
    entities = [match.group(1) for match in _CAPITALISED_RUN.finditer(reference.strip())]
    if entities:
        return str(max(entities, key=len))
    words = [word for word in tokens(reference) if word not in STOPWORDS] or tokens(reference)
    if not words:
        return ""
    frequency = document_frequency or Counter()
    return min(words, key=lambda word: (frequency[word], -len(word), words.index(word)))


def document_frequencies(references: Iterable[str]) -> Counter[str]:
    """In how many references each token occurs."""
    counts: Counter[str] = Counter()
    for reference in references:
        counts.update(set(tokens(reference)))
    return counts


def exact_match(prediction: str, fact: str) -> float:
    """1.0 when the answer states the key fact (its tokens, in order, side by side), else 0.0."""
    wanted = tokens(fact)
    if not wanted:
        return 0.0
    said = tokens(prediction)
    width = len(wanted)
    return float(any(said[start:start + width] == wanted for start in range(len(said) - width + 1)))


def abstains(answer: str) -> bool:
    """Whether the answer declines ("I don't know", "not in the documents"...) instead of inventing."""
    return not answer.strip() or _ABSTAIN.search(answer) is not None


def mean_interval(values: Sequence[float], *, seed: int = 0, resamples: int = 2000,
                  level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the mean and its percentile-bootstrap confidence interval, seeded (reproducible)."""
    import numpy as np  # here: a process that never evaluates does without it

    if not values:
        return 0.0, 0.0, 0.0
    data = np.asarray(values, dtype=float)
    mean = float(data.mean())
    if data.size == 1 or float(data.min()) == float(data.max()):
        return mean, mean, mean
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return mean, float(low), float(high)


def win_tie_loss(scores: Sequence[float], against: Sequence[float], *, margin: float = 1e-9) -> tuple[int, int, int]:
    """Per question, whether `scores` beat, tie with or lose to `against`."""
    wins = sum(1 for mine, theirs in zip(scores, against, strict=True) if mine > theirs + margin)
    losses = sum(1 for mine, theirs in zip(scores, against, strict=True) if mine < theirs - margin)
    return wins, len(scores) - wins - losses, losses
