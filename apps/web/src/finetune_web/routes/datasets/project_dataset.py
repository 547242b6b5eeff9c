"""A project's dataset (finetuneflow §6): preview and full generation (jobs), examples, their statistics.

Bodies name the generator and its model (`generator`, `model`; `ollama_model` for the
OpenAI-compatible one); a generator that needs a provider key uses the project owner's stored key.
"""

from __future__ import annotations

from typing import Any

from finetune_core.services import curation, dataset_jobs
from flask.views import MethodView

from finetune_web.current import origin, owned_project, workspace
from finetune_web.pagination import page
from finetune_web.schemas.bridge import schema_for
from finetune_web.schemas.datasets import (
    DatasetStats,
    ExampleListArgs,
    ExampleOut,
    ExamplePage,
    ExampleStats,
    GenerateBody,
    PreviewBody,
)
from finetune_web.schemas.jobs import JobAccepted
from finetune_web.user_content import SourcesBlueprint

blp = SourcesBlueprint("project-dataset", __name__, url_prefix="/api/projects",
                       description="A project's generated dataset: generation jobs, examples, statistics")


def accepted(job_id: str, status: str, what: str) -> dict[str, Any]:
    return {"job_id": job_id, "status": status, "message": f"{what} job enqueued"}


@blp.route("/<project_id>/dataset/preview")
class DatasetPreview(MethodView):
    @blp.arguments(schema_for(PreviewBody), required=False)
    @blp.response(202, schema_for(JobAccepted))
    def post(self, body: PreviewBody, project_id: str) -> dict[str, Any]:
        """Start generating a few preview examples (10 by default); a new preview replaces the last

        400 UNKNOWN_PLUGIN for a generator that is not installed; 400 URL_NOT_ALLOWED for a `base_url` on a
        private, loopback or metadata address the operator did not list (FINETUNE_ALLOWED_MODEL_HOSTS). 409 while
        an earlier step of the project is unfinished (SOURCES_LOADING, PIPELINE_BUSY: chunking still running,
        SOURCES_NOT_LOADED), with the blocking jobs and sources in `context`.
        """
        project = owned_project(project_id)
        job = dataset_jobs.start_generation(workspace(), project.id, preview=True, count=body.num_examples,
                                            generator=body.generator_name(), settings=body.settings(),
                                            origin=origin())
        return accepted(job.id, job.status, "Dataset preview")


@blp.route("/<project_id>/dataset/generate")
class DatasetGenerate(MethodView):
    @blp.arguments(schema_for(GenerateBody), required=False)
    @blp.response(202, schema_for(JobAccepted))
    def post(self, body: GenerateBody, project_id: str) -> dict[str, Any]:
        """Start generating the whole dataset, then validating and splitting it; a rerun adds only what is missing

        409 while an earlier step of the project is unfinished (SOURCES_LOADING, PIPELINE_BUSY: chunking still
        running, SOURCES_NOT_LOADED), with the blocking jobs and sources in `context`.
        """
        project = owned_project(project_id)
        job = dataset_jobs.start_generation(workspace(), project.id, count=body.num_examples_target,
                                            examples_per_chunk=body.examples_per_chunk,
                                            generator=body.generator_name(), settings=body.settings(),
                                            origin=origin())
        return accepted(job.id, job.status, "Dataset generation")


@blp.route("/<project_id>/dataset/examples")
class Examples(MethodView):
    @blp.arguments(schema_for(ExampleListArgs), location="query")
    @blp.response(200, schema_for(ExamplePage))
    def get(self, args: ExampleListArgs, project_id: str) -> dict[str, Any]:
        """The project's examples (filters: split, is_valid), with the dataset's counts beside them"""
        project = owned_project(project_id)
        found, total, stats = curation.examples_page(workspace(), project.id, split=args.split,
                                                     is_valid=args.is_valid, limit=args.limit, offset=args.offset)
        return page([ExampleOut.of(example) for example in found], total, args, stats=ExampleStats.of(stats))


@blp.route("/<project_id>/dataset/examples/<example_id>")
class ExampleItem(MethodView):
    @blp.response(204)
    def delete(self, project_id: str, example_id: str) -> None:
        """Delete one example"""
        curation.delete_example(workspace(), owned_project(project_id).id, example_id)


@blp.route("/<project_id>/dataset/stats")
class Stats(MethodView):
    @blp.response(200, schema_for(DatasetStats))
    def get(self, project_id: str) -> dict[str, Any]:
        """The dataset's statistics: counts, per-split token figures, validation error counts"""
        return curation.stats(workspace(), owned_project(project_id).id)
