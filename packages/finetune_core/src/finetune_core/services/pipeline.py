"""The pipeline: load → chunk → generate → curate, declared once over a project and, optionally, some of its sources.

Every entry point composes these steps. The `pipeline` job type runs the steps it is given (the library's
`Workspace.run_pipeline`, `finetune run`, `finetune demo`); the job types of the REST families and of the step
commands are presets of it, each keeping the result summary its clients read:

    ingest            load                               the load's summary
    ingest_curate     load, curate                       the load's, with the curation under "curation"
    curate            curate                             the curation's statistics
    chunk             chunk (every document again)       the chunking's
    dataset_preview   generate (preview), curate         the generation's with the preview's validation
    dataset_generate  generate, curate                   the generation's with the curation's statistics
    dataset_build     load, chunk, generate, curate      over the chosen sources: sources, loaded, chunking...

A step does only the work still missing, so a job stopped half-way (crash, cancel) is resumed by running it again:
the load skips loaded sources, the chunking documents that have chunks (unless told to chunk again), the
generation finished requests. When its job starts, the steps' order against the project's other jobs is checked
(services/pipeline_order.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from finetune_core.domain import Source, SourceKind, SourceStatus
from finetune_core.errors import InvalidInputError, NothingProducedError
from finetune_core.services import sources as sources_service
from finetune_core.services.chunks import chunk_project
from finetune_core.services.curation import curate_project, validate_preview
from finetune_core.services.generation import generate
from finetune_core.services.model_access import Origin
from finetune_core.services.pipeline_order import PIPELINE, PipelineStep, parse_steps

if TYPE_CHECKING:
    from finetune_core.jobs.context import JobContext
    from finetune_core.ports import WorkspacePort

__all__ = ["PIPELINE", "PipelineOptions", "PipelineRun", "PipelineStep", "pipeline_job", "pipeline_params",
           "run_steps"]

Summary = dict[str, Any]


class PipelineOptions(BaseModel):
    """How the steps run; each reads its own fields, and None means the project's config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rechunk: bool = False  # chunk every ready document again (`finetune chunk`); else only those with no chunk
    size: int | None = None
    overlap: int | None = None
    chunker: str | None = None
    preview: bool = False  # generate a preview (replacing the last one), validated but not split
    target: int | None = None
    examples_per_chunk: int | None = None
    generator: str | None = None
    settings: dict[str, Any] | None = None
    origin: Origin = Origin.LOCAL  # who named the generator's model server (checked before any call)


@dataclass
class PipelineRun:
    """One run of some steps over a project: `source_ids` None is every source of the project."""

    workspace: WorkspacePort
    project_id: str
    source_ids: list[str] | None = None
    options: PipelineOptions = field(default_factory=PipelineOptions)
    context: JobContext | None = None
    summaries: dict[PipelineStep, Summary | None] = field(default_factory=dict)

    def step(self, step: PipelineStep) -> Summary | None:
        """Run one step; None when it had nothing to do over this scope (the run goes on)."""
        summary = STEP_FUNCTIONS[step](self)
        self.summaries[step] = summary
        return summary

    def scope(self) -> list[Source]:
        """The sources this run is about, as stored now."""
        with self.workspace.unit_of_work() as uow:
            if self.source_ids is None:
                return uow.sources.search(self.project_id, limit=None)[0]
            return [uow.sources.get(source_id) for source_id in self.source_ids]

    def documents(self) -> list[Source]:
        """The loaded documents of the scope: what is chunked and generated from."""
        return [source for source in self.scope()
                if source.kind is SourceKind.RAW_DOC and source.status is SourceStatus.READY]


def load(run: PipelineRun) -> Summary:
    """Load the scope's sources not loaded yet (no scope: the project's pending ones); failed ones are retried.

    NothingProducedError, with the summary, when sources were to be loaded and none of the scope is loaded after.
    """
    workspace, context = run.workspace, run.context
    with workspace.unit_of_work() as uow:
        if run.source_ids is None:
            todo = [source.id for source in uow.sources.search(run.project_id, status=SourceStatus.PENDING.value,
                                                              limit=None)[0]]
        else:
            todo = [source_id for source_id in run.source_ids
                    if uow.sources.get(source_id).status is not SourceStatus.READY]
    counts: dict[str, int] = {"ready": 0, "error": 0}
    errors: dict[str, str] = {}
    for done, source_id in enumerate(todo):
        if context:
            context.progress(done, len(todo), f"loading source {done + 1}/{len(todo)}")
        source = sources_service.load_source(workspace, source_id)
        counts[source.status.value] = counts.get(source.status.value, 0) + 1
        if source.error_message:
            errors[source.name] = source.error_message
            if context:
                context.log(f"{source.name}: {source.error_message}", source_id=source.id)
    if context:
        context.progress(len(todo), len(todo), force=True)
    summary: Summary = {"sources": len(todo), **counts, "errors": errors, "partial": bool(counts["error"])}
    shown = "; ".join(f"{name}: {error}" for name, error in list(errors.items())[:5])
    more = f"; and {len(errors) - 5} more" if len(errors) > 5 else ""
    if not todo:
        summary["message"] = "nothing to load: no source is waiting to be loaded"
    elif counts["error"] == len(todo) and (run.source_ids is None or not any(
            source.status is SourceStatus.READY for source in run.scope())):
        raise NothingProducedError(f"no source could be loaded: {shown}{more}", summary=summary)
    else:
        summary["message"] = f"{counts['ready']} of {len(todo)} sources loaded"
        if counts["error"]:
            summary["message"] += f"; {counts['error']} could not be: {shown}{more}"
    return summary


def chunk(run: PipelineRun) -> Summary | None:
    """Chunk the scope's ready documents: all of them with `rechunk`, else those with no chunk yet (none: skipped).

    NothingProducedError, with the summary, when it chunked nothing or made no chunk.
    """
    options = run.options
    chosen = run.source_ids
    if not options.rechunk:
        documents = run.documents()
        with run.workspace.unit_of_work() as uow:
            chosen = [source.id for source in documents
                      if not uow.chunks.search(run.project_id, source_id=source.id, limit=0)[1]]
        if not chosen:
            return None
    summary = chunk_project(run.workspace, run.project_id, size=options.size, overlap=options.overlap,
                            chunker=options.chunker, source_ids=chosen, context=run.context)
    if not summary["sources"]:
        raise NothingProducedError("nothing to chunk: the project has no loaded document (add sources and load "
                                   "them first)", summary=summary)
    if not summary["chunks"]:
        raise NothingProducedError(f"no chunk was made from the {summary['sources']} loaded documents",
                                   summary=summary)
    summary["message"] = f"{summary['chunks']} chunks from {summary['sources']} documents"
    return summary


def generate_examples(run: PipelineRun) -> Summary | None:
    """Generate from the chunks of the scope's documents (a scope with none: nothing to do); resumes a run."""
    options = run.options
    source_ids = None
    if run.source_ids is not None:
        source_ids = [source.id for source in run.documents()]
        if not source_ids:
            return None
    return generate(run.workspace, run.project_id, preview=options.preview, target=options.target,
                    examples_per_chunk=options.examples_per_chunk, generator=options.generator,
                    settings=options.settings, source_ids=source_ids, context=run.context, origin=options.origin)


def curate(run: PipelineRun) -> Summary:
    """Validate the project's examples and split them (a preview is validated alone, with no split)."""
    if run.options.preview:
        return validate_preview(run.workspace, run.project_id)
    return curate_project(run.workspace, run.project_id)


STEP_FUNCTIONS: dict[PipelineStep, Callable[[PipelineRun], Summary | None]] = {
    PipelineStep.LOAD: load,
    PipelineStep.CHUNK: chunk,
    PipelineStep.GENERATE: generate_examples,
    PipelineStep.CURATE: curate,
}


def pipeline_params(steps: Iterable[str], *, source_ids: list[str] | None = None, **options: Any) -> dict[str, Any]:
    """The parameters of a `pipeline` job, checked before it is queued: InvalidInputError for an unknown step or
    option, or a value of the wrong type."""
    chosen = parse_steps(steps)
    try:
        checked = PipelineOptions(**options)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, error['loc'])) or 'options'}: {error['msg']}"
                             for error in exc.errors())
        raise InvalidInputError(f"invalid pipeline options: {problems}", error_code="INVALID_OPTIONS") from None
    params: dict[str, Any] = {"steps": [step.value for step in chosen],
                              **checked.model_dump(mode="json", exclude_defaults=True)}
    if source_ids is not None:
        params["source_ids"] = list(dict.fromkeys(source_ids))
    return params


def run_steps(workspace: WorkspacePort, project_id: str, steps: Iterable[str], *, source_ids: list[str] | None = None,
              context: JobContext | None = None, **options: Any) -> Summary:
    """Run `steps` in the pipeline's order, in the caller's thread: {"steps": {step: summary or skipped}, "message"}.

    Outside a job nothing checks the order against the project's other jobs: the `pipeline` job type does.
    """
    run = PipelineRun(workspace, project_id, source_ids, PipelineOptions(**options), context)
    for step in parse_steps(steps):
        run.step(step)
    shown = {step.value: summary if summary is not None else {"skipped": True, "message": "nothing to do"}
             for step, summary in run.summaries.items()}
    said = [f"{step}: {summary['message']}" for step, summary in shown.items() if summary.get("message")]
    return {"steps": shown, "message": "; ".join(said) or "done"}


def pipeline_job(context: JobContext, *, project_id: str, steps: list[str], source_ids: list[str] | None = None,
                 **options: Any) -> Summary:
    """The `pipeline` job type: the steps it is given, over the project or the sources named."""
    return run_steps(context.workspace, project_id, steps, source_ids=source_ids, context=context, **options)


# the presets: job types whose clients read the summary they always had ---------------------------------------

def ingest_job(context: JobContext, *, project_id: str, source_ids: list[str] | None = None) -> Summary:
    """Load the given sources, or every pending one of the project."""
    return load(PipelineRun(context.workspace, project_id, source_ids, context=context))


def ingest_and_curate_job(context: JobContext, *, project_id: str, source_ids: list[str] | None = None) -> Summary:
    """The load, then validation and train/eval split of the project's examples (uploaded rows included).

    A load in the pipeline's order: it waits for no other job, since every job that adds examples curates after
    itself, and it holds up the later steps of the project until it ends.
    """
    run = PipelineRun(context.workspace, project_id, source_ids, context=context)
    return {**load(run), "curation": curate(run)}


def chunk_job(context: JobContext, *, project_id: str, size: int | None = None, overlap: int | None = None,
              chunker: str | None = None) -> Summary:
    """Chunk every loaded document of the project again; a job that made no chunk fails."""
    options = PipelineOptions(rechunk=True, size=size, overlap=overlap, chunker=chunker)
    summary = chunk(PipelineRun(context.workspace, project_id, options=options, context=context))
    assert summary is not None  # rechunk always chunks
    return summary


def curate_job(context: JobContext, *, project_id: str) -> Summary:
    return curate(PipelineRun(context.workspace, project_id, context=context))


def _generated(context: JobContext, project_id: str, options: PipelineOptions) -> Summary:
    run = PipelineRun(context.workspace, project_id, options=options, context=context)
    return {**(generate_examples(run) or {}), **curate(run)}


def preview_job(context: JobContext, *, project_id: str, num_examples: int = 10, generator: str | None = None,
                settings: dict[str, Any] | None = None, origin: str = Origin.LOCAL) -> Summary:
    return _generated(context, project_id, PipelineOptions(preview=True, target=num_examples, generator=generator,
                                                           settings=settings, origin=Origin(origin)))


def generate_job(context: JobContext, *, project_id: str, num_examples_target: int | None = None,
                 examples_per_chunk: int | None = None, generator: str | None = None,
                 settings: dict[str, Any] | None = None, origin: str = Origin.LOCAL) -> Summary:
    return _generated(context, project_id, PipelineOptions(
        target=num_examples_target, examples_per_chunk=examples_per_chunk, generator=generator, settings=settings,
        origin=Origin(origin)))


def build_job(context: JobContext, *, project_id: str, source_ids: list[str], num_examples_target: int | None = None,
              examples_per_chunk: int | None = None, generator: str | None = None,
              settings: dict[str, Any] | None = None, origin: str = Origin.LOCAL) -> Summary:
    """A dataset built from chosen sources: load them if need be, chunk them if need be, generate from the
    documents among them (none: only curate what they brought), then curate."""
    options = PipelineOptions(target=num_examples_target, examples_per_chunk=examples_per_chunk,
                              generator=generator, settings=settings, origin=Origin(origin))
    run = PipelineRun(context.workspace, project_id, source_ids, options, context)
    loaded = load(run)
    summary: Summary = {"sources": len(source_ids), "loaded": loaded["sources"]}
    chunking = chunk(run)
    if chunking is not None:
        summary["chunking"] = chunking
    summary.update(generate_examples(run) or {})
    summary.update(curate(run))
    failed = {source.name: source.error_message for source in run.scope() if source.status is SourceStatus.ERROR}
    return {**summary, "errors": failed}
