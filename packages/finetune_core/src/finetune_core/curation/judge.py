"""The judge's rubric: the prompt asking a model to score one example, and the reading of its verdict.

Five criteria, each 1 (bad) to 5 (excellent): accuracy, relevance, clarity, usefulness, and
grounding in the example's source chunk. The example's score is their mean; the model's one-
sentence reason is kept with it. The prompt is in the language of the example's source
(English or French).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from finetune_core.domain import Example, Message
from finetune_core.generation.parsing import json_values
from finetune_core.generation.prompts import base_language

CRITERIA = ("accuracy", "relevance", "clarity", "usefulness", "grounding")
MIN_SCORE, MAX_SCORE = 1.0, 5.0
MAX_PASSAGE_CHARS = 12_000

_SYSTEM = {
    "en": ("You review training data for fine-tuning a language model. You are strict and fair, and you answer "
           "with one JSON object only."),
    "fr": ("Vous évaluez des données d'entraînement pour le fine-tuning d'un modèle de langage. Vous êtes "
           "exigeant et juste, et vous répondez par un seul objet JSON."),
}
_RUBRIC = {
    "en": (
        "Score the training example below against its source passage, each criterion from 1 (bad) to 5 "
        "(excellent):\n"
        "- accuracy: the answer is correct;\n"
        "- relevance: the question and answer are about what the passage says;\n"
        "- clarity: both are clear and well written;\n"
        "- usefulness: a user would gain from learning this;\n"
        "- grounding: everything the answer states is supported by the passage.\n"
    ),
    "fr": (
        "Notez l'exemple d'entraînement ci-dessous au regard de son passage source, chaque critère de 1 "
        "(mauvais) à 5 (excellent) :\n"
        "- accuracy : la réponse est exacte ;\n"
        "- relevance : la question et la réponse portent sur ce que dit le passage ;\n"
        "- clarity : les deux sont claires et bien écrites ;\n"
        "- usefulness : un utilisateur gagnerait à apprendre cela ;\n"
        "- grounding : tout ce qu'affirme la réponse est appuyé par le passage.\n"
    ),
}
_LABELS = {
    "en": ("Source passage", "Example", "Reply with this JSON object and nothing else:"),
    "fr": ("Passage source", "Exemple", "Répondez par cet objet JSON et rien d'autre :"),
}
_SCHEMA = ('{"accuracy": 1-5, "relevance": 1-5, "clarity": 1-5, "usefulness": 1-5, "grounding": 1-5, '
           '"reason": "one sentence"}')


def judge_prompt(example: Example, passage: str | None, language: str | None = None) -> list[Message]:
    """The system and user messages asking for the example's scores."""
    lang = base_language(language or str(example.metadata.get("language") or "en"))
    lang = lang if lang in _SYSTEM else "en"
    source_label, example_label, reply = _LABELS[lang]
    turns = "\n".join(f"{m.role}: {m.content}" for m in example.messages if m.role != "system")
    parts = [_RUBRIC[lang]]
    if passage:
        parts.append(f'{source_label}:\n"""\n{passage.strip()[:MAX_PASSAGE_CHARS]}\n"""')
    parts.append(f'{example_label}:\n"""\n{turns}\n"""')
    parts.append(f"{reply}\n{_SCHEMA}")
    return [Message(role="system", content=_SYSTEM[lang]), Message(role="user", content="\n\n".join(parts))]


@dataclass(frozen=True)
class Verdict:
    score: float  # mean of the criteria, 1-5
    scores: dict[str, float]
    reason: str


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip().split("/")[0])
        except ValueError:
            return None
    else:
        return None
    return number if MIN_SCORE <= number <= MAX_SCORE else None


def parse_verdict(text: str) -> Verdict | None:
    """The scores in a judge's answer, or None when it holds no usable verdict."""
    for value in json_values(text):
        if not isinstance(value, dict):
            continue
        nested = value.get("scores")
        source: dict[str, Any] = nested if isinstance(nested, dict) else value
        scores = {name: number for name in CRITERIA if (number := _number(source.get(name))) is not None}
        if len(scores) < len(CRITERIA):
            continue
        reason = value.get("reason") or value.get("explanation") or ""
        return Verdict(score=round(sum(scores.values()) / len(scores), 3), scores=scores,
                       reason=str(reason).strip()[:1000])
    return None
