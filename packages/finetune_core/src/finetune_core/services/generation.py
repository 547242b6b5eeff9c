"""Use cases on generation: preview and full runs that resume with only the missing work.

Every request is keyed "<prefix><chunk id>:<round>"; its examples are stored in
one transaction under that key with a unique (key, position), so a rerun after
a crash or cancel skips finished keys and can never store an example twice.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from finetune_core.chunking.tokenizers import get_tokenizer
from finetune_core.domain import PREVIEW_SPLIT, Chunk, Example, Project
from finetune_core.errors import InvalidInputError, NothingProducedError
from finetune_core.generation.base import GenerationRequest, GenerationResult, Generator, GeneratorSettings
from finetune_core.generation.language import detect_language
from finetune_core.services import keys as keys_service
from finetune_core.services.batch_generation import BatchOptions, BatchRun, batch_generator
from finetune_core.services.model_access import Origin, check_model_url

if TYPE_CHECKING:
    from finetune_core.chunking.base import Tokenizer
    from finetune_core.jobs.context import JobContext
    from finetune_core.ports import WorkspacePort

PREVIEW_PREFIX = "preview:"
GENERATE_PREFIX = "gen:"
FAILED = "generation_failed"
FAILED_POSITION = -1
MAX_ROUNDS = 20  # beyond this a chunk is asked too often to give anything new
FLUSH_EVERY_S = 0.5
FLUSH_EVERY_EXAMPLES = 256
ERROR_CHARS = 300  # a request's error, as counted in the summary


def _examples_from(result: GenerationResult, request: GenerationRequest, project: Project, generator: str,
                   tokenizer: Tokenizer) -> list[Example]:
    chunk = request.chunk
    base_metadata = {
        "source_name": request.source_name,
        "chunk_index": chunk.chunk_index,
        "page_start": chunk.page_start,
        "page_end": chunk.page_end,
        "heading": chunk.heading,
        "language": request.language,
    }
    common: dict[str, Any] = {
        "project_id": project.id, "source_id": chunk.source_id, "chunk_id": chunk.id,
        "request_key": request.key, "generator": generator,
        "split": PREVIEW_SPLIT if request.key.startswith(PREVIEW_PREFIX) else "unassigned",
    }
    if result.error is not None:
        # position -1 marks a failed request: kept for the record, retried by the next run
        return [Example(**common, position=FAILED_POSITION, messages=[], is_valid=False, validation_errors=[FAILED],
                        metadata={**base_metadata, "error": result.error, "raw": result.raw_text,
                                  "draft_errors": [FAILED]})]
    return [draft.to_example(position=position, count_tokens=tokenizer.count, context=base_metadata, **common)
            for position, draft in enumerate(result.drafts)]


class _Run:
    """One generation run: plans requests lazily and stores results in small transactions."""

    def __init__(self, workspace: WorkspacePort, project: Project, chunks: list[Chunk], *, prefix: str, target: int,
                 per_chunk: int, generator: Generator, context: JobContext | None) -> None:
        self.workspace, self.project, self.chunks = workspace, project, chunks
        self.prefix, self.target, self.per_chunk = prefix, target, per_chunk
        self.generator, self.context = generator, context
        self.tokenizer = get_tokenizer(project.config.tokenizer)
        self.languages: dict[str, str] = {}
        with workspace.unit_of_work() as uow:
            uow.examples.delete_failed_requests(project.id, prefix)  # the next run retries what failed
            self.done_keys = uow.examples.request_keys(project.id, prefix)
            self.produced = uow.examples.count_requested(project.id, prefix)
        self.in_flight_estimate = 0
        self.failed_estimate = 0  # examples asked of failed requests: left to the next run, which retries them
        self.buffer: list[Example] = []
        self.last_flush = time.monotonic()
        self.stored = self.requests = self.failed = 0
        self.errors: Counter[str] = Counter()  # failed requests by error
        self.usage: dict[str, float] = {}

    def _language(self, chunk: Chunk) -> str:
        configured = self.project.config.language
        if configured:
            return configured
        language = chunk.metadata.get("language")
        if isinstance(language, str) and language:
            return language
        return self.languages.setdefault(chunk.source_id, detect_language(chunk.content))

    def plan(self) -> Iterator[GenerationRequest]:
        """Requests round by round over the chunks, until enough examples are on their way.

        Each key is planned once per run; a pass ends when the estimate reaches the target, and
        `drive` starts another pass if the answers came back with fewer examples than asked.
        """
        for round_ in range(MAX_ROUNDS):
            for chunk in self.chunks:
                if self._expected() >= self.target:
                    return
                key = f"{self.prefix}{chunk.id}:{round_}"
                if key in self.done_keys:
                    continue
                self.done_keys.add(key)
                wanted = min(self.per_chunk, self.target - self._expected())
                self.in_flight_estimate += wanted
                self.requests += 1
                yield self.request(key, chunk, round_, wanted)

    def request(self, key: str, chunk: Chunk, round_: int, wanted: int) -> GenerationRequest:
        """The request of `key` (also rebuilt from a batch's stored keys: services/batch_generation)."""
        return GenerationRequest(
            key=key, chunk=chunk, round=round_, task_type=self.project.task_type,
            language=self._language(chunk), n_examples=wanted, system_prompt=self.project.config.system_prompt,
            source_name=str(chunk.metadata.get("source_name") or ""),
        )

    def _expected(self) -> int:
        return self.produced + self.in_flight_estimate + self.failed_estimate

    def accept(self, result: GenerationResult, request: GenerationRequest) -> None:
        self.in_flight_estimate -= request.n_examples
        for key, value in result.usage.items():
            self.usage[key] = self.usage.get(key, 0.0) + value
        examples = _examples_from(result, request, self.project, self.generator.name, self.tokenizer)
        if result.error is not None:
            self.failed += 1
            self.failed_estimate += request.n_examples
            self.errors[result.error[:ERROR_CHARS]] += 1
        else:
            self.produced += len(examples)
        self.buffer.extend(examples)

    def due(self) -> bool:
        """Whether the buffered examples (and the progress) should be written now."""
        return len(self.buffer) >= FLUSH_EVERY_EXAMPLES or time.monotonic() - self.last_flush > FLUSH_EVERY_S

    def persist(self) -> None:
        """Write the buffered examples, then the progress (which raises if the job was cancelled)."""
        self.flush()
        if self.context:
            self.context.progress(min(self.produced, self.target), self.target,
                                  f"{self.produced} examples from {self.requests} requests")

    def flush(self) -> None:
        if self.buffer:
            with self.workspace.unit_of_work() as uow:
                failed = [example for example in self.buffer if example.position == FAILED_POSITION]
                self.stored += uow.examples.add([example for example in self.buffer
                                                  if example.position != FAILED_POSITION])
                if failed:  # kept for the record, not counted as new examples
                    uow.examples.add(failed)
            self.buffer = []
        self.last_flush = time.monotonic()

    async def drive(self, concurrency: int | None) -> None:
        """Passes over `plan` until the target is met or no request is left to ask (a top-up after short answers)."""
        requests: dict[str, GenerationRequest] = {}

        def tracked() -> Iterator[GenerationRequest]:
            for request in self.plan():
                requests[request.key] = request
                yield request

        try:
            while self._expected() < self.target:
                planned, produced = self.requests, self.produced
                async for result in self.generator.generate(tracked(), concurrency=concurrency):
                    self.accept(result, requests.pop(result.key))
                    if self.due():
                        # in a thread: the event loop goes on reading answers meanwhile (a loop held by a
                        # database write reads them late, and `auto` would take them for a server still busy)
                        await asyncio.to_thread(self.persist)
                if self.requests == planned or self.produced == produced:
                    break  # nothing left to ask (every chunk asked MAX_ROUNDS times), or a pass that gave nothing
        finally:
            self.flush()
            await self.generator.aclose()

    def settle(self, summary: dict[str, Any]) -> None:
        """Add to `summary` what became of the request: `partial` and a `message`; raise NothingProducedError
        (with the summary) when requests were sent and not one example came back."""
        short = max(0, self.target - self.produced)
        summary.update(requested=self.target, partial=bool(self.failed or short),
                       errors=dict(self.errors.most_common(5)))
        failures = self._failures()
        if not self.requests:
            summary["message"] = (f"nothing left to do: the {self.target} examples asked for are already generated"
                                  if not short else f"nothing left to ask: every chunk was asked {MAX_ROUNDS} times; "
                                                    f"{self.produced} of {self.target} examples generated")
        elif not self.stored:
            answered = self.requests - self.failed
            empty = f"{answered} answers held no example" if answered else ""
            raise NothingProducedError("no example generated: " + "; ".join(filter(None, [failures, empty])),
                                       summary=summary)
        else:
            summary["message"] = (f"{self.produced} of {self.target} examples generated "
                                  f"({self.stored} new from {self.requests} requests)")
            if failures:
                summary["message"] += f"; {failures}; a rerun retries them"
            elif short:
                summary["message"] += "; the chunks gave no more"

    def _failures(self) -> str:
        """The failed requests in a few words: how many, and the most common error."""
        if not self.errors:
            return ""
        error, count = self.errors.most_common(1)[0]
        some = f"all {self.requests}" if self.failed == self.requests else f"{self.failed} of {self.requests}"
        return f"{some} requests failed" + (" with: " if count == self.failed else f", {count} of them with: ") + error


def generate(
    workspace: WorkspacePort,
    project_id: str,
    *,
    preview: bool = False,
    target: int | None = None,
    examples_per_chunk: int | None = None,
    generator: str | None = None,
    settings: dict[str, Any] | None = None,
    source_ids: list[str] | None = None,
    context: JobContext | None = None,
    origin: Origin = Origin.LOCAL,
) -> dict[str, Any]:
    """Generate examples from the project's chunks (only those of `source_ids` if given); a rerun continues
    where the last one stopped. A model server named by a web client (`origin`) is checked before any call.

    The examples are left unvalidated: the pipeline's curate step follows (services/pipeline.py)."""
    with workspace.unit_of_work() as uow:
        project = uow.projects.find(project_id)
        chunks, _ = uow.chunks.search(project.id, limit=None)
        if preview:
            uow.examples.delete_all(project.id, split=PREVIEW_SPLIT)  # a new preview replaces the last one
    if source_ids is not None:
        chosen = set(source_ids)
        chunks = [chunk for chunk in chunks if chunk.source_id in chosen]
    if not chunks:
        raise InvalidInputError("the project has no chunks yet: add sources, then run chunking"
                                if source_ids is None else "the chosen sources have no chunks (none could be read)")
    config = project.config
    name = generator or config.generator
    generator_settings = GeneratorSettings.model_validate({"model": config.model, **(settings or {})})
    if generator_settings.base_url:  # checked again here: the host may resolve elsewhere than when it was queued
        check_model_url(workspace.settings, generator_settings.base_url, origin)
    generator_type: type[Generator] = workspace.plugins.generators.get(name)
    if generator_settings.api_key is None and generator_type.key_provider:
        generator_settings.api_key = keys_service.stored_key(workspace, generator_type.key_provider,
                                                             owner_id=project.owner_id)
    instance = generator_type(generator_settings)
    batch = BatchOptions.of(generator_settings)  # `batch`: through the provider's batch API, refused if it has none
    batched = batch_generator(workspace, name, instance, preview=preview) if batch is not None else None
    prefix = PREVIEW_PREFIX if preview else GENERATE_PREFIX
    run = _Run(workspace, project, chunks, prefix=prefix,
               target=target or (10 if preview else config.num_examples_target),
               per_chunk=examples_per_chunk or config.examples_per_chunk, generator=instance, context=context)
    started = time.monotonic()
    batch_run = None if batch is None or batched is None else BatchRun(workspace, run, batched, batch, name=name,
                                                                       model=generator_settings.model)
    work = batch_run.drive() if batch_run else run.drive(generator_settings.fixed_concurrency)
    asyncio.run(context.cancellable(work) if context is not None else work)
    summary: dict[str, Any] = {
        "generator": name, "requests": run.requests, "failed_requests": run.failed, "new_examples": run.stored,
        "total_generated": run.produced, "seconds": round(time.monotonic() - started, 3),
        "usage": {key: round(value, 6) for key, value in run.usage.items()},
    }
    if batch_run:  # the batches' ids; the usage's cost is the batch price
        summary.update(batch_run.summary(), usage={**summary["usage"], "batch": True})
    report = instance.concurrency_report()
    if report is not None:
        summary["concurrency"] = report
    run.settle(summary)  # raises, with these counts, when not one example came back
    return summary
