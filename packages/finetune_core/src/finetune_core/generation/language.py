"""Language-aware text handling for generators, offline and deterministic.

`detect_language` guesses en/fr/es/de from stopword and diacritic frequencies. `Passage` cuts a
chunk into exact sentence spans and reads, with English and French rules, what each sentence
defines, what it is about and what it obliges its subject to do: the extractive generator's input.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

DEFAULT_LANGUAGE = "en"


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words are counted for every language that lists them; overlaps (de, la, en...) cancel out and
# the distinctive ones decide.
STOPWORDS: dict[str, frozenset[str]] = {
    "en": _words(
        "the and of to is are was were that it for with as be by this which or from at have has had not "
        "can will would should must their they these those its been when what how into than also may "
        "each such other more any all if we you our your there who being does do did"
    ),
    "fr": _words(
        "le la les de des du un une et est sont dans pour par sur avec que qui ne pas au aux ce cette "
        "ces il elle ils elles nous vous son sa ses leur leurs mais ou où donc plus être été à se lors "
        "doit doivent peut peuvent tout tous toute toutes comme aussi même l d qu n s c j très sans "
        "entre chaque afin ainsi"
    ),
    "es": _words(
        "el la los las de del y en es son un una uno por para con sin se su sus al lo como más pero "
        "está están este esta estos estas también muy hay ser sobre entre cuando donde desde que "
        "puede pueden debe deben cada"
    ),
    "de": _words(
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

_LANGUAGES_OF: dict[str, tuple[str, ...]] = {
    word: tuple(lang for lang, words in STOPWORDS.items() if word in words)
    for word in set().union(*STOPWORDS.values())
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
    scores = {lang: 0.0 for lang in STOPWORDS}
    for word, count in Counter(words).items():
        for lang in _LANGUAGES_OF.get(word, ()):
            scores[lang] += count
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


# --- Sentences and what they say, for the extractive generator (English and French grammar) ---

_ABBREVIATIONS = _words(
    "e.g i.e etc mr mrs ms dr prof vs fig no art cf pp mme mlle env ex st jr inc ltd co al approx "
    "min max vol ch sect nr av ca resp ibid cie"
)
_END = re.compile(r"[.!?…]+[\"»”’)\]]*(?=\s+[\"«“(\[]?[A-ZÀ-ÖØ-Þ0-9])")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")
_BULLET = re.compile(r"^\s*(?:[-*•·–]|\d{1,2}[.)])\s+")
_TOKEN = re.compile(r"\w[\w\-]*")
_CLOSERS = "\"»”’)"
_DIGIT = re.compile(r"\d")
_MID_CAPITAL = re.compile(r"(?<=[\w,;:)] )[A-ZÀ-ÖØ-Þ][\w\-]*")
_STARTS_WELL = re.compile(r"[\"«“(]?[A-ZÀ-ÖØ-Þ0-9]")
_PUNCT = ".,;:!?\"'«»“”’()[]"
_CONTENT_STOP = frozenset().union(*STOPWORDS.values()) | _words(
    "also then only very more most some many much such been being which where while there their "
    "other these those would could should about after before between over under within without "
    "dans leur leurs cette entre aussi encore après avant depuis selon"
)
_KEYWORDS = _words(
    "must should required requires mandatory important key main essential because therefore defined "
    "allows consists means never always only doit doivent obligatoire importante principal principale "
    "essentiel essentielle car donc permet consiste signifie jamais toujours uniquement interdit "
    "nécessaire"
)
_ANAPHORS = _words(
    "it this these they that those such he she its their il elle ils elles ce cet cette ces cela ceci "
    "celui celle ceux on leur leurs son sa ses"
)
_SUBORDINATORS = _words(
    "because although though since if unless whereas until when while once as parce puisque lorsque "
    "quand si bien comme"
)
_BAD_SUBJECT = _ANAPHORS | _SUBORDINATORS | _words(
    "there we you i here what which who how why where one our your my his her nous vous je tu y qui que "
    "quoi où comment pourquoi notre nos votre vos mon ma mes"
)
# "Each employee must..." asks well ("What must each employee do?"); "Each employee is a..." defines nothing
_NOT_A_TERM = _BAD_SUBJECT | _words(
    "each every all some any no many most both either neither another chaque tout tous toute toutes "
    "certains certaines plusieurs aucun aucune"
)
_INTRO = _words(
    "in on at for from since after before during however moreover therefore thus also furthermore "
    "additionally finally first second then today currently usually typically generally by under "
    "within according unlike as when once while en depuis dans pour après avant pendant cependant "
    "toutefois ainsi par enfin ensuite aujourd'hui actuellement généralement selon sous lorsque dès "
    "à au aux contrairement instead unlike"
) | _SUBORDINATORS
_ADVERBS = _words(
    "first then also often usually still always never only now therefore thus already generally "
    "typically cependant donc alors aussi toujours souvent déjà généralement également ensuite"
)
_ARTICLES = _words("the a an le la les un une des du")
_VERBS = {
    "en": _words(
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
    "fr": _words(
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
_NOT_A_DEFINITION_AFTER_ARE = _words(
    "not also often usually only very more less still now then being required expected available "
    "responsible subject able likely allowed entitled"
)
_VOWELS = "aeiouyàâäéèêëîïôöûùüœæAEIOUYÀÂÄÉÈÊËÎÏÔÖÛÙÜ"


def elide(word: str, following: str) -> str:
    """French elision: que + un -> qu'un, que + le -> que le."""
    return f"{word[:-1]}'{following}" if following[:1] in _VOWELS else f"{word} {following}"


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


def _starts_with_anaphor(text: str) -> bool:
    """Whether the sentence leans on the one before: "It...", "However, they...", "Cette règle..."."""
    words = _main_clause(text.split(None, 13))
    return bool(words) and _elided(words[0].lower().strip(_PUNCT)) in _ANAPHORS


def _elided(word: str) -> str:
    """The part before an apostrophe: "c'est" -> "c"."""
    return word.split("'", 1)[0].split("’", 1)[0]


def _clean_heading(title: str | None) -> str | None:
    if not title:
        return None
    title = title.strip().lstrip("#").strip()
    for separator in (" > ", " › "):
        title = title.rsplit(separator, 1)[-1]
    title = title.strip().rstrip(":").strip()
    return title or None


def source_label(name: str | None) -> str | None:
    """A document name fit for a question: no folders, extension or underscores."""
    if not name or not name.strip():
        return None
    label = name.strip()
    if "://" in label:
        label = label.split("://", 1)[1].rstrip("/")
    else:
        label = re.split(r"[\\/]", label)[-1]
        label = re.sub(r"\.[A-Za-z0-9]{1,5}$", "", label)
    label = " ".join(label.replace("_", " ").split())
    return label or None


class Passage:
    """A chunk cut into sentences, scored, with what each usable sentence defines or is about."""

    def __init__(self, content: str, *, heading: str | None = None, language: str = "en") -> None:
        self.content = content
        self.language = language if language in _VERBS else "en"
        self._info: dict[int, SentenceInfo] = {}
        self._definitions: dict[int, Definition | None] = {}
        self._proper: set[str] | None = None
        self._frequency: Counter[str] = Counter()
        self.sentences = self._split(_clean_heading(heading))
        self._score()
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

        for number, line in enumerate(lines):
            start, end = position, position + len(line)
            position = end + 1
            stripped = line.strip()
            heading = _MD_HEADING.match(line)
            isolated = (number == 0 or not lines[number - 1].strip()) and (
                number + 1 >= len(lines) or not lines[number + 1].strip()
            )
            if not stripped:
                flush()
                paragraph += 1
            elif heading or (
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

    def _score(self) -> None:
        words = [_TOKEN.findall(s.text.lower()) for s in self.sentences]
        for s, ws in zip(self.sentences, words, strict=True):
            s.terms = frozenset(w for w in set(ws) - _CONTENT_STOP if len(w) > 3 and not w.isdigit())
        frequency = self._frequency = Counter(w for s in self.sentences for w in s.terms)
        total = max(1, len(self.sentences))
        headings: dict[str | None, frozenset[str]] = {}
        for s, ws in zip(self.sentences, words, strict=True):
            count = len(ws)
            s.anaphoric = _starts_with_anaphor(s.text)
            # prose, not a table row or code: mostly word characters, few bare numbers
            wordy = sum(map(len, ws)) >= 0.6 * len(s.text) and (
                not _DIGIT.search(s.text) or sum(w[0].isdigit() for w in ws) <= 0.4 * count
            )
            s.usable = (
                6 <= count <= 60 and wordy and bool(_STARTS_WELL.match(s.text))
                and (s.bullet or s.text.rstrip(_CLOSERS)[-1:] in (".", "!"))
            )
            if s.section not in headings:
                headings[s.section] = frozenset(_TOKEN.findall((s.section or "").lower()))
            cws = s.terms
            repeats = sum(map(frequency.__getitem__, cws)) - len(cws)
            centrality = min(1.0, repeats / (2 * len(cws))) if cws else 0.0
            s.score = (
                1.0 - min(abs(count - 20), 30) / 30
                + 0.5 * (1 - s.index / total)
                + (0.4 if _DIGIT.search(s.text) else 0.0)
                + min(0.6, 0.3 * len(_KEYWORDS.intersection(ws)))
                + (0.4 if headings[s.section] & cws else 0.0)
                + centrality
                - (0.5 if s.anaphoric else 0.0)
            )

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

    def info(self, s: Sentence) -> SentenceInfo:
        found = self._info.get(s.index)
        if found is None:
            found = self._info[s.index] = self._analyse(s)
        return found

    def definition(self, s: Sentence) -> Definition | None:
        """What `s` defines, if it reads "X is a...", "X désigne..."."""
        if s.index not in self._definitions:
            self._definitions[s.index] = self._definition(s.text)
        return self._definitions[s.index]

    def _analyse(self, s: Sentence) -> SentenceInfo:
        definition = self.definition(s)
        if s.anaphoric:
            return SentenceInfo(definition=definition)  # "It..." is only ever a continuation
        words = _main_clause(s.text.split())
        subject = self._subject(words)
        if subject is None:
            return SentenceInfo(definition=definition, topic=self._salient(s.text))
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
            bare[0] in _BAD_SUBJECT or bare[-1] in _CONTENT_STOP
            or any(w[-1] in ",;:" or any(c.isdigit() for c in w) for w in subject)
            or not any(len(w) > 2 and w not in _CONTENT_STOP for w in bare)
        ):
            return None
        return subject

    def _salient(self, text: str) -> str | None:
        """The sentence's most repeated term with its article ("the retriever"), for a topic."""
        tokens = text.split()
        best: tuple[int, int] | None = None  # (frequency, position)
        for i, token in enumerate(tokens[1:], start=1):
            core = token.strip(_PUNCT).lower().rsplit("'", 1)[-1].rsplit("’", 1)[-1]
            frequency = self._frequency.get(core, 0)
            if frequency >= 2 and core not in _VERBS[self.language] and (best is None or frequency > best[0]):
                best = (frequency, i)
        if best is None:
            return None
        i = best[1]
        token = tokens[i].strip(_PUNCT)
        previous = tokens[i - 1].lower()
        if previous in _ARTICLES and previous not in ("a", "an", "un", "une"):
            return f"{previous} {token}"
        if re.match(r"[lL]['’]", token):
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

    def _definition(self, text: str) -> Definition | None:
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
