"""The core's job types, found through the `finetune` entry point `core_jobs` like every plugin's.

Each names the service function that runs it: the pipeline's job type and its presets (services/pipeline.py), then
the steps after a dataset. The steps of the pipeline (`pipeline_order.STEPS`) re-check their
order when they start to run (an earlier step may have started since they were queued: they then fail with the
PipelineBusyError they would have got when started). Job types not in that order (fine_tune, model_export, a
plugin's) are outside it.
"""

from __future__ import annotations

from finetune_core.hookspecs import Register, hookimpl
from finetune_core.jobs.handlers import JobHandler, JobType
from finetune_core.services import (
    attachments,
    exports,
    fine_tunes,
    judging,
    media,
    model_exports,
    pipeline,
    pipeline_order,
    studio_compose,
)
from finetune_core.services.evaluation import EVALUATE_JOB, evaluate_job

HANDLERS: dict[str, JobHandler] = {
    # the pipeline, and its presets (services/pipeline.py)
    pipeline.PIPELINE: pipeline.pipeline_job,
    "ingest": pipeline.ingest_job,
    "ingest_curate": pipeline.ingest_and_curate_job,
    "chunk": pipeline.chunk_job,
    "dataset_preview": pipeline.preview_job,
    "dataset_generate": pipeline.generate_job,
    "dataset_build": pipeline.build_job,
    "curate": pipeline.curate_job,
    # the steps after a dataset
    "export": exports.export_job,
    "dataset_judge": judging.judge_job,
    "fine_tune": fine_tunes.fine_tune_job,
    "model_export": model_exports.model_export_job,
    # documents attached to agents and chats, outside the pipeline's order
    attachments.INDEX_JOB: attachments.index_job,
    EVALUATE_JOB: evaluate_job,  # models compared on the project's documents, outside the pipeline's order
    # media of the owner's studio project (crealia), outside the pipeline's order
    media.VOICE_JOB: media.voice_job,
    media.IMAGE_JOB: media.image_job,
    media.SUBTITLES_JOB: media.subtitles_job,
    studio_compose.COMPOSE_JOB: studio_compose.compose_job,
}


def job_types() -> list[JobType]:
    """The core's job types, the pipeline's steps with their order check."""
    return [JobType(name, handler, check=pipeline_order.check_job if name in pipeline_order.STEPS else None)
            for name, handler in HANDLERS.items()]


@hookimpl
def finetune_register_job_types(register: Register) -> None:
    for job_type in job_types():
        register(job_type)
