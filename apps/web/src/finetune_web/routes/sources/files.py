"""A project's files (finetuneflow §4): upload several at once, list, delete.

Limits are the workspace's (50 MB a file, 500 MB a project by default); the type is read from the
bytes and must suit the `kind`; names are sanitised. Uploaded files are loaded by an ingest job.
"""

from __future__ import annotations

from typing import Any

from finetune_core.services import contents, sources
from flask.views import MethodView

from finetune_web.current import caller, owned_project, workspace
from finetune_web.pagination import Page, page
from finetune_web.schemas.bridge import schema_for
from finetune_web.schemas.sources import FileListArgs, FileOut, FilesForm, FilesUploaded
from finetune_web.user_content import SourcesBlueprint, body_limit, read_upload

blp = SourcesBlueprint("files", __name__, url_prefix="/api/projects", description="A project's files (sources)")


@blp.route("/<project_id>/files/upload")
class FilesUpload(MethodView):
    @body_limit(lambda settings: settings.max_project_bytes)
    @blp.arguments(schema_for(FilesForm), location="files")
    @blp.response(201, schema_for(FilesUploaded))
    def post(self, form: FilesForm, project_id: str) -> dict[str, Any]:
        """Upload files (the `files` part once a file) and start loading them

        All or none: 415 UNSUPPORTED_FILE_TYPE when a file's bytes are not of an accepted type, 413 over the
        per-file or per-project limit. An empty file is kept with status `error`.
        """
        project = owned_project(project_id)
        limit = workspace().settings.max_file_bytes
        added = contents.add_files(workspace(), project.id,
                                   ((upload.filename or "", read_upload(upload, limit)) for upload in form.files),
                                   kind=form.kind)
        job = contents.ingest(workspace(), project.id, added)
        return {"files": [FileOut.of(source) for source in contents.refreshed(workspace(), added)],
                "job_id": job.id if job else None}


@blp.route("/<project_id>/files")
class Files(MethodView):
    @blp.arguments(schema_for(FileListArgs), location="query")
    @blp.response(200, schema_for(Page[FileOut]))
    def get(self, args: FileListArgs, project_id: str) -> dict[str, Any]:
        """The project's files, oldest first (filter: kind)"""
        project = owned_project(project_id)
        found, total = sources.list_sources(workspace(), project.id, kind=args.kind, limit=args.limit,
                                            offset=args.offset)
        return page([FileOut.of(source) for source in found], total, args)


@blp.route("/<project_id>/files/<file_id>")
class FileItem(MethodView):
    @blp.response(204)
    def delete(self, project_id: str, file_id: str) -> None:
        """Delete a file with its chunks and examples"""
        project = owned_project(project_id)
        source = contents.owned_source(workspace(), file_id, caller().owner_id, project_id=project.id)
        sources.delete_source(workspace(), source.id)
