"""Datasets (fintune-platform, dualqueryintelligence): a project's examples seen as one dataset, its pairs, its export.

A dataset's id is its project's id (`finetune_core.services.datasets` has the whole mapping):
POST with a `project_id` names that project's dataset, and with `content_ids` starts the job that
builds it (201, `status: processing`, `job_id`); POST without one, or an upload, makes a dataset
with a project of its own. The export streams in constant memory, one JSON line an example.
"""

from __future__ import annotations

from typing import Any

from finetune_core.services import datasets, export_stream, pairs
from flask import Response
from flask.views import MethodView

from finetune_web.current import caller, origin, owned_project, workspace
from finetune_web.pagination import Page, page
from finetune_web.schemas.bridge import schema_for
from finetune_web.schemas.datasets import (
    DatasetCreate,
    DatasetCreated,
    DatasetListArgs,
    DatasetOut,
    DatasetUpdate,
    DatasetUploadForm,
    DatasetWithPairs,
    ExportArgs,
    PairBody,
    PairListArgs,
    PairOut,
    PairPage,
    PairsBulkBody,
)
from finetune_web.user_content import MB, SourcesBlueprint, body_limit, json_body_limit, read_upload

blp = SourcesBlueprint("datasets", __name__, url_prefix="/api/datasets",
                       description="Datasets: a project's examples as question/answer pairs; uploads; export")
EXPORT_DOC = "one JSON record a line (JSONL) in the chosen format, streamed as it is read"
BULK_PAIRS_BYTES = 32 * MB  # a body of up to 5000 pairs, where other JSON bodies hold max_json_bytes (1 MiB)


@blp.route("")
class Datasets(MethodView):
    @blp.arguments(schema_for(DatasetListArgs), location="query")
    @blp.response(200, schema_for(Page[DatasetOut]))
    def get(self, args: DatasetListArgs) -> dict[str, Any]:
        """The caller's datasets, newest first (filter: project_id)"""
        project_id = owned_project(args.project_id).id if args.project_id else None
        found, total = datasets.list_datasets(workspace(), caller().owner_id, project_id=project_id,
                                              limit=args.limit, offset=args.offset)
        return page(found, total, args)

    @blp.arguments(schema_for(DatasetCreate))
    @blp.response(201, schema_for(DatasetCreated))
    def post(self, body: DatasetCreate) -> dict[str, Any]:
        """Create a dataset: a project's (`project_id`), built from `content_ids` by a job, or one of its own

        409 DATASET_EXISTS when the project has its dataset already (one a project); with `content_ids`, 409
        SOURCES_LOADING / PIPELINE_BUSY / SOURCES_NOT_LOADED while other sources of the project are loading or an
        earlier step is unfinished (the blocking jobs and sources in `context`), and nothing is created then.
        """
        project_id = owned_project(body.project_id).id if body.project_id else None
        dataset, job = datasets.create_dataset(
            workspace(), caller().owner_id, name=body.name, project_id=project_id, description=body.description,
            model=body.model or body.ollama_model, generator=body.generator_name(), content_ids=body.content_ids,
            num_examples_target=body.num_examples_target, examples_per_chunk=body.examples_per_chunk,
            settings={key: value for key, value in body.settings().items() if key != "model"}, origin=origin())
        return {**dataset.model_dump(), "job_id": job.id if job else None}


@blp.route("/upload")
class DatasetUpload(MethodView):
    @body_limit(lambda settings: settings.max_file_bytes)
    @blp.arguments(schema_for(DatasetUploadForm), location="files")
    @blp.response(201, schema_for(DatasetOut))
    def post(self, form: DatasetUploadForm) -> datasets.Dataset:
        """Upload a CSV, JSONL or JSON file of examples as a dataset (row_count, column_count, preview_data)

        400 when the file is empty or its rows cannot be read (the accepted column sets are named), 415 for
        another type, 413 over the file limit.
        """
        data = read_upload(form.file, workspace().settings.max_file_bytes)
        return datasets.upload_dataset(workspace(), caller().owner_id, form.file.filename or "", data,
                                       name=form.name)


@blp.route("/<dataset_id>")
class DatasetItem(MethodView):
    @blp.response(200, schema_for(DatasetOut))
    def get(self, dataset_id: str) -> datasets.Dataset:
        """One dataset"""
        return datasets.get_dataset(workspace(), dataset_id)

    @blp.arguments(schema_for(DatasetUpdate))
    @blp.response(200, schema_for(DatasetOut))
    def put(self, body: DatasetUpdate, dataset_id: str) -> datasets.Dataset:
        """Rename or describe a dataset, or change its generation model (a partial update)"""
        return datasets.update_dataset(workspace(), dataset_id, **body.model_dump(exclude_unset=True))

    @blp.response(204)
    def delete(self, dataset_id: str) -> None:
        """Delete a dataset: its pairs and uploaded files (a dataset with a project of its own: that project)"""
        datasets.delete_dataset(workspace(), dataset_id)


@blp.route("/<dataset_id>/pairs")
class Pairs(MethodView):
    @blp.arguments(schema_for(PairListArgs), location="query")
    @blp.response(200, schema_for(PairPage))
    def get(self, args: PairListArgs, dataset_id: str) -> dict[str, Any]:
        """The dataset with its question/answer pairs (filters: split, is_valid)"""
        dataset = datasets.get_dataset(workspace(), dataset_id)
        found, total = pairs.list_pairs(workspace(), dataset.id, split=args.split, is_valid=args.is_valid,
                                        limit=args.limit, offset=args.offset)
        return page(found, total, args, dataset=dataset)

    @blp.arguments(schema_for(PairBody))
    @blp.response(201, schema_for(PairOut))
    def post(self, body: PairBody, dataset_id: str) -> pairs.Pair:
        """Add a pair by hand; it is validated and split with the rest of the dataset"""
        project = datasets.require_dataset(workspace(), dataset_id)
        return pairs.add_pairs(workspace(), project.id, [body])[0]


@blp.route("/<dataset_id>/pairs/bulk")
class PairsBulk(MethodView):
    @json_body_limit(BULK_PAIRS_BYTES)
    @blp.arguments(schema_for(PairsBulkBody))
    @blp.response(201, schema_for(DatasetWithPairs))
    def post(self, body: PairsBulkBody, dataset_id: str) -> dict[str, Any]:
        """Add many pairs at once; the dataset afterwards, with the pairs added

        The body may hold 32 MiB (413 PAYLOAD_TOO_LARGE beyond), where other JSON bodies hold 1 MiB by default.
        """
        project = datasets.require_dataset(workspace(), dataset_id)
        added = pairs.add_pairs(workspace(), project.id, body.pairs)
        return {**datasets.get_dataset(workspace(), project.id).model_dump(), "pairs": added}


@blp.route("/<dataset_id>/pairs/<pair_id>")
class PairItem(MethodView):
    @blp.response(204)
    def delete(self, dataset_id: str, pair_id: str) -> None:
        """Delete a pair"""
        pairs.delete_pair(workspace(), datasets.require_dataset(workspace(), dataset_id).id, pair_id)


@blp.route("/<dataset_id>/export")
class DatasetExport(MethodView):
    @blp.arguments(schema_for(ExportArgs), location="query")
    @blp.response(200, content_type=export_stream.MEDIA_TYPES["jsonl"], description=EXPORT_DOC)
    def get(self, args: ExportArgs, dataset_id: str) -> Response:
        """Download the dataset's valid examples for fine-tuning, streamed (format, provider: FT's jsonl+openai)

        400 UNKNOWN_PLUGIN for a format no installed exporter writes (the installed ones are listed).
        """
        project = datasets.require_dataset(workspace(), dataset_id)
        exporter = export_stream.resolve_exporter(workspace(), args.format, args.provider)
        stream = export_stream.open_export(workspace(), project.id, exporter, split=args.split,
                                           include_metadata=args.include_metadata)
        response = Response(stream.lines, mimetype=stream.media_type)
        response.headers["Content-Disposition"] = f'attachment; filename="{stream.filename}"'
        response.headers["X-Export-Format"] = stream.exporter
        return response
