"""Asking the models: each question closed-book (the project's system prompt, then the question), and, with a
judge, each pair of answers twice, in both orders, so that a judge's preference for a position cancels out."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal, TypeVar

from finetune_core.chat.base import ChatModel
from finetune_core.domain import Message
from finetune_core.errors import FinetuneError
from finetune_core.services.judging import STOPS_THE_RUN

T = TypeVar("T")
Outcome = Literal["win", "tie", "loss"]
Verdict = Literal["A", "B", "tie"]
ANSWER_CHARS = 4000  # what the judge is shown of an answer

JUDGE_SYSTEM = (
    "You compare two answers to a question about a set of documents. A reference answer taken from the documents "
    "is given. The better answer states the reference's facts correctly and invents nothing; length and style do not "
    "count. Reply with a JSON object only: {\"winner\": \"A\"} or {\"winner\": \"B\"}, or {\"winner\": \"tie\"} "
    "when neither is better."
)
_VERDICT = re.compile(r"\b(?:winner|answer)\W{0,6}(A|B|tie)\b", re.IGNORECASE)


async def bounded(limit: int, jobs: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run the jobs, `limit` at a time, and return their results in order."""
    semaphore = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[T]]) -> T:
        async with semaphore:
            return await job()

    return list(await asyncio.gather(*(one(job) for job in jobs)))


async def _complete(model: ChatModel, messages: list[Message]) -> str | None:
    """The answer's text; None when the request failed after the model's own retries (an error that every other
    request would meet too, such as a refused key, is raised)."""
    try:
        reply = await model.complete(messages)
    except FinetuneError as exc:
        if exc.error_code in STOPS_THE_RUN:
            raise
        return None
    except Exception:  # one question's failure: scored as an empty answer, counted in `failed`
        return None
    return reply.text.strip()


async def answers(model: ChatModel, questions: Sequence[str], system_prompt: str | None) -> list[str | None]:
    """Each question's answer (None where the request failed); the model is closed afterwards."""
    head = [Message(role="system", content=system_prompt)] if system_prompt else []

    def job(question: str) -> Callable[[], Awaitable[str | None]]:
        return lambda: _complete(model, [*head, Message(role="user", content=question)])

    try:
        return await bounded(model.settings.concurrency, [job(question) for question in questions])
    finally:
        await model.aclose()


def judge_messages(question: str, reference: str, answer_a: str, answer_b: str) -> list[Message]:
    prompt = (f"<question>\n{question}\n</question>\n<reference>\n{reference}\n</reference>\n"
              f"<answer_a>\n{answer_a[:ANSWER_CHARS]}\n</answer_a>\n<answer_b>\n{answer_b[:ANSWER_CHARS]}\n</answer_b>\n"
              "Which answer is better?")
    return [Message(role="system", content=JUDGE_SYSTEM), Message(role="user", content=prompt)]


def parse_verdict(text: str | None) -> Verdict | None:
    """"A", "B" or "tie" from the judge's reply (a JSON object, or a sentence naming the winner); None if unread."""
    if not text:
        return None
    try:
        value = json.loads(text[text.index("{"):text.rindex("}") + 1])
        winner = str(value.get("winner", "")).strip() if isinstance(value, dict) else ""
    except ValueError:
        winner = ""
    if not winner:
        match = _VERDICT.search(text)
        winner = match.group(1) if match else text.strip()
    lowered = winner.lower()
    if lowered in ("a", "b"):
        return "A" if lowered == "a" else "B"
    return "tie" if lowered in ("tie", "none", "equal", "neither") else None


def outcome(first_order: Verdict | None, second_order: Verdict | None) -> Outcome:
    """The challenger's outcome against the first model. The first order shows the first model's answer as A,
    the second as B: a win (or loss) counts only when both orders agree; anything else is a tie."""
    if first_order == "B" and second_order == "A":
        return "win"
    if first_order == "A" and second_order == "B":
        return "loss"
    return "tie"


async def judge_pairs(judge: ChatModel, items: Sequence[tuple[str, str, str, str]]) -> list[Outcome]:
    """For each (question, reference, first model's answer, challenger's answer), the challenger's outcome."""

    def job(messages: list[Message]) -> Callable[[], Awaitable[Verdict | None]]:
        async def ask() -> Verdict | None:
            return parse_verdict(await _complete(judge, messages))
        return ask

    jobs = []
    for question, reference, first, challenger in items:
        jobs.append(job(judge_messages(question, reference, first, challenger)))
        jobs.append(job(judge_messages(question, reference, challenger, first)))
    verdicts = await bounded(judge.settings.concurrency, jobs)  # the caller closes the judge
    return [outcome(verdicts[2 * index], verdicts[2 * index + 1]) for index in range(len(items))]
