"""The order of a project's pipeline steps: a step never runs on an earlier step that is still unfinished.

    load (ingest, ingest_curate) < chunk < generate (dataset_preview, dataset_generate)
        < dataset (curate, dataset_judge, export)

A later step is refused (PipelineBusyError, 409) while, in its project,
- a job of an earlier step is queued or running: SOURCES_LOADING when it loads sources (the context names
  the jobs and the sources still loading), PIPELINE_BUSY when it is a chunking or a generation;
- a source is pending or processing with no such job to load it (added but never loaded, or left so by a
  cancelled load): SOURCES_NOT_LOADED, to be loaded or deleted first.

It is checked when a job is started (`jobs.enqueue`, `datasets.create_dataset`: nothing is stored then), again
when the job runs (`check_job`, the `check` of these job types in services/job_types.py, which `execute_job`
calls: it may have been queued before the earlier step started; it then fails with the same message), and by the
steps run outside jobs (WorkspacePort.curate and .export, the CLI's export, `chunks.chunk_project` called
directly). Refusing, not waiting: a job that waited would hold a worker while
the job it waits on might sit queued behind it.

Jobs holding several steps run them in order themselves; against the other jobs of their project:
- `dataset_build` spans load..dataset: its own chosen sources may still be pending (it loads them itself),
  but it is refused while any other job before the dataset step is unfinished or another source is not
  loaded, and it holds up every later step of the project while it runs;
- `ingest_curate` counts as a load: its curation covers the rows it loaded, and every job that adds
  examples curates after itself, so it never needs to wait for one.
- `pipeline` (services/pipeline.py) spans the steps it was given (`params["steps"]`, see `span_of`).
Job types not named in STEPS (fine_tune, model_export, a plugin's) are outside this order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple

from finetune_core.domain import Job, Source, SourceStatus
from finetune_core.errors import InvalidInputError, PipelineBusyError

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort
    from finetune_core.storage.unit_of_work import UnitOfWork

MAX_NAMED = 20  # sources listed in an error's context; the count says how many there are


class Step(IntEnum):
    LOAD = 1
    CHUNK = 2
    GENERATE = 3
    DATASET = 4


class PipelineStep(StrEnum):
    """The steps of the pipeline (services/pipeline.py), in their order; `curate` validates and splits."""

    LOAD = "load"
    CHUNK = "chunk"
    GENERATE = "generate"
    CURATE = "curate"

    @property
    def rank(self) -> Step:
        return {"load": Step.LOAD, "chunk": Step.CHUNK, "generate": Step.GENERATE, "curate": Step.DATASET}[self.value]


PIPELINE = "pipeline"  # the job type that runs the steps it is given


class Span(NamedTuple):
    """The first and the last step a job type performs, and how its messages name it."""

    first: Step
    last: Step
    label: str


STEPS: dict[str, Span] = {
    "ingest": Span(Step.LOAD, Step.LOAD, "loading"),
    "ingest_curate": Span(Step.LOAD, Step.LOAD, "loading"),
    "chunk": Span(Step.CHUNK, Step.CHUNK, "chunking"),
    "dataset_preview": Span(Step.GENERATE, Step.GENERATE, "the preview"),
    "dataset_generate": Span(Step.GENERATE, Step.GENERATE, "generation"),
    "curate": Span(Step.DATASET, Step.DATASET, "curation"),
    "dataset_judge": Span(Step.DATASET, Step.DATASET, "judging"),
    "export": Span(Step.DATASET, Step.DATASET, "the export"),
    "dataset_build": Span(Step.LOAD, Step.DATASET, "the dataset build"),
    PIPELINE: Span(Step.LOAD, Step.DATASET, "the pipeline"),  # the widest; `span_of` reads a job's own steps
}


def parse_steps(names: Iterable[str]) -> list[PipelineStep]:
    """The steps named, in the pipeline's order; InvalidInputError for an unknown name or none at all."""
    known = {step.value for step in PipelineStep}
    chosen = {str(name).strip().lower() for name in names}
    unknown = sorted(chosen - known)
    if unknown or not chosen:
        what = f"unknown pipeline step {', '.join(map(repr, unknown))}" if unknown else "no pipeline step given"
        raise InvalidInputError(f"{what}: the steps are {', '.join(sorted(known, key=_order))}",
                                error_code="UNKNOWN_STEP", steps=sorted(chosen))
    return [step for step in PipelineStep if step.value in chosen]


def _order(name: str) -> int:
    return list(PipelineStep).index(PipelineStep(name))


def span_of(job_type: str, params: Mapping[str, Any]) -> Span | None:
    """The steps a job of `job_type` with these `params` performs; None when it is outside the order."""
    if job_type == PIPELINE:
        steps = parse_steps(params.get("steps") or [])
        return Span(steps[0].rank, steps[-1].rank, "the pipeline")
    return STEPS.get(job_type)


def ensure_ready(uow: UnitOfWork, project_id: str, job_type: str, *, job_id: str | None = None,
                 source_ids: Iterable[str] = (), span: Span | None = None) -> None:
    """Raise PipelineBusyError when a `job_type` step of the project may not run now.

    `job_id`: the job that runs the step (it never blocks itself); `source_ids`: sources the step loads itself;
    `span`: the steps it performs, when its type alone does not say (`span_of`).
    """
    span = span or STEPS.get(job_type)
    if span is None or span.last is Step.LOAD:
        return
    blocking = [job for job in uow.jobs.unfinished(project_id)
                if job.id != job_id and (other := _span(job)) is not None and other.first < span.last]
    loaders = [job for job in blocking if _first(job) is Step.LOAD]
    own = set(source_ids)
    unloaded = [source for source in uow.sources.unloaded(project_id) if source.id not in own]
    loading = [source for source in unloaded if _covered(source, loaders)]
    if blocking:
        raise _busy(span, job_type, blocking, loading)
    if unloaded:
        raise _not_loaded(span, job_type, unloaded)


def ensure_job_ready(uow: UnitOfWork, job: Job) -> None:
    """ensure_ready for a job, stored or about to be."""
    span = span_of(job.type, job.params)
    if job.project_id is None or span is None:
        return
    own: list[str] = []
    if span.first is Step.LOAD:  # it loads its own sources: those named, else every pending one of the project
        named = job.params.get("source_ids")
        own = named if named is not None else [source.id for source in uow.sources.unloaded(job.project_id)
                                               if source.status is SourceStatus.PENDING]
    ensure_ready(uow, job.project_id, job.type, job_id=job.id, source_ids=own, span=span)


def check_job(workspace: WorkspacePort, job: Job) -> None:
    """The check a job makes when it runs: the earlier step may have started since it was queued."""
    with workspace.unit_of_work() as uow:
        ensure_job_ready(uow, job)


def check_step(workspace: WorkspacePort, project_id: str, job_type: str) -> None:
    """The check of a step run in the caller's thread rather than as a job (WorkspacePort.export, the CLI's export)."""
    with workspace.unit_of_work() as uow:
        ensure_ready(uow, project_id, job_type)


def _span(job: Job) -> Span | None:
    """A stored job's span; a job whose steps cannot be read (never stored so) counts as the widest of its type."""
    try:
        return span_of(job.type, job.params)
    except InvalidInputError:
        return STEPS.get(job.type)


def _first(job: Job) -> Step:
    span = _span(job)
    return span.first if span is not None else Step.DATASET


def _covered(source: Source, loaders: list[Job]) -> bool:
    """Whether one of these unfinished load jobs is there to load `source` (no `source_ids`: every pending one)."""
    return any(job.params.get("source_ids") is None or source.id in job.params["source_ids"] for job in loaders)


def _describe(jobs: list[Job]) -> str:
    return ", ".join(f"job {job.id} ({job.type}, {job.status.value})" for job in jobs)


def _named(sources: list[Source]) -> list[dict[str, Any]]:
    return [{"id": source.id, "name": source.name, "status": source.status.value} for source in sources[:MAX_NAMED]]


def _count(sources: list[Source]) -> str:
    return f"{len(sources)} source{'' if len(sources) == 1 else 's'}"


def _names(sources: list[Source]) -> str:
    shown = ", ".join(source.name for source in sources[:5])
    return shown + (f" and {len(sources) - 5} more" if len(sources) > 5 else "")


def _busy(span: Span, job_type: str, blocking: list[Job], loading: list[Source]) -> PipelineBusyError:
    label = span.label.capitalize()
    context: dict[str, Any] = {
        "step": job_type, "blocking_job_ids": [job.id for job in blocking],
        "blocking_jobs": [{"id": job.id, "type": job.type, "status": job.status.value} for job in blocking],
        "sources": _named(loading), "source_count": len(loading),
    }
    if any(_first(job) is Step.LOAD for job in blocking):
        what = f"{_count(loading)} ({_names(loading)})" if loading else "its sources"
        return PipelineBusyError(
            f"{label} cannot start while the project is still loading {what}: {_describe(blocking)}. "
            f"Start it again once that has ended.", error_code="SOURCES_LOADING", **context)
    return PipelineBusyError(
        f"{label} cannot start before the earlier step of the project has ended: {_describe(blocking)}. "
        f"Start it again once that has ended.", error_code="PIPELINE_BUSY", **context)


def _not_loaded(span: Span, job_type: str, sources: list[Source]) -> PipelineBusyError:
    label = span.label.capitalize()
    return PipelineBusyError(
        f"{label} cannot start: {_count(sources)} of the project {'was' if len(sources) == 1 else 'were'} added "
        f"but not loaded yet ({_names(sources)}). Load them first (ingest, or upload them again) or delete them.",
        error_code="SOURCES_NOT_LOADED", step=job_type, blocking_job_ids=[], blocking_jobs=[],
        sources=_named(sources), source_count=len(sources))
