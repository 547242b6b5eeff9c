"""What the `reasoning` and `preference` task types keep in an example's metadata, and how to read it.

reasoning: the assistant turn holds the final answer only; `metadata["reasoning"]` the worked reasoning that
leads to it (a string), kept apart so an exporter can write it or leave it out.

preference: one question, two answers of different quality.
- Straight out of generation (unranked): `metadata["candidates"] = [text_a, text_b]`; the assistant turn holds
  `text_a` as a placeholder only. Curation marks the example invalid (`preference_unranked`), so no export
  writes it until it is ranked.
- Ranked (by the judge, or offline by the grounding score): the assistant turn is the CHOSEN answer;
  `metadata["rejected"]` the other one; `metadata["chosen_score"]`, `metadata["rejected_score"]` their scores
  (1-5); `metadata["margin"]` = chosen_score - rejected_score (>= 0); `metadata["tie"]` True when the margin is 0
  (kept, but left out of the preference exports); `metadata["ranked_by"]` "judge" or "grounding". The candidates
  stay, so a later ranking starts from the same two texts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from finetune_core.domain.content import Example, Message

REASONING = "reasoning"
CANDIDATES = "candidates"
REJECTED = "rejected"
MARGIN = "margin"
CHOSEN_SCORE = "chosen_score"
REJECTED_SCORE = "rejected_score"
TIE = "tie"
RANKED_BY = "ranked_by"


def reasoning_of(example: Example) -> str:
    """The example's worked reasoning, stripped; empty when it has none."""
    value = example.metadata.get(REASONING)
    return value.strip() if isinstance(value, str) else ""


def is_preference(example: Example) -> bool:
    """An example of the preference task: it carries two candidates, or a rejected answer."""
    return CANDIDATES in example.metadata or REJECTED in example.metadata


def candidates_of(example: Example) -> list[str]:
    """The two answers to rank: `candidates`, else (an example ranked elsewhere) the answer and the rejected one."""
    found = example.metadata.get(CANDIDATES)
    if isinstance(found, list):
        return [text if isinstance(text, str) else "" for text in found]
    if REJECTED in example.metadata:
        rejected = example.metadata[REJECTED]
        return [example.answer, rejected if isinstance(rejected, str) else ""]
    return []


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_ranked(example: Example) -> bool:
    metadata = example.metadata
    return isinstance(metadata.get(REJECTED), str) and _number(metadata.get(MARGIN))


def is_tie(example: Example) -> bool:
    return is_ranked(example) and (example.metadata.get(TIE) is True or example.metadata[MARGIN] == 0)


def preference_pair(example: Example) -> tuple[str, str] | None:
    """(chosen, rejected) of a ranked, untied example whose two answers are there and differ; else None."""
    if not is_ranked(example) or is_tie(example) or example.metadata[MARGIN] < 0:
        return None
    chosen, rejected = example.answer, example.metadata[REJECTED]
    if not chosen.strip() or not rejected.strip() or chosen.strip() == rejected.strip():
        return None
    return chosen, rejected


def with_answer(messages: Sequence[Message], text: str) -> list[Message]:
    """The messages with their last assistant turn's content replaced by `text` (one appended when none)."""
    result = list(messages)
    for index in range(len(result) - 1, -1, -1):
        if result[index].role == "assistant":
            result[index] = Message(role="assistant", content=text)
            return result
    return [*result, Message(role="assistant", content=text)]


def ranked(example: Example, scores: Sequence[float], *, ranked_by: str, **details: Any) -> Example:
    """`example` ranked by `scores` (one per candidate, in the candidates' order): the higher one is chosen; equal
    scores are a tie (the first candidate stays the answer). `details` go into the metadata as they are."""
    texts = candidates_of(example)
    if len(texts) != 2 or len(scores) != 2:
        raise ValueError(f"a preference example ranks two candidates, not {len(texts)} with {len(scores)} scores")
    first, second = (round(float(score), 3) for score in scores)
    best = 0 if first >= second else 1
    chosen_score, rejected_score = (first, second) if best == 0 else (second, first)
    margin = round(chosen_score - rejected_score, 3)
    metadata = {**example.metadata, CANDIDATES: texts, REJECTED: texts[1 - best], MARGIN: margin,
                CHOSEN_SCORE: chosen_score, REJECTED_SCORE: rejected_score, TIE: margin == 0,
                RANKED_BY: ranked_by, **details}
    return example.model_copy(update={"messages": with_answer(example.messages, texts[best]), "metadata": metadata})
