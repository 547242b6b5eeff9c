"""Generation through a provider's batch API (`settings.extra["batch"]`, `finetune generate --batch`).

The run plans its requests exactly as online (services/generation's `_Run`: same keys, finished keys
skipped), sends those left as one batch (a few when over the provider's limits), polls them with
backoff and stores each result through `_Run.accept`, the online path, so keys, positions and the
exactly-once guarantee are the same. The summary names the batches and its usage says `batch: true`
(the cost is the provider's batch price: see finetune_core.generation.batch).

What a crash must not lose lives in the project's files (`<project>/generation/batches-<prefix>.json`,
written whole and renamed into place; deleted with the project): one entry per batch not collected yet,
with its label, its requests' keys and how many examples each asks, and its id once known:

    mark (state "sending", stored)  ->  submit  ->  id stored (state "sent")  ->  poll ... ended
    ->  results stored (the examples' transaction)  ->  entry dropped

A run with `batch` first takes over the entries left by an earlier one (a worker that died, a
command killed): a batch with an id is polled again, never sent again; one marked "sending" may
exist at the provider without its id stored, so the provider looks it up by its label before
sending it (`BatchTicket.sent_before`). Results already stored are skipped (a crash between storing
them and dropping the entry). A run without `batch` does not look at the entries: a later batch run
still collects them, and keys stored online meanwhile are skipped.

Cancel (the job's cancel): every batch with an id is cancelled at the provider and kept as
"cancelling"; the next batch run collects what it answered before it stopped. A batch caught while
being sent stays marked, and that run finds it. A process interrupted otherwise (Ctrl-C, killed)
cancels nothing: its batches go on, for the next batch run to collect.

Requests a batch answered with an error, or did not answer (expired, cancelled), are stored as failed
requests, as online ones that failed every retry: the next run (online or batch) asks them again.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from finetune_core.errors import GenerationError, InvalidInputError, JobCancelledError
from finetune_core.generation.base import GenerationRequest, GenerationResult, Generator, GeneratorSettings
from finetune_core.generation.batch import BatchGenerator, BatchPollFailed, BatchStatus, BatchTicket

if TYPE_CHECKING:
    from finetune_core.domain import Chunk, Project
    from finetune_core.jobs.context import JobContext
    from finetune_core.ports import WorkspacePort

MAX_FAILED_POLLS = 10  # polls in a row that failed before the run gives up (the batches go on at the provider)


class PlannedRun(Protocol):
    """What the batch path uses of a generation run (services/generation's `_Run`: planning, accepting, storing)."""

    project: Project
    prefix: str
    chunks: list[Chunk]
    context: JobContext | None
    generator: Generator
    done_keys: set[str]
    in_flight_estimate: int
    requests: int
    produced: int

    def plan(self) -> Iterator[GenerationRequest]: ...

    def request(self, key: str, chunk: Chunk, round_: int, wanted: int) -> GenerationRequest: ...

    def accept(self, result: GenerationResult, request: GenerationRequest) -> None: ...

    def due(self) -> bool: ...

    def persist(self) -> None: ...

    def flush(self) -> None: ...


@dataclass(frozen=True)
class BatchOptions:
    """`settings.extra` keys of a batch run: `batch` (on), `batch_poll_s` (first wait between polls, doubled
    up to `batch_poll_max_s`), `batch_size` (requests per batch at most, under the provider's limit)."""

    poll_s: float = 10.0
    poll_max_s: float = 120.0
    size: int | None = None

    @classmethod
    def of(cls, settings: GeneratorSettings) -> BatchOptions | None:
        """The options when the settings ask for a batch, else None."""
        extra = settings.extra
        if not extra.get("batch"):
            return None
        try:
            poll_s = float(extra.get("batch_poll_s", cls.poll_s))
            poll_max_s = float(extra.get("batch_poll_max_s", max(cls.poll_max_s, poll_s)))
            size = int(extra["batch_size"]) if extra.get("batch_size") is not None else None
        except (TypeError, ValueError):
            raise InvalidInputError("batch_poll_s and batch_poll_max_s must be seconds, batch_size a number") from None
        if poll_s <= 0 or poll_max_s < poll_s or (size is not None and size < 1):
            raise InvalidInputError("batch_poll_s must be > 0 and <= batch_poll_max_s, batch_size >= 1")
        return cls(poll_s=poll_s, poll_max_s=poll_max_s, size=size)


def batch_generator(workspace: WorkspacePort, name: str, instance: Generator, *, preview: bool) -> BatchGenerator:
    """`instance` as a batch generator; InvalidInputError naming those that have a batch API when it has none."""
    if preview:
        raise InvalidInputError("a preview is not sent as a batch (a batch may take up to 24 hours): "
                                "generate the preview without batch")
    if isinstance(instance, BatchGenerator):
        return instance
    registry = workspace.plugins.generators
    able = [other for other in registry.names() if issubclass(registry.get(other), BatchGenerator)]
    raise InvalidInputError(f"the {name} generator has no batch API: run it without batch, or use one that has "
                            f"one ({', '.join(able) or 'none installed'})", generator=name)


class BatchStore:
    """The entries of the batches not collected yet, of one project and request prefix (see the module doc)."""

    def __init__(self, workspace: WorkspacePort, project_id: str, prefix: str) -> None:
        self.files = workspace.files
        self.key = f"{project_id}/generation/batches-{prefix.rstrip(':') or 'default'}.json"

    def load(self) -> list[dict[str, Any]]:
        if not self.files.exists(self.key):
            return []
        entries: list[dict[str, Any]] = json.loads(self.files.get(self.key))["batches"]
        return entries

    def save(self, entries: list[dict[str, Any]]) -> None:
        if entries or self.files.exists(self.key):
            self.files.put(self.key, json.dumps({"batches": entries}, indent=1).encode())


@dataclass
class _Batch:
    entry: dict[str, Any]  # what the store keeps
    waiting: dict[str, GenerationRequest]  # the requests whose results are not stored yet
    status: str = "sending"
    ended: bool = False
    done: int = 0
    total: int = 0
    error: str | None = None
    collected: bool = False

    @property
    def id(self) -> str | None:
        value = self.entry.get("id")
        return str(value) if value else None


class BatchRun:
    """The batch path of one generation run (`drive` in place of `_Run.drive`)."""

    def __init__(self, workspace: WorkspacePort, run: PlannedRun, generator: BatchGenerator, options: BatchOptions, *,
                 name: str, model: str | None) -> None:
        self.run, self.generator, self.options = run, generator, options
        self.name, self.model = name, model
        self.workspace = workspace
        self.store = BatchStore(workspace, run.project.id, run.prefix)
        self.entries: list[dict[str, Any]] = []  # every entry of the store, this run's and those it took over
        self.open: list[_Batch] = []  # the batches this run follows
        self.ids: list[str] = []  # every batch this run sent or took over, for the summary
        self.chunks = {chunk.id: chunk for chunk in run.chunks}  # the project's, once a batch needs another
        self.all_chunks = False

    # --- the run ---------------------------------------------------------------------------------
    async def drive(self) -> None:
        """Take over the batches left, send the requests left, follow them all; a pass again if the answers
        gave fewer examples than asked (as online)."""
        run = self.run
        try:
            self._take_over()
            while True:
                produced = run.produced
                fresh = list(run.plan())
                for group in self.generator.batch_groups(fresh, self.options.size):
                    self._mark(group)
                if not self.open:
                    break
                await self._send_all()
                await self._follow()
                if run.produced == produced:
                    break  # a pass that gave nothing more
        except JobCancelledError:
            await self._cancel_remote()
            raise
        except asyncio.CancelledError:  # the job's cancel, or the process interrupted (Ctrl-C: left for a rerun)
            if self._cancel_requested():
                await self._cancel_remote()
            raise
        finally:
            run.flush()
            await run.generator.aclose()

    def summary(self) -> dict[str, Any]:
        return {"batches": list(self.ids)}

    # --- the entries -----------------------------------------------------------------------------
    def _save(self) -> None:
        self.store.save(self.entries)

    def _take_over(self) -> None:
        """The entries an earlier run left: followed by this one (their keys are not planned again)."""
        self.entries = self.store.load()
        run = self.run
        for entry in list(self.entries):
            if entry.get("generator") != self.name:
                raise InvalidInputError(
                    f"a batch of the {entry.get('generator')} generator ({entry.get('id') or 'being sent'}) is "
                    f"still open for these examples: rerun with --generator {entry.get('generator')} --batch to "
                    f"collect it first", batch=entry.get("id"), generator=entry.get("generator"))
            waiting: dict[str, GenerationRequest] = {}
            for key, wanted in entry["requests"].items():
                request = self._request(key, int(wanted))
                if request is None or key in run.done_keys:
                    continue  # stored before the crash, or its chunk is gone
                waiting[key] = request
                run.done_keys.add(key)
                run.in_flight_estimate += request.n_examples
                run.requests += 1
            batch = _Batch(entry, waiting, status=str(entry.get("state")))
            if not waiting:  # all stored already: nothing to wait for
                self.entries = [other for other in self.entries if other is not entry]
                self._save()
                continue
            self.open.append(batch)
            if batch.id:
                self.ids.append(batch.id)
            self._log(f"batch {batch.id or entry['label']} taken over from an earlier run "
                      f"({len(waiting)} of its requests to collect)")

    def _request(self, key: str, wanted: int) -> GenerationRequest | None:
        """The request of a stored key; None when its chunk is gone (its source deleted)."""
        chunk_id, _, round_ = key[len(self.run.prefix):].rpartition(":")
        if chunk_id not in self.chunks and not self.all_chunks:  # a batch of a run over other sources
            self.all_chunks = True
            with self.workspace.unit_of_work() as uow:
                self.chunks.update((chunk.id, chunk) for chunk in uow.chunks.search(self.run.project.id,
                                                                                    limit=None)[0])
        chunk = self.chunks.get(chunk_id)
        if chunk is None or not round_.isdigit():
            return None
        return self.run.request(key, chunk, int(round_), wanted)

    def _mark(self, requests: list[GenerationRequest]) -> None:
        """A new batch, stored as "sending" before anything is sent."""
        entry = {"label": f"finetune-{uuid.uuid4().hex}", "generator": self.name, "model": self.model,
                 "state": "sending", "id": None, "marked_at": time.time(),
                 "requests": {request.key: request.n_examples for request in requests}, "memo": {}}
        self.entries.append(entry)
        self._save()
        self.open.append(_Batch(entry, {request.key: request for request in requests}))

    def _drop(self, batch: _Batch) -> None:
        self.entries = [entry for entry in self.entries if entry is not batch.entry]
        self._save()

    # --- sending ---------------------------------------------------------------------------------
    async def _send_all(self) -> None:
        for batch in self.open:
            if batch.id is None:
                await self._send(batch)

    async def _send(self, batch: _Batch) -> None:
        entry = batch.entry
        ticket = BatchTicket(label=entry["label"], marked_at=float(entry["marked_at"]),
                             requests=len(entry["requests"]), sent_before=bool(entry.get("sent_before")),
                             memo=entry.setdefault("memo", {}), save=self._save)
        entry["sent_before"] = True  # from now on a batch may exist at the provider: a rerun looks it up first
        self._save()
        requests = [request for key in entry["requests"] if (request := batch.waiting.get(key)) is not None]
        batch_id = await self.generator.submit_batch(ticket, requests)
        entry.update(id=batch_id, state="sent")
        self._save()
        self.ids.append(batch_id)
        batch.status = "sent"
        how = "found again (sent before an interruption)" if ticket.sent_before else "sent"
        self._log(f"batch {batch_id} {how}: {len(requests)} requests", batch=batch_id)

    # --- following -------------------------------------------------------------------------------
    async def _follow(self) -> None:
        """Poll the open batches until every one ended and its results are stored."""
        wait_s, failures = self.options.poll_s, 0
        while True:
            pending = [batch for batch in self.open if not batch.collected]
            if not pending:
                break
            failed = None
            for batch in pending:
                try:
                    await self._poll(batch)
                except BatchPollFailed as exc:
                    failed = exc
            if failed is None:
                failures = 0
            else:
                failures += 1
                if failures >= MAX_FAILED_POLLS:
                    raise GenerationError(f"{self.name}: the batches could not be followed ({failed.message}); "
                                          f"they go on at the provider: a rerun with batch collects them",
                                          batches=[batch.id for batch in pending])
                self._log(f"polling the batches failed ({failed.message}); trying again")
            if any(not batch.collected for batch in self.open):
                await asyncio.to_thread(self._progress)
                await _sleep(wait_s)
                wait_s = min(wait_s * 2, self.options.poll_max_s)
        self.open = []

    async def _poll(self, batch: _Batch) -> None:
        assert batch.id is not None
        status: BatchStatus = await self.generator.batch_status(batch.id)
        if status.status != batch.status:
            self._log(f"batch {batch.id}: {status.status}", batch=batch.id, status=status.status)
        batch.status, batch.done, batch.total, batch.error = status.status, status.done, status.total, status.error
        batch.ended = status.ended
        if status.ended:
            await self._collect(batch)

    async def _collect(self, batch: _Batch) -> None:
        """Store the results of an ended batch once: those answered, then the others as failed requests."""
        assert batch.id is not None
        run = self.run
        async for result in self.generator.batch_results(batch.id, dict(batch.waiting)):
            request = batch.waiting.pop(result.key, None)
            if request is None:
                continue  # not ours, or read already
            run.accept(result, request)
            if run.due():
                await asyncio.to_thread(run.persist)
        reason = batch.error or f"the batch ended {batch.status} without answering it"
        for key, request in list(batch.waiting.items()):
            run.accept(GenerationResult(key=key, error=f"{self.name} batch {batch.id}: {reason}"), request)
        batch.waiting.clear()
        await asyncio.to_thread(run.persist)  # stored before the entry is dropped: a crash between repeats nothing
        batch.collected = True
        self._drop(batch)
        self._log(f"batch {batch.id}: results stored", batch=batch.id)

    def _progress(self) -> None:
        """The batches' progress (requests answered of all), the heartbeat, and the cancel check."""
        context = self.run.context
        if context is None:
            return
        waiting = [batch for batch in self.open if not batch.collected]
        done, total = sum(batch.done for batch in waiting), sum(batch.total for batch in waiting)
        states = ", ".join(f"{batch.id}: {batch.status}" for batch in waiting)
        context.progress(done, max(total, 1), f"{done} of {total} batch requests answered ({states})", force=True)

    # --- cancel ----------------------------------------------------------------------------------
    def _cancel_requested(self) -> bool:
        context = self.run.context
        if context is None:
            return False
        try:
            context.check_cancel()
        except JobCancelledError:
            return True
        return False

    async def _cancel_remote(self) -> None:
        for batch in self.open:
            if batch.id is None or batch.ended or batch.collected:
                continue
            try:
                await self.generator.cancel_batch(batch.id)
            except Exception as exc:  # best effort: the job is cancelled whatever the provider answers
                self._log(f"batch {batch.id} could not be cancelled: {exc}", batch=batch.id)
                continue
            batch.entry["state"] = "cancelling"
            self._save()
            self._log(f"batch {batch.id}: cancel requested", batch=batch.id)

    def _log(self, message: str, **data: Any) -> None:
        if self.run.context is not None:
            self.run.context.log(f"{self.name}: {message}", **data)


async def _sleep(seconds: float) -> None:
    """The wait between polls (a seam for tests that stop a run there)."""
    await asyncio.sleep(seconds)
