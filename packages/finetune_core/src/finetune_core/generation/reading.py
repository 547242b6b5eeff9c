"""What a sentence says, read with English and French rules: what it defines, what it is about
and what it obliges its subject to do. `Passage` (in `passage.py`) cuts the sentences; a `Reader`
reads them, knowing the passage's names and repeated terms.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from finetune_core.generation.language import STOPWORDS, word_set

_MID_CAPITAL = re.compile(r"(?<=[\w,;:)] )[A-ZÀ-ÖØ-Þ][\w\-]*")
_ELIDED_ARTICLE = re.compile(r"[lL]['’]")
_PUNCT = ".,;:!?\"'«»“”’()[]"

CONTENT_STOP = frozenset().union(*STOPWORDS.values()) | word_set(
    "also then only very more most some many much such been being which where while there their "
    "other these those would could should about after before between over under within without "
    "dans leur leurs cette entre aussi encore après avant depuis selon"
)
_ANAPHORS = word_set(
    "it this these they that those such he she its their il elle ils elles ce cet cette ces cela ceci "
    "celui celle ceux on leur leurs son sa ses"
)
_SUBORDINATORS = word_set(
    "because although though since if unless whereas until when while once as parce puisque lorsque "
    "quand si bien comme"
)
_BAD_SUBJECT = _ANAPHORS | _SUBORDINATORS | word_set(
    "there we you i here what which who how why where one our your my his her nous vous je tu y qui que "
    "quoi où comment pourquoi notre nos votre vos mon ma mes"
)
# "Each employee must..." asks well ("What must each employee do?"); "Each employee is a..." defines nothing
_NOT_A_TERM = _BAD_SUBJECT | word_set(
    "each every all some any no many most both either neither another chaque tout tous toute toutes "
    "certains certaines plusieurs aucun aucune"
)
_INTRO = word_set(
    "in on at for from since after before during however moreover therefore thus also furthermore "
    "additionally finally first second then today currently usually typically generally by under "
    "within according unlike as when once while en depuis dans pour après avant pendant cependant "
    "toutefois ainsi par enfin ensuite aujourd'hui actuellement généralement selon sous lorsque dès "
    "à au aux contrairement instead unlike"
) | _SUBORDINATORS
_ADVERBS = word_set(
    "first then also often usually still always never only now therefore thus already generally "
    "typically cependant donc alors aussi toujours souvent déjà généralement également ensuite"
)
_ARTICLES = word_set("the a an le la les un une des du")
_VERBS = {
    "en": word_set(
        "is are was were has have had must should shall can cannot could will would may might does do "
        "did needs need requires require provides provide allows allow includes include contains "
        "contain consists uses use makes gives helps reduces increases ensures ensure means refers "
        "depends takes covers applies apply supports lets becomes remains describes defines specifies "
        "states enables prevents protects runs works expires lasts costs receive receives gets offers "
        "produces creates stores sends returns handles lead leads searches writes keeps expire accrue "
        "accrues approve approves find finds show shows add adds follow follows learn learns choose "
        "chooses build builds train trains generate generates select selects improve improves update "
        "compute computes measure measures combine combines replace replaces represent represents "
        "define begin begins occur occurs happen happens affect affects belong belongs exist exists "
        "rely relies operate operates consider considers check checks become remain depend "
        "provided used made given based designed intended"
    ),
    "fr": word_set(
        "est sont était étaient a ont avait doit doivent devrait devraient peut peuvent sera seront "
        "permet permettent comprend comprennent contient contiennent désigne désignent signifie "
        "consiste représente utilise utilisent fournit assure garantit dépend fait font reste devient "
        "prévoit définit précise indique exige nécessite concerne couvre protège vise visent offre "
        "offrent inclut incluent reçoit reçoivent expire dure coûte donne prend se ne choisit "
        "choisissent apprend apprennent observe observent acquiert acquièrent figure figurent expirent "
        "conduit conduisent reste restent calcule calculent mesure mesurent produit produisent crée "
        "créent dispose disposent applique appliquent"
    ),
}
_MODALS = {
    "en": {"must": "must", "should": "should", "shall": "must", "can": "can", "cannot": "can"},
    "fr": {m: m for m in ("doit", "doivent", "devrait", "devraient", "peut", "peuvent")},
}
_TERM = r"(?P<term>[A-ZÀ-ÖØ-Þ0-9][\w'’\-./]*(?:\s+[\w'’\-./]+){0,7}?)\s*(?P<paren>\([^)]{1,60}\))?,?\s+"
_DEFINITION = {
    "en": re.compile(
        _TERM + r"(?P<verb>is\s+defined\s+as|is\s+(?:a|an|the|one\s+of)\b|are\s+(?P<next>[a-z]+)\b"
        r"|means\b|refers\s+to\b|denotes\b|stands\s+for\b)"
    ),
    "fr": re.compile(
        _TERM + r"(?P<verb>est\s+(?:un|une|le|la|l['’]|ce\s+qui|défini(?:e)?\s+comme)"
        r"|sont\s+(?:des|les|un\s+ensemble)\b|désigne(?:nt)?\b|signifie(?:nt)?\b|représente(?:nt)?\b"
        r"|correspond(?:ent)?\s+à|consiste(?:nt)?\s+(?:en|à)\b|se\s+défini(?:ssen)?t\s+comme)"
    ),
}
_DEFINITION_HINT = {
    "en": re.compile(r" (?:is|are|means|refers|denotes|stands) "),
    "fr": re.compile(r" (?:est|sont|se|désign|signifi|représent|correspond|consist)"),
}
_NOT_A_DEFINITION_AFTER_ARE = word_set(
    "not also often usually only very more less still now then being required expected available "
    "responsible subject able likely allowed entitled"
)
_VOWELS = "aeiouyàâäéèêëîïôöûùüœæAEIOUYÀÂÄÉÈÊËÎÏÔÖÛÙÜ"


LANGUAGES = frozenset(_VERBS)  # the languages whose grammar is known; others are read as English


def elide(word: str, following: str) -> str:
    """French elision: que + un -> qu'un, que + le -> que le."""
    return f"{word[:-1]}'{following}" if following[:1] in _VOWELS else f"{word} {following}"


@dataclass(frozen=True, slots=True)
class Definition:
    term: str
    question: str


@dataclass(frozen=True, slots=True)
class SentenceInfo:
    definition: Definition | None = None
    subject: str | None = None  # the grammatical subject, as it reads mid-sentence
    topic: str | None = None
    modal: str | None = None  # "must not", "ne doit pas"...: what the subject must/may do
    modal_question: str | None = None


def _main_clause(words: list[str]) -> list[str]:
    """`words` without a short introductory clause: "In 2020, the rules..." -> "the rules..."."""
    if len(words) > 2 and words[0].lower().strip(_PUNCT) in _INTRO:
        comma = next((i for i, w in enumerate(words[:12]) if w.endswith(",")), None)
        if comma is not None:
            return words[comma + 1 :]
    return words


def starts_with_anaphor(text: str) -> bool:
    """Whether the sentence leans on the one before: "It...", "However, they...", "Cette règle..."."""
    words = _main_clause(text.split(None, 13))
    return bool(words) and _elided(words[0].lower().strip(_PUNCT)) in _ANAPHORS


def _elided(word: str) -> str:
    """The part before an apostrophe: "c'est" -> "c"."""
    return word.split("'", 1)[0].split("’", 1)[0]


class Reader:
    """Reads the sentences of one passage: `content` for its names, `frequency` for its repeated terms."""

    def __init__(self, content: str, language: str, frequency: Mapping[str, int]) -> None:
        self.content = content
        self.language = language if language in LANGUAGES else "en"
        self.frequency = frequency
        self._proper: set[str] | None = None

    @property
    def proper_nouns(self) -> set[str]:
        """Words capitalised in mid-sentence somewhere: names, kept capitalised in questions."""
        if self._proper is None:
            self._proper = {word.lower() for word in _MID_CAPITAL.findall(self.content)}
        return self._proper

    def phrase(self, words: list[str]) -> str:
        """Words from a sentence's start as they would read mid-sentence: "The GDPR" -> "the GDPR"."""
        first, rest = words[0], words[1:]
        head = first.lower()
        article = head in _ARTICLES or head.startswith(("l'", "l’"))
        common = first[1:] == first[1:].lower() and first.strip(_PUNCT).lower() not in self.proper_nouns
        if article or common:
            first = first[0].lower() + first[1:]
        return " ".join([first, *rest]).strip(" ,;:")

    def read(self, text: str, *, anaphoric: bool, definition: Definition | None) -> SentenceInfo:
        """What the sentence `text` is about; `definition` is what `self.definition(text)` found."""
        if anaphoric:
            return SentenceInfo(definition=definition)  # "It..." is only ever a continuation
        words = _main_clause(text.split())
        subject = self._subject(words)
        if subject is None:
            return SentenceInfo(definition=definition, topic=self._salient(text))
        k = len(subject)
        phrase = self.phrase(subject)
        modal, question = self._modal(phrase, [w.lower().strip(_PUNCT) for w in words[k : k + 4]])
        return SentenceInfo(definition, phrase, phrase, modal, question)

    def _subject(self, words: list[str]) -> list[str] | None:
        """The words before the first verb, when they read like a noun phrase (1 to 7 words)."""
        verbs = _VERBS[self.language]
        k = next((i for i, w in enumerate(words[:9]) if w.lower().strip(_PUNCT) in verbs
                  or w.lower().startswith(("n'", "n’", "s'", "s’"))), None)
        if k is None or not 1 <= k <= 7 or k + 1 >= len(words):
            return None
        subject = words[:k]
        while len(subject) > 1 and (
            subject[-1].lower() in _ADVERBS or (self.language == "en" and subject[-1].endswith("ly"))
        ):
            subject = subject[:-1]
        bare = [w.lower().strip(_PUNCT) for w in subject]
        if (
            bare[0] in _BAD_SUBJECT or bare[-1] in CONTENT_STOP
            or any(w[-1] in ",;:" or any(c.isdigit() for c in w) for w in subject)
            or not any(len(w) > 2 and w not in CONTENT_STOP for w in bare)
        ):
            return None
        return subject

    def _salient(self, text: str) -> str | None:
        """The sentence's most repeated term with its article ("the retriever"), for a topic."""
        tokens = text.split()
        verbs = _VERBS[self.language]
        best: tuple[int, int] | None = None  # (frequency, position)
        for i, token in enumerate(tokens[1:], start=1):
            core = token.strip(_PUNCT).lower().rsplit("'", 1)[-1].rsplit("’", 1)[-1]
            frequency = self.frequency.get(core, 0)
            if frequency >= 2 and core not in verbs and (best is None or frequency > best[0]):
                best = (frequency, i)
        if best is None:
            return None
        i = best[1]
        token = tokens[i].strip(_PUNCT)
        previous = tokens[i - 1].lower()
        if previous in _ARTICLES and previous not in ("a", "an", "un", "une"):
            return f"{previous} {token}"
        if _ELIDED_ARTICLE.match(token):
            return token[0].lower() + token[1:]
        return token if self.language == "en" else None  # French nouns need their article

    def _modal(self, subject: str, verb: list[str]) -> tuple[str | None, str | None]:
        """("must not", "What must employees not do?") when the subject must/should/can do something."""
        negated = verb[0] in ("ne", "n'", "cannot")
        rest = verb[1:] if verb[0] == "ne" else verb
        modal = _MODALS[self.language].get(rest[0]) if rest else None
        if modal is None or len(rest) < 2:
            return None, None
        following = rest[1:]
        if following and following[0] in ("not", "pas", "jamais"):
            negated, following = True, following[1:]
        if not following or following[0] in ("be", "être", "have", "avoir"):
            return None, None  # passive or perfect: "must be signed" says nothing the subject does
        if self.language == "fr":
            phrase = f"ne {modal} pas" if negated else modal
            return phrase, f"Que {phrase} faire {subject} ?"
        phrase = f"{modal} not" if negated else modal
        return phrase, f"What {modal} {subject}{' not' if negated else ''} do?"

    def definition(self, text: str) -> Definition | None:
        """What the sentence `text` defines, if it reads "X is a...", "X désigne..."."""
        if not _DEFINITION_HINT[self.language].search(text, 0, 160):
            return None
        match = _DEFINITION[self.language].match(text)
        if match is None:
            return None
        words = match.group("term").split()
        if _elided(words[0].lower().strip(_PUNCT)) in _NOT_A_TERM or any(w[-1] in ",;:" for w in words):
            return None
        verb = " ".join(match.group("verb").split())
        after_are = match.groupdict().get("next")
        if after_are and (after_are in _NOT_A_DEFINITION_AFTER_ARE or after_are.endswith("ed")):
            return None
        term = self.phrase(words)
        if match.group("paren"):
            term = f"{term} {match.group('paren')}"
        return Definition(term, self._definition_question(term, verb))

    def _definition_question(self, term: str, verb: str) -> str:
        if self.language == "fr":
            head = verb.split()[0]
            if head == "est":
                return f"Qu'est-ce {elide('que', term)} ?"
            if head == "sont":
                return f"Que sont {term} ?"
            if head.startswith("correspond"):
                return f"À quoi {head} {term} ?"
            if head.startswith("consiste"):
                return f"En quoi {head} {term} ?"
            if head == "se":
                return f"Comment se définit {term} ?"
            return f"Que {head} {term} ?"
        if verb.startswith("are"):
            return f"What are {term}?"
        if verb.startswith("is"):
            return f"What is {term}?"
        base = {"means": "mean", "refers to": "refer to", "denotes": "denote", "stands for": "stand for"}
        return f"What does {term} {base[verb]}?"
