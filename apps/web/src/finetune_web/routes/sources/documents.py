"""Documents (foyergpt): files attached to an agent or a chat, 10 MB at most; GET downloads the bytes.

A document is a source of the caller's "Attachments" project (`finetune_core.services.attachments`);
`entity_type`/`entity_id` sit in its metadata. GET and DELETE take the id of any of the caller's
stored sources.
"""

from __future__ import annotations

from finetune_core.services import attachments, contents, documents, sources
from flask import Response
from flask.views import MethodView

from finetune_web.current import caller, workspace
from finetune_web.schemas.bridge import schema_for
from finetune_web.schemas.sources import DocumentForm, DocumentOut
from finetune_web.user_content import SourcesBlueprint, body_limit, read_upload, send_user_file

blp = SourcesBlueprint("documents", __name__, url_prefix="/api/documents",
                       description="Documents attached to agents and chats")


@blp.route("/upload")
class DocumentUpload(MethodView):
    @body_limit(lambda _settings: attachments.MAX_DOCUMENT_BYTES)
    @blp.arguments(schema_for(DocumentForm), location="files")
    @blp.response(201, schema_for(DocumentOut))
    def post(self, form: DocumentForm) -> DocumentOut:
        """Upload a document for an agent or a chat (413 over 10 MB, 415 for a type that cannot be read)"""
        data = read_upload(form.file, attachments.MAX_DOCUMENT_BYTES)
        source = documents.add_document(workspace(), caller().owner_id, form.file.filename or "", data,
                                          entity_type=form.entity_type, entity_id=form.entity_id)
        return DocumentOut.of(source)


@blp.route("/<document_id>")
class DocumentItem(MethodView):
    @blp.response(200, content_type="application/octet-stream",
                  description="the file's bytes as an attachment: its own Content-Type where browsers only show "
                              "or save that type (PDF, images, plain text...), else application/octet-stream")
    def get(self, document_id: str) -> Response:
        """Download a document"""
        source = contents.owned_source(workspace(), document_id, caller().owner_id)
        return send_user_file(attachments.open_file(workspace(), source), source.name, source.mime_type)

    @blp.response(204)
    def delete(self, document_id: str) -> None:
        """Delete a document"""
        sources.delete_source(workspace(), contents.owned_source(workspace(), document_id, caller().owner_id).id)
