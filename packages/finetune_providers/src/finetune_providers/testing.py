"""Answers of a fake Chat Completions model, for tests and benchmarks of generators (no network).

A fake server (tests, `benchmarks/bench_generation.py`, the REST end-to-end test) reads what the
core's prompt asks for with `parse_prompt`, and answers with `examples_text` wrapped in
`completion_json`: as many QA examples as asked, each quoting a sentence of the passage as its
answer and evidence, so the examples pass the core's grounding check.
"""

from __future__ import annotations

import json
import re
from typing import Any

_PASSAGE = re.compile(r'"""\n(.*?)\n"""', re.DOTALL)
_COUNT = re.compile(r"(?:exactly|exactement) (\d+) (?:item|élément)")  # the English or French template
_ROUND = re.compile(r"(?:This is round|C.est le tour) (\d+)")
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]")
MIN_SENTENCE_CHARS = 25


def parse_prompt(body: dict[str, Any]) -> tuple[str, int, int]:
    """(passage, round from 0, examples asked) of a Chat Completions request built by `render_prompt`."""
    user = next((m.get("content", "") for m in body.get("messages", []) if m.get("role") == "user"), "")
    passage = _PASSAGE.search(user)
    count = _COUNT.search(user)
    round_ = _ROUND.search(user)
    return (passage.group(1) if passage else "", int(round_.group(1)) - 1 if round_ else 0,
            int(count.group(1)) if count else 1)


def examples_text(passage: str, round_: int, count: int) -> str:
    """The model's answer: `count` QA examples whose answer and evidence are sentences of the passage."""
    sentences = [s.strip() for s in _SENTENCE.findall(passage) if len(s.strip()) >= MIN_SENTENCE_CHARS]
    sentences = sentences or [passage.strip()]
    examples = []
    for position in range(count):
        number = round_ * count + position
        sentence = sentences[number % len(sentences)]
        examples.append({"question": f"What does the text state in point {number + 1}?",
                         "answer": sentence, "evidence": sentence})
    return json.dumps({"examples": examples})


def completion_json(text: str, *, model: str = "fake-model", prompt_tokens: int = 100,
                    completion_tokens: int = 50) -> dict[str, Any]:
    """A Chat Completions response body whose one choice says `text`."""
    return {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def is_judge_prompt(body: dict[str, Any]) -> bool:
    """Whether the request is the core judge's (it asks for the five rubric scores)."""
    return any('"grounding": 1-5' in str(m.get("content", "")) for m in body.get("messages", []))


def verdict_text(score: int = 4, reason: str = "Accurate and grounded in the passage.") -> str:
    """A judge's answer giving `score` (1-5) on every criterion."""
    criteria = ("accuracy", "relevance", "clarity", "usefulness", "grounding")
    return json.dumps({**dict.fromkeys(criteria, score), "reason": reason})


def answer(body: dict[str, Any]) -> dict[str, Any]:
    """The whole fake answer to a request body: a judge's verdict for a judge prompt, otherwise the examples it
    asks for; token counts from the lengths."""
    if is_judge_prompt(body):
        text = verdict_text()
    else:
        passage, round_, count = parse_prompt(body)
        text = examples_text(passage, round_, count)
    user = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
    return completion_json(text, model=str(body.get("model")), prompt_tokens=user // 4,
                           completion_tokens=len(text) // 4)
