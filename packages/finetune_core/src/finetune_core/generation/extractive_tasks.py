"""The extractive generator's `reasoning` and `preference` examples, made from its question-answer drafts.

reasoning: the answer stays the assistant turn; `metadata["reasoning"]` says where the passage answers the
question and quotes it, then concludes (a template in the passage's language: no model is involved).

preference: two candidates, the grounded answer and a deliberately weaker one, the same answer cut off about
half-way (what a generation stopped early gives). Their order is set by a hash of the question, so a position
says nothing about quality; nothing here says which is better: the ranking (services/judging.py) scores both
texts, with the judge's rubric or offline with the grounding score (curation/grounding.py).
"""

from __future__ import annotations

import hashlib

from finetune_core.domain import ExampleDraft, TaskType
from finetune_core.domain.task_fields import CANDIDATES, REASONING, with_answer

_MIN_CUT_WORDS = 3  # the weaker answer keeps at least this many words and drops at least as many

_REASONING: dict[str, str] = {
    "en": 'The question asks: "{question}" The passage answers it directly: "{answer}" So the answer restates '
          "what the passage says, and nothing more.",
    "fr": "La question est : « {question} » Le passage y répond directement : « {answer} » La réponse reprend "
          "donc ce que dit le passage, sans rien ajouter.",
}


def cut_short(answer: str) -> str | None:
    """The answer's first half, cut at a word: a weaker, incomplete answer; None when too short to cut."""
    words = answer.split()
    keep = max(_MIN_CUT_WORDS, len(words) // 2)
    if len(words) - keep < _MIN_CUT_WORDS:
        return None
    return " ".join(words[:keep]).rstrip(",;:")


def _reasoning(draft: ExampleDraft, language: str) -> ExampleDraft:
    question, answer = draft.messages[0].content, draft.messages[-1].content
    template = _REASONING.get(language, _REASONING["en"])
    return draft.model_copy(update={
        "metadata": {**draft.metadata, REASONING: template.format(question=question, answer=answer)},
    })


def _preference(draft: ExampleDraft) -> ExampleDraft | None:
    question, answer = draft.messages[0].content, draft.messages[-1].content
    weaker = cut_short(answer)
    if weaker is None:
        return None
    flip = hashlib.sha256(question.encode("utf-8")).digest()[0] % 2 == 1
    candidates = [weaker, answer] if flip else [answer, weaker]
    return draft.model_copy(update={
        "messages": with_answer(draft.messages, candidates[0]),  # a placeholder until the example is ranked
        "metadata": {**draft.metadata, CANDIDATES: candidates},
    })


def for_task(drafts: list[ExampleDraft], task: TaskType, language: str) -> list[ExampleDraft]:
    """Question-answer drafts turned into drafts of `task` (reasoning or preference; others pass unchanged)."""
    if task is TaskType.REASONING:
        return [_reasoning(draft, language) for draft in drafts]
    if task is TaskType.PREFERENCE:
        return [made for draft in drafts if (made := _preference(draft)) is not None]
    return drafts
