"""The `extractive` generator: grounded examples from a chunk's own sentences, offline and deterministic.

Each example's evidence is a verbatim span of `chunk.content` and its answer is built from that span
(whitespace collapsed). The chunk yields "units" in a fixed order (definitions, section headings, key
sentences; summary variants for summarization), each with up to two phrasings ("angles"). Round r of
n examples takes the next n units of the rotation; once every unit was used, their second phrasing;
after that nothing, so a small chunk gives fewer examples instead of duplicates. A request whose purpose is
`evaluation` gets the same units with a third phrasing of their question ("probes": "What does X mean?"),
one question and answer each: an evaluation asks about the facts trained on in words never trained on.
The `reasoning` and `preference` task types start from the question-answer units (extractive_tasks.py adds the
reasoning, or a second, weaker candidate answer).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar, Literal

from finetune_core.domain import Chunk, ExampleDraft, Message, TaskType
from finetune_core.domain.content import Role
from finetune_core.generation.base import GenerationRequest, GenerationResult, Generator
from finetune_core.generation.extractive_tasks import for_task
from finetune_core.generation.language import detect_language
from finetune_core.generation.passage import Passage, Sentence
from finetune_core.generation.prompts import SummaryStyle, summary_user_content

Strategy = Literal["definition", "heading", "key_sentence"]
Turns = tuple[tuple[Role, str], ...]

_PHRASES: dict[str, dict[str, str]] = {
    "en": {
        "meant": "What is meant by {term}?",
        "define": "Define {term}.",
        "explain_term": "Explain what {term} means.",
        "section": 'What does the section "{h}" explain?',
        "section_points": 'What are the main points of the section "{h}"?',
        "section_sum": 'Summarize the section "{h}".',
        "section_explain": 'Explain what the section "{h}" covers.',
        "know_src": 'According to "{src}", what should one know about {topic}?',
        "know": "What should one know about {topic}?",
        "key_point": "What is the key point about {topic}?",
        "rule": "What rule applies to {subject}?",
        "explain_src": 'Explain what "{src}" says about {topic}.',
        "explain": "Explain the key point about {topic}.",
        "state": "State the key fact about {topic}.",
        "describe_modal": "Describe what {subject} {modal} do.",
        "more": "Can you tell me more?",
        "and_about": "And what about {topic}?",
        "probe_term": "What does {term} mean?",
        "probe_rule": "What is the rule for {subject}?",
        "probe_topic": "What do you know about {topic}?",
        "probe_section": 'Sum up "{h}".',
    },
    "fr": {
        "meant": "Que faut-il entendre par {term} ?",
        "define": "Définissez {term}.",
        "explain_term": "Expliquez ce qu'on entend par {term}.",
        "section": "Que présente la section « {h} » ?",
        "section_points": "Quels sont les points principaux de la section « {h} » ?",
        "section_sum": "Résumez la section « {h} ».",
        "section_explain": "Expliquez ce que couvre la section « {h} ».",
        "know_src": "Selon « {src} », que faut-il savoir sur {topic} ?",
        "know": "Que faut-il savoir sur {topic} ?",
        "key_point": "Quel est le point essentiel concernant {topic} ?",
        "rule": "Quelle règle concerne {subject} ?",
        "explain_src": "Expliquez ce que « {src} » indique sur {topic}.",
        "explain": "Expliquez le point essentiel concernant {topic}.",
        "state": "Indiquez l'information clé concernant {topic}.",
        "describe_modal": "Décrivez ce que {subject} {modal} faire.",
        "more": "Pouvez-vous m'en dire plus ?",
        "and_about": "Et concernant {topic} ?",
        "probe_term": "Que signifie {term} ?",
        "probe_rule": "Quelle est la règle pour {subject} ?",
        "probe_topic": "Que sait-on de {topic} ?",
        "probe_section": "Que retenir de « {h} » ?",
    },
}

_MAX_KEY_SENTENCES = 12
_SUMMARY_STYLES: tuple[SummaryStyle, ...] = ("default", "one_sentence", "key_points")


@dataclass(frozen=True, slots=True)
class _Unit:
    kind: Strategy
    evidence: Sentence
    variants: tuple[Turns, ...]


class _Builder:
    """Turns one analysed passage into units for one task type."""

    def __init__(self, passage: Passage, source: str | None) -> None:
        self.p = passage
        self.phrases = _PHRASES["fr" if passage.language == "fr" else "en"]
        self.source = source

    def say(self, key: str, **values: str) -> str:
        return self.phrases[key].format(**values)

    def question(self, s: Sentence, angle: int) -> str | None:
        """A question answered by `s` alone; angle 0 cites the source, angle 1 does not."""
        info = self.p.info(s)
        if info.definition is not None:
            term = info.definition.term
            return info.definition.question if angle == 0 else self.say("meant", term=term)
        if info.modal_question is not None and angle == 0:
            return info.modal_question
        if info.modal is not None and info.subject is not None and _obligation(info.modal):
            return self.say("rule", subject=info.subject)
        if info.topic is None:
            return None
        if angle == 0:
            if self.source:
                return self.say("know_src", src=self.source, topic=info.topic)
            return self.say("know", topic=info.topic)
        return self.say("key_point", topic=info.topic)

    def probe(self, s: Sentence) -> str | None:
        """The evaluation's question answered by `s`: worded unlike both training angles."""
        info = self.p.info(s)
        if info.definition is not None:
            return self.say("probe_term", term=info.definition.term)
        if info.modal is not None and info.subject is not None and _obligation(info.modal):
            return self.say("probe_rule", subject=info.subject)
        return None if info.topic is None else self.say("probe_topic", topic=info.topic)

    def probes(self) -> list[_Unit]:
        """The units of an evaluation request, in the training units' order, each with its one probe question."""
        units: list[_Unit] = []
        titles = {id(lead[0]): title for title, lead in self.p.section_leads()}  # the same Sentence objects
        for unit in self.units(TaskType.QA):
            if unit.kind == "heading":
                question: str | None = self.say("probe_section", h=titles[id(unit.evidence)])
            else:
                question = self.probe(unit.evidence)
            if question is not None:
                units.append(_Unit(unit.kind, unit.evidence, ((("user", question), unit.variants[0][-1]),)))
        return units

    def instruction(self, s: Sentence, angle: int) -> str | None:
        info = self.p.info(s)
        if info.definition is not None:
            return self.say("define" if angle == 0 else "explain_term", term=info.definition.term)
        if info.modal is not None and info.subject is not None and angle == 0:
            return self.say("describe_modal", subject=info.subject, modal=info.modal)
        if info.topic is None:
            return None
        if angle == 0:
            if self.source:
                return self.say("explain_src", src=self.source, topic=info.topic)
            return self.say("explain", topic=info.topic)
        return self.say("state", topic=info.topic)

    def follow_up(self, anchor: Sentence, partner: Sentence) -> str | None:
        """The user's second question, answered by `partner`; None when none would read naturally."""
        info = self.p.info(partner)
        if info.definition is not None:
            return info.definition.question
        if info.modal_question is not None:
            return info.modal_question
        anchor_topic = self.p.info(anchor).topic
        if info.topic is not None and (anchor_topic or "").lower() != info.topic.lower():
            return self.say("and_about", topic=info.topic)
        if partner.paragraph == anchor.paragraph and partner.index > anchor.index:
            return self.say("more")  # only a continuation of the same paragraph is "more"
        return None

    def dialogue(self, s: Sentence, angle: int) -> Turns | None:
        """Question, answer, follow-up, answer; angle 1 asks differently and follows up elsewhere."""
        question = self.question(s, angle)
        if question is None:
            return None
        follow_ups = [(t, q) for t in self.p.partners(s) if (q := self.follow_up(s, t)) is not None]
        if len(follow_ups) <= angle:
            return None
        partner, follow_up = follow_ups[angle]
        return (("user", question), ("assistant", self.p.answer(s)),
                ("user", follow_up), ("assistant", self.p.answer(partner)))

    def anchors(self) -> list[tuple[Strategy, Sentence]]:
        """Definitions in text order, then the best other sentences that have a topic."""
        defined = [s for s in self.p.usable if self.p.definition(s) is not None]
        others = (s for s in self.p.usable if self.p.definition(s) is None)
        ranked = sorted(others, key=lambda s: (-s.score, s.index))
        # analysing every sentence of a long chunk costs time for examples no round would reach
        keys = [s for s in ranked[:_MAX_KEY_SENTENCES] if self.p.info(s).topic]
        return [("definition", s) for s in defined] + [("key_sentence", s) for s in keys]

    def units(self, task: TaskType) -> list[_Unit]:
        if task is TaskType.SUMMARIZATION:
            return self.summaries()
        units: list[_Unit] = []
        anchors = self.anchors()
        definitions = [a for a in anchors if a[0] == "definition"]
        keys = [a for a in anchors if a[0] == "key_sentence"]
        for kind, s in definitions:
            units.extend(self.sentence_unit(task, kind, s))
        units.extend(self.section_units(task))
        for kind, s in keys:
            units.extend(self.sentence_unit(task, kind, s))
        return units

    def sentence_unit(self, task: TaskType, kind: Strategy, s: Sentence) -> list[_Unit]:
        variants: list[Turns] = []
        answer = self.p.answer(s)
        for angle in (0, 1):
            if task is TaskType.CONVERSATION:
                turns = self.dialogue(s, angle)
                if turns is not None:
                    variants.append(turns)
                continue
            prompt = self.question(s, angle) if task is TaskType.QA else self.instruction(s, angle)
            if prompt:
                variants.append((("user", prompt), ("assistant", answer)))
        return [_Unit(kind, s, tuple(variants))] if variants else []

    def section_units(self, task: TaskType) -> list[_Unit]:
        units = []
        for title, lead in self.p.section_leads():
            answer = " ".join(s.text for s in lead)
            if task is TaskType.CONVERSATION:
                if len(lead) < 2:
                    continue
                turns: Turns = (
                    ("user", self.say("section", h=title)), ("assistant", lead[0].text),
                    ("user", self.say("more")), ("assistant", " ".join(s.text for s in lead[1:])),
                )
                units.append(_Unit("heading", lead[0], (turns,)))
                continue
            qa = task is TaskType.QA
            keys = ("section", "section_points") if qa else ("section_sum", "section_explain")
            variants: tuple[Turns, ...] = tuple(
                (("user", self.say(key, h=title)), ("assistant", answer)) for key in keys
            )
            units.append(_Unit("heading", lead[0], variants))
        return units

    def summaries(self) -> list[_Unit]:
        """A few-sentence summary, a one-sentence one (the definition or lead) and key points."""
        ranked = sorted(self.p.usable, key=lambda s: (-s.score, s.index))
        if len(ranked) < 2 or len(self.p.sentences) < 3:
            return []
        lead = next((s for s in self.p.usable if self.p.definition(s) is not None), self.p.usable[0])
        picks: dict[SummaryStyle, list[Sentence]] = {
            "default": ranked[: 2 if len(ranked) <= 4 else 3],
            "one_sentence": [lead],
            "key_points": ranked[:5] if len(ranked) >= 3 else [],
        }
        passage = self.p.content.strip()
        units = []
        for style in _SUMMARY_STYLES:
            chosen = sorted(picks[style], key=lambda s: s.index)
            if not chosen:
                continue
            if style == "key_points":
                answer = "\n".join(f"- {s.text}" for s in chosen)
            else:
                answer = " ".join(s.text for s in chosen)
            user = summary_user_content(passage, self.p.language, style)
            evidence = min(chosen, key=lambda s: (-s.score, s.index))
            units.append(_Unit("key_sentence", evidence, ((("user", user), ("assistant", answer)),)))
        return units


_FOLDERS = re.compile(r"[\\/]")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}$")


def source_label(name: str | None) -> str | None:
    """A document name fit for a question: no folders, extension or underscores."""
    if not name or not name.strip():
        return None
    label = name.strip()
    if "://" in label:
        label = label.split("://", 1)[1].rstrip("/")
    else:
        label = _FOLDERS.split(label)[-1]
        label = _EXTENSION.sub("", label)
    label = " ".join(label.replace("_", " ").split())
    return label or None


_OBLIGATIONS = frozenset({"must", "should", "doit", "doivent", "devrait", "devraient"})


def _obligation(modal: str) -> bool:
    return bool(_OBLIGATIONS & set(modal.split()))


def _rotation(units: Sequence[_Unit], round_: int, n: int) -> list[tuple[_Unit, int]]:
    """The (unit, angle) pairs of round `round_`: distinct units, each phrasing used at most once."""
    if not units:
        return []
    step = min(n, len(units))
    picked = []
    for offset in range(step):
        index = round_ * step + offset
        unit, angle = units[index % len(units)], index // len(units)
        if angle < len(unit.variants):
            picked.append((unit, angle))
    return picked


_FROM_QA = frozenset({TaskType.REASONING, TaskType.PREFERENCE})


@lru_cache(maxsize=256)
def _analysed(content: str, heading: str | None) -> Passage:
    """Cached: later rounds over the same chunk reuse its analysis (which is deterministic)."""
    return Passage(content, heading=heading, language=detect_language(content))


def extract_examples(request: GenerationRequest) -> list[ExampleDraft]:
    """The drafts `ExtractiveGenerator` answers `request` with; at most `n_examples`, maybe none."""
    chunk: Chunk = request.chunk
    passage = _analysed(chunk.content, chunk.heading)
    language = passage.language
    builder = _Builder(passage, source_label(request.source_name))
    drafts: list[ExampleDraft] = []
    seen: set[Turns] = set()
    evaluating = request.purpose == "evaluation" and request.task_type is not TaskType.SUMMARIZATION
    task = TaskType.QA if request.task_type in _FROM_QA else request.task_type
    units = builder.probes() if evaluating else builder.units(task)
    for unit, angle in _rotation(units, request.round, request.n_examples):
        turns = unit.variants[angle]
        if turns in seen:
            continue
        seen.add(turns)
        drafts.append(ExampleDraft(
            messages=[Message(role=role, content=content) for role, content in turns],
            evidence=chunk.content[unit.evidence.start : unit.evidence.end],
            metadata={"strategy": unit.kind, "angle": angle, "language": language, "requires_evidence": True},
        ))
    return drafts if evaluating else for_task(drafts, request.task_type, language)


class ExtractiveGenerator(Generator):
    """No model: questions and answers are cut from the chunk's own sentences (see module doc)."""

    name: ClassVar[str] = "extractive"

    async def generate_one(self, request: GenerationRequest) -> GenerationResult:
        return GenerationResult(key=request.key, drafts=extract_examples(request))
