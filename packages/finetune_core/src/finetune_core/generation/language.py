"""Offline, deterministic language detection: `detect_language` guesses en/fr/es/de.

The guess comes from stopword and diacritic frequencies. What a passage's sentences say is read
in `finetune_core.generation.passage` and `finetune_core.generation.reading`.
"""

from __future__ import annotations

import re
from collections import Counter

DEFAULT_LANGUAGE = "en"


def word_set(text: str) -> frozenset[str]:
    """The whitespace-separated words of `text`."""
    return frozenset(text.split())


# Words are counted for every language that lists them; overlaps (de, la, en...) cancel out and
# the distinctive ones decide.
STOPWORDS: dict[str, frozenset[str]] = {
    "en": word_set(
        "the and of to is are was were that it for with as be by this which or from at have has had not "
        "can will would should must their they these those its been when what how into than also may "
        "each such other more any all if we you our your there who being does do did"
    ),
    "fr": word_set(
        "le la les de des du un une et est sont dans pour par sur avec que qui ne pas au aux ce cette "
        "ces il elle ils elles nous vous son sa ses leur leurs mais ou où donc plus être été à se lors "
        "doit doivent peut peuvent tout tous toute toutes comme aussi même l d qu n s c j très sans "
        "entre chaque afin ainsi"
    ),
    "es": word_set(
        "el la los las de del y en es son un una uno por para con sin se su sus al lo como más pero "
        "está están este esta estos estas también muy hay ser sobre entre cuando donde desde que "
        "puede pueden debe deben cada"
    ),
    "de": word_set(
        "der die das und ist sind nicht ein eine einer eines den dem des mit von zu auf für im auch "
        "sich es werden wird wurde oder aber bei nach wie dass kann muss sie wir ich noch nur aus "
        "können müssen jede jeder"
    ),
}

_DIACRITICS: dict[str, str] = {
    "fr": "éèêàçùœâîôûëï",
    "es": "ñáíóú¿¡",
    "de": "äöüß",
}

_ANY_MARK = re.compile("[" + "".join(_DIACRITICS.values()) + "]")
_WORD = re.compile(r"[a-zàâäçéèêëîïôöûùüÿñœæßáíóú]+")
_MIN_EVIDENCE = 3.0


def detect_language(text: str) -> str:
    """ISO 639-1 code of `text`'s language among en/fr/es/de; "en" when unsure."""
    sample = text[:1500].lower()
    words = _WORD.findall(sample)
    if not words:
        return DEFAULT_LANGUAGE
    counts = Counter(words)
    # set intersections run in C; the per-word loop they replace was a third of the detection's time
    scores = {lang: float(sum(map(counts.__getitem__, counts.keys() & stopwords)))
              for lang, stopwords in STOPWORDS.items()}
    characters = Counter(_ANY_MARK.findall(sample))
    for lang, marks in _DIACRITICS.items():
        # Accented letters are strong evidence but capped so one borrowed word cannot flip a text.
        count = sum(characters[mark] for mark in marks)
        scores[lang] += min(count * 0.5, len(words) * 0.3)
    best = max(scores, key=lambda lang: (scores[lang], lang == DEFAULT_LANGUAGE))
    if best == DEFAULT_LANGUAGE or scores[best] < _MIN_EVIDENCE:
        return DEFAULT_LANGUAGE
    if scores[best] < scores[DEFAULT_LANGUAGE] * 1.2 + 0.5:
        return DEFAULT_LANGUAGE
    return best
