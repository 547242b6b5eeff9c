"""Use cases on the judge: a chosen chat model scores each example against the rubric (curation/judge.py).

The score (1-5, mean of five criteria) and the model's reason are kept on the example
(`judge_score`, `judge_reason`, and `metadata["judge"]` with each criterion); the project's
`judge_threshold` then marks examples scoring less `judge_below_threshold`, so exports leave them
out. Requests run `concurrency` at a time through the chat model (which paces and retries as its
provider needs); results are stored as they come, so a rerun judges only what is left.

Preference examples (domain/task_fields.py) are ranked: the judge scores each of the two candidates with the
same rubric (two requests), the higher becomes the chosen answer (the assistant turn), the other
`metadata["rejected"]`, with `chosen_score`, `rejected_score`, `margin` (their difference) and `tie` (equal
scores: kept, left out of the preference exports); `judge_score`/`judge_reason` are the chosen answer's. An
unranked pair (`preference_unranked`) is always ranked, rejudge or not.

Offline, with no model: `rank_by_grounding` ranks the pairs by each candidate's grounding score against its
chunk and question (curation/grounding.py, on the same 1-5 scale; `ranked_by` "grounding", no `judge_score`);
`judge` with the chat model name "grounding" does the same, so `finetune judge --chat-model grounding` and the
judge job rank offline. A later judge run with a model ranks the grounding-ranked pairs again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from finetune_core.chat.base import ChatModel, ChatSettings
from finetune_core.chunking.tokenizers import get_tokenizer
from finetune_core.curation.grounding import grounding_score
from finetune_core.curation.judge import Verdict, judge_prompt, parse_verdict
from finetune_core.curation.validators import PreferenceValidator
from finetune_core.domain import PREVIEW_SPLIT, Example
from finetune_core.domain.task_fields import (
    CHOSEN_SCORE,
    TIE,
    candidates_of,
    is_preference,
    is_ranked,
    ranked,
    with_answer,
)
from finetune_core.errors import FinetuneError, InvalidInputError, NothingProducedError
from finetune_core.services.curation import curate_project
from finetune_core.services.keys import resolve_key

if TYPE_CHECKING:
    from finetune_core.jobs.context import JobContext
    from finetune_core.ports import WorkspacePort

JUDGE_CODE = "judge_below_threshold"
# errors no other example can escape; anything else (a rejected request, a request still failing after its
# retries) fails that example only, and the next run tries it again
STOPS_THE_RUN = frozenset({"PROVIDER_AUTH", "PROVIDER_QUOTA", "PROVIDER_NO_KEY", "PROVIDER_BAD_KEY",
                           "API_KEY_MISSING", "INVALID_API_KEY"})
FLUSH_EVERY = 64
UNPARSED = "unparsed_verdict"
GROUNDING = "grounding"  # the chat model name `judge` takes for the offline ranking of preference pairs
# what a (re)ranking may clear: an example flagged only with these is judged or ranked all the same
RANKING_CODES = frozenset({JUDGE_CODE, PreferenceValidator.unranked})


def _judgeable(example: Example) -> bool:
    if example.split == PREVIEW_SPLIT or not example.messages:
        return False
    codes = set(example.validation_errors)
    return example.is_valid or (bool(codes) and codes <= RANKING_CODES)


def _to_judge(example: Example, rejudge: bool) -> bool:
    if not _judgeable(example):
        return False
    if is_preference(example) and not is_ranked(example):
        return True  # unranked: not exportable until ranked
    return rejudge or example.judge_score is None


def _ranking_fields(example: Example, count_tokens: Callable[[str], int]) -> dict[str, Any]:
    """The stored columns a ranking changes."""
    messages = [message.model_dump() for message in example.messages]
    text = "\n".join(message.content for message in example.messages)
    return {"messages": messages, "token_count": count_tokens(text) if text else 0, "metadata_": example.metadata}


def chat_model(workspace: WorkspacePort, name: str, settings: dict[str, Any] | None, owner_id: str | None) -> ChatModel:
    """A registered chat model, with the owner's stored key when none is given."""
    model_type: type[ChatModel] = workspace.plugins.chat_models.get(name)
    values = dict(settings or {})
    if values.get("api_key") is None and model_type.key_provider:
        values["api_key"] = resolve_key(workspace, model_type.key_provider, owner_id=owner_id)
    return model_type(ChatSettings.model_validate(values))


class _Judging:
    def __init__(self, workspace: WorkspacePort, model: ChatModel, examples: list[Example],
                 passages: dict[str, str], context: JobContext | None,
                 count_tokens: Callable[[str], int] = len) -> None:
        self.workspace, self.model, self.examples, self.passages = workspace, model, examples, passages
        self.context, self.count_tokens = context, count_tokens
        self.pending: dict[str, dict[str, Any]] = {}
        self.judged = self.unparsed = self.failed = 0
        self.scores: list[float] = []
        self.usage: dict[str, float] = {}
        self.errors: dict[str, int] = {}

    async def ask(self, example: Example) -> Verdict | None:
        """The model's verdict on `example`; None (counted as failed or unparsed) when there is none."""
        messages = judge_prompt(example, self.passages.get(example.chunk_id or ""))
        try:
            reply = await self.model.complete(messages)
        except FinetuneError as exc:
            if exc.error_code in STOPS_THE_RUN:
                raise  # a refused key, no quota left: every other example would meet it too
            self._failed(exc.message)
            return None
        except Exception as exc:  # one example's failure (after the model's own retries) is retried next run
            self._failed(f"{type(exc).__name__}: {exc}")
            return None
        for key, value in reply.usage.items():
            self.usage[key] = self.usage.get(key, 0.0) + float(value)
        verdict = parse_verdict(reply.text)
        if verdict is None:
            self.unparsed += 1
            self.errors[UNPARSED] = self.errors.get(UNPARSED, 0) + 1
        return verdict

    async def one(self, example: Example) -> None:
        if is_preference(example):
            await self.rank(example)
            return
        verdict = await self.ask(example)
        if verdict is None:
            return
        self.judged += 1
        self.scores.append(verdict.score)
        self.pending[example.id] = {
            "judge_score": verdict.score, "judge_reason": verdict.reason,
            "metadata_": {**example.metadata, "judge": self._judge_details(verdict)},
        }
        if len(self.pending) >= FLUSH_EVERY:
            self.flush()

    def _judge_details(self, verdict: Verdict) -> dict[str, Any]:
        return {"scores": verdict.scores, "model": self.model.settings.model, "chat_model": self.model.name}

    async def rank(self, example: Example) -> None:
        """Score both candidates (one request each, the second only once the first has a verdict), then rank."""
        texts = candidates_of(example)
        if len(texts) != 2:  # curation makes such an example invalid (preference_incomplete): never sent here
            self._failed(f"a preference example needs two candidates, not {len(texts)}")
            return
        verdicts: list[Verdict] = []
        for text in texts:
            verdict = await self.ask(example.model_copy(update={"messages": with_answer(example.messages, text)}))
            if verdict is None:
                return  # counted once; a rerun ranks it
            verdicts.append(verdict)
        chosen, rejected = verdicts if verdicts[0].score >= verdicts[1].score else verdicts[::-1]
        details = {**self._judge_details(chosen), "rejected_scores": rejected.scores,
                   "rejected_reason": rejected.reason}
        result = ranked(example, [verdict.score for verdict in verdicts], ranked_by="judge", judge=details)
        self.judged += 1
        self.scores.append(chosen.score)
        self.pending[example.id] = {"judge_score": chosen.score, "judge_reason": chosen.reason,
                                    **_ranking_fields(result, self.count_tokens)}
        if len(self.pending) >= FLUSH_EVERY:
            self.flush()

    def _failed(self, message: str) -> None:
        self.failed += 1
        self.errors[message[:200]] = self.errors.get(message[:200], 0) + 1

    def flush(self) -> None:
        if self.pending:
            with self.workspace.unit_of_work() as uow:
                uow.examples.update(self.pending)
            self.pending = {}
        if self.context is not None:
            done = self.judged + self.unparsed + self.failed
            self.context.progress(done, len(self.examples), f"{done}/{len(self.examples)} examples judged")

    async def run(self) -> None:
        limit = self.model.settings.concurrency
        queue = iter(self.examples)
        tasks: set[asyncio.Task[None]] = set()
        try:
            while True:
                while len(tasks) < limit and (example := next(queue, None)) is not None:
                    tasks.add(asyncio.create_task(self.one(example)))
                if not tasks:
                    return
                done, tasks = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            try:
                self.flush()  # its progress raises when the job was cancelled: the client is closed all the same
            finally:
                await self.model.aclose()

    def settle(self, summary: dict[str, Any]) -> None:
        """Add to `summary` whether every example was judged (`partial`, `message`); raise NothingProducedError
        (with the summary) when examples were sent and not one came back judged."""
        asked = len(self.examples)
        summary["partial"] = bool(self.failed or self.unparsed)
        if not asked:
            summary["message"] = "nothing to judge: no example is waiting for a score (rejudge to score them again)"
            return
        problems = []
        if self.failed:
            error, count = max(((e, n) for e, n in self.errors.items() if e != UNPARSED), key=lambda item: item[1])
            problems.append(f"{self.failed} requests failed"
                            + (" with: " if count == self.failed else f", {count} of them with: ") + error)
        if self.unparsed:
            problems.append(f"{self.unparsed} verdicts could not be read")
        if not self.judged:
            raise NothingProducedError(f"no example judged out of {asked}: " + "; ".join(problems), summary=summary)
        summary["message"] = f"{self.judged} of {asked} examples judged"
        if problems:
            summary["message"] += "; " + "; ".join(problems) + "; a rerun judges them"


def judge(workspace: WorkspacePort, project_id: str, *, chat_model_name: str, settings: dict[str, Any] | None = None,
          threshold: float | None = None, rejudge: bool = False, context: JobContext | None = None) -> dict[str, Any]:
    """Score the project's examples with `chat_model_name` (preference pairs: rank them); `threshold` (1-5) is saved
    in the project config. The name "grounding" ranks the preference pairs offline instead (`rank_by_grounding`)."""
    if chat_model_name == GROUNDING:
        return rank_by_grounding(workspace, project_id, threshold=threshold, rerank=rejudge)
    with workspace.unit_of_work() as uow:
        project = uow.projects.find(project_id)
        if threshold is not None:
            if not 1.0 <= threshold <= 5.0:
                raise InvalidInputError(f"the judge threshold is a score from 1 to 5, not {threshold}")
            project.config.judge_threshold = threshold
            uow.projects.save(project)
        examples = [example for example in uow.examples.iterate(project.id) if _to_judge(example, rejudge)]
        chunks = uow.chunks.by_id({example.chunk_id for example in examples if example.chunk_id})
    model = chat_model(workspace, chat_model_name, {"json_mode": True, **(settings or {})}, project.owner_id)
    run = _Judging(workspace, model, examples, {cid: chunk.content for cid, chunk in chunks.items()}, context,
                   get_tokenizer(project.config.tokenizer).count)
    started = time.monotonic()
    asyncio.run(context.cancellable(run.run()) if context is not None else run.run())
    stats = curate_project(workspace, project.id)
    summary: dict[str, Any] = {
        "chat_model": chat_model_name, "model": model.settings.model, "to_judge": len(examples),
        "judged": run.judged, "unparsed": run.unparsed, "failed": run.failed, "errors": run.errors,
        "mean_score": round(sum(run.scores) / len(run.scores), 3) if run.scores else None,
        "threshold": project.config.judge_threshold,
        "below_threshold": stats["validation_errors"].get(JUDGE_CODE, 0),
        "usage": {key: round(value, 6) for key, value in run.usage.items()},
        "seconds": round(time.monotonic() - started, 3), "valid": stats["valid"],
    }
    run.settle(summary)  # raises, with these counts, when not one example was judged
    return summary


def judge_job(context: JobContext, *, project_id: str, chat_model: str, settings: dict[str, Any] | None = None,
              threshold: float | None = None, rejudge: bool = False) -> dict[str, Any]:
    return judge(context.workspace, project_id, chat_model_name=chat_model, settings=settings, threshold=threshold,
                 rejudge=rejudge, context=context)


def rank_by_grounding(workspace: WorkspacePort, project_id: str, *, threshold: float | None = None,
                      rerank: bool = False) -> dict[str, Any]:
    """Rank the project's unranked preference pairs offline (no model): each candidate's grounding score against
    its chunk and question; with `rerank`, the ranked ones too. The summary has the judge's keys, plus `ties`."""
    started = time.monotonic()
    with workspace.unit_of_work() as uow:
        project = uow.projects.find(project_id)
        if threshold is not None:
            if not 1.0 <= threshold <= 5.0:
                raise InvalidInputError(f"the judge threshold is a score from 1 to 5, not {threshold}")
            project.config.judge_threshold = threshold
            uow.projects.save(project)
        pairs = [example for example in uow.examples.iterate(project.id) if is_preference(example)]
        examples = [example for example in pairs if _judgeable(example) and len(candidates_of(example)) == 2
                    and (rerank or not is_ranked(example))]
        chunks = uow.chunks.by_id({example.chunk_id for example in examples if example.chunk_id})
    if not pairs:
        raise InvalidInputError(f"the grounding ranker ranks preference pairs, and project '{project.name}' (task "
                                f"type {project.task_type.value}) has none: generate with task type 'preference'",
                                project_id=project.id)
    count_tokens = get_tokenizer(project.config.tokenizer).count
    changes: dict[str, dict[str, Any]] = {}
    scores: list[float] = []
    ties = 0
    for example in examples:
        chunk = chunks.get(example.chunk_id or "")
        passage = chunk.content if chunk is not None else ""
        texts = candidates_of(example)
        result = ranked(example, [grounding_score(text, passage, example.question) for text in texts],
                        ranked_by=GROUNDING)
        scores.append(result.metadata[CHOSEN_SCORE])
        ties += result.metadata[TIE] is True
        # a judge's score described the answer it chose: a grounding ranking leaves none behind
        changes[example.id] = {"judge_score": None, "judge_reason": None, **_ranking_fields(result, count_tokens)}
    with workspace.unit_of_work() as uow:
        uow.examples.update(changes)
    stats = curate_project(workspace, project.id)
    message = (f"{len(examples)} preference pairs ranked by grounding, {ties} of them ties (left out of the "
               f"preference exports)" if examples else "nothing to rank: every preference pair is ranked (rerank to "
               "rank them again)")
    return {
        "chat_model": GROUNDING, "model": None, "to_judge": len(examples), "judged": len(examples), "unparsed": 0,
        "failed": 0, "errors": {}, "ties": ties,
        "mean_score": round(sum(scores) / len(scores), 3) if scores else None,
        "threshold": project.config.judge_threshold, "below_threshold": stats["validation_errors"].get(JUDGE_CODE, 0),
        "usage": {}, "seconds": round(time.monotonic() - started, 3), "valid": stats["valid"], "partial": False,
        "message": message,
    }
