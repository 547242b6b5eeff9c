"""Export of a project's trained model (finetuneflow §9): adapter, configs, metrics, report.md and their zip.

The export is a job (`model_export`) run by the local-GPU plugin's exporter where the model was trained; the
files it wrote are listed and downloaded here, by the names it listed only.
"""

from __future__ import annotations

from typing import Any

from finetune_core.model_tools import model_exporter
from finetune_core.services import model_exports
from flask import Response
from flask.views import MethodView

from finetune_web.current import owned_project, workspace
from finetune_web.openapi import ApiBlueprint
from finetune_web.optional import model_tool
from finetune_web.pagination import ListArgs, page
from finetune_web.schemas.bridge import schema_for
from finetune_web.schemas.jobs import JobAccepted
from finetune_web.schemas.model_export import ExportBody, ExportFiles
from finetune_web.user_content import BINARY, send_user_file

blp = ApiBlueprint("model-export", __name__, url_prefix="/api/projects",
                   description="Export of a project's trained model (finetuneflow)")
ZIP = "application/zip"


def download(project_id: str, filename: str | None, mimetype: str) -> Response:
    path = model_exports.export_file(workspace(), owned_project(project_id).id, filename)
    return send_user_file(path, path.name, mimetype)


@blp.route("/<project_id>/export")
class Export(MethodView):
    @blp.arguments(schema_for(ExportBody), required=False)
    @blp.response(202, schema_for(JobAccepted))
    def post(self, body: ExportBody, project_id: str) -> dict[str, Any]:
        """Export the latest trained model; 409 NO_TRAINED_MODEL before a training has completed

        501 PLUGIN_NOT_INSTALLED without the local-GPU plugin. Follow the job at /api/jobs/{job_id}.
        """
        project = owned_project(project_id)
        model_tool(model_exporter, "model export")
        job = model_exports.start_export(workspace(), project.id, merge=body.merge)
        return {"job_id": job.id, "status": job.status, "message": "Export job enqueued"}


@blp.route("/<project_id>/export/files")
class ExportFileList(MethodView):
    @blp.arguments(schema_for(ListArgs), location="query")
    @blp.response(200, schema_for(ExportFiles))
    def get(self, args: ListArgs, project_id: str) -> dict[str, Any]:
        """The files of the last export (none before the first); 409 NO_TRAINED_MODEL while nothing was trained

        The list envelope pages `items`; `files` keeps every file for finetuneflow's clients, which know no pages.
        """
        export = model_exports.export_files(workspace(), owned_project(project_id).id)
        files = export.files if export else []
        return page(files[args.offset:args.offset + args.limit], len(files), args, files=files,
                    fine_tune_id=export.fine_tune_id if export else None, job_id=export.job_id if export else None)


@blp.route("/<project_id>/export/download/<path:filename>")
class ExportDownloadFile(MethodView):
    @blp.response(200, content_type=BINARY, description="the file's bytes, as an attachment")
    def get(self, project_id: str, filename: str) -> Response:
        """Download one exported file, by a name of GET …/export/files (404 for any other)"""
        return download(project_id, filename, BINARY)


@blp.route("/<project_id>/export/download")
class ExportDownload(MethodView):
    @blp.response(200, content_type=ZIP, description="finetuneflow_export.zip, as an attachment")
    def get(self, project_id: str) -> Response:
        """Download the zip of every exported file"""
        return download(project_id, None, ZIP)
