"""Use cases on the judge: a chosen chat model scores each example against the rubric (curation/judge.py).

The score (1-5, mean of five criteria) and the model's reason are kept on the example
(`judge_score`, `judge_reason`, and `metadata["judge"]` with each criterion); the project's
`judge_threshold` then marks examples scoring less `judge_below_threshold`, so exports leave them
out. Requests run `concurrency` at a time through the chat model (which paces and retries as its
provider needs); results are stored as they come, so a rerun judges only what is left.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from finetune_core.chat.base import ChatModel, ChatSettings
from finetune_core.curation.judge import judge_prompt, parse_verdict
from finetune_core.domain import PREVIEW_SPLIT, Example
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


def _to_judge(example: Example, rejudge: bool) -> bool:
    if example.split == PREVIEW_SPLIT or not example.messages:
        return False
    judgeable = example.is_valid or example.validation_errors == [JUDGE_CODE]
    return judgeable and (rejudge or example.judge_score is None)


def chat_model(workspace: WorkspacePort, name: str, settings: dict[str, Any] | None, owner_id: str | None) -> ChatModel:
    """A registered chat model, with the owner's stored key when none is given."""
    model_type: type[ChatModel] = workspace.plugins.chat_models.get(name)
    values = dict(settings or {})
    if values.get("api_key") is None and model_type.key_provider:
        values["api_key"] = resolve_key(workspace, model_type.key_provider, owner_id=owner_id)
    return model_type(ChatSettings.model_validate(values))


class _Judging:
    def __init__(self, workspace: WorkspacePort, model: ChatModel, examples: list[Example],
                 passages: dict[str, str], context: JobContext | None) -> None:
        self.workspace, self.model, self.examples, self.passages = workspace, model, examples, passages
        self.context = context
        self.pending: dict[str, dict[str, Any]] = {}
        self.judged = self.unparsed = self.failed = 0
        self.scores: list[float] = []
        self.usage: dict[str, float] = {}
        self.errors: dict[str, int] = {}

    async def one(self, example: Example) -> None:
        messages = judge_prompt(example, self.passages.get(example.chunk_id or ""))
        try:
            reply = await self.model.complete(messages)
        except FinetuneError as exc:
            if exc.error_code in STOPS_THE_RUN:
                raise  # a refused key, no quota left: every other example would meet it too
            self._failed(exc.message)
            return
        except Exception as exc:  # one example's failure (after the model's own retries) is retried next run
            self._failed(f"{type(exc).__name__}: {exc}")
            return
        for key, value in reply.usage.items():
            self.usage[key] = self.usage.get(key, 0.0) + float(value)
        verdict = parse_verdict(reply.text)
        if verdict is None:
            self.unparsed += 1
            self.errors[UNPARSED] = self.errors.get(UNPARSED, 0) + 1
            return
        self.judged += 1
        self.scores.append(verdict.score)
        self.pending[example.id] = {
            "judge_score": verdict.score, "judge_reason": verdict.reason,
            "metadata_": {**example.metadata, "judge": {"scores": verdict.scores, "model": self.model.settings.model,
                                                        "chat_model": self.model.name}},
        }
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
    """Score the project's examples with `chat_model_name`; `threshold` (1-5) is saved in the project config."""
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
    run = _Judging(workspace, model, examples, {cid: chunk.content for cid, chunk in chunks.items()}, context)
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
