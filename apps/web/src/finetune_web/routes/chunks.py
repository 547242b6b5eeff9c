"""A project's chunks (finetuneflow §5): cut its loaded documents into token-bounded pieces (a job), list them."""

from __future__ import annotations

from typing import Any

from finetune_core.services import chunks, dataset_jobs
from flask.views import MethodView

from finetune_web.current import owned_project, workspace
from finetune_web.pagination import Page, page
from finetune_web.schemas.bridge import schema_for
from finetune_web.schemas.datasets import ChunkBody, ChunkListArgs, ChunkOut
from finetune_web.schemas.jobs import JobAccepted
from finetune_web.user_content import SourcesBlueprint

blp = SourcesBlueprint("chunks", __name__, url_prefix="/api/projects", description="A project's chunks")


@blp.route("/<project_id>/chunks/generate")
class ChunksGenerate(MethodView):
    @blp.arguments(schema_for(ChunkBody), required=False)
    @blp.response(202, schema_for(JobAccepted))
    def post(self, body: ChunkBody, project_id: str) -> dict[str, Any]:
        """Start (re)chunking the project's loaded documents; sizes in tokens, absent ones from its config

        400 when the overlap is not smaller than the size, or the chunker is not installed. 409 while sources of the
        project are still loading (SOURCES_LOADING: `context` names the jobs and the sources), or were added but
        never loaded (SOURCES_NOT_LOADED); nothing is started then.
        """
        project = owned_project(project_id)
        job = dataset_jobs.start_chunking(workspace(), project.id, size=body.chunk_size_tokens,
                                          overlap=body.chunk_overlap_tokens, chunker=body.chunker)
        return {"job_id": job.id, "status": job.status, "message": "Chunking job enqueued"}


@blp.route("/<project_id>/chunks")
class Chunks(MethodView):
    @blp.arguments(schema_for(ChunkListArgs), location="query")
    @blp.response(200, schema_for(Page[ChunkOut]))
    def get(self, args: ChunkListArgs, project_id: str) -> dict[str, Any]:
        """The project's chunks in document order (filter: source_file_id)"""
        project = owned_project(project_id)
        found, total = chunks.list_chunks(workspace(), project.id, source_id=args.source_file_id, limit=args.limit,
                                          offset=args.offset)
        return page([ChunkOut.of(chunk) for chunk in found], total, args)
