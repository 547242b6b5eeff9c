"""Contents (fintune-platform): a project's sources, by URL (fetched by a job) or uploaded, listed across projects.

POST /api/contents ≡ POST /api/contents/url: both add a URL content; a refused URL (scheme, internal
address) answers 400 URL_NOT_ALLOWED before any job starts.
"""

from __future__ import annotations

from typing import Any

from finetune_core.services import contents, sources
from flask.views import MethodView

from finetune_web.current import caller, owned_project, workspace
from finetune_web.pagination import Page, page
from finetune_web.schemas.bridge import schema_for
from finetune_web.schemas.sources import ContentListArgs, ContentOut, ContentUpdate, ContentUploadForm, ContentUrlBody
from finetune_web.user_content import SourcesBlueprint, body_limit, read_upload

blp = SourcesBlueprint("contents", __name__, url_prefix="/api/contents",
                       description="Contents: URLs and files of the caller's projects (sources)")


def loaded(source_id: str) -> ContentOut:
    return ContentOut.of(sources.get_source(workspace(), source_id))


@blp.route("")
class Contents(MethodView):
    @blp.arguments(schema_for(ContentListArgs), location="query")
    @blp.response(200, schema_for(Page[ContentOut]))
    def get(self, args: ContentListArgs) -> dict[str, Any]:
        """The caller's contents, oldest first (filters: project_id, kind)"""
        project_id = owned_project(args.project_id).id if args.project_id else None
        found, total = contents.list_owned_sources(workspace(), caller().owner_id, project_id=project_id,
                                                   kind=args.kind, limit=args.limit, offset=args.offset)
        return page([ContentOut.of(source) for source in found], total, args)

    @blp.arguments(schema_for(ContentUrlBody))
    @blp.response(201, schema_for(ContentOut))
    def post(self, body: ContentUrlBody) -> ContentOut:
        """Add a web page or a YouTube video by URL; a job fetches it (status pending, then ready or error)"""
        project = owned_project(body.project_id)
        source = contents.add_url_content(workspace(), project.id, body.url, type=body.type, name=body.name,
                                          description=body.description)
        contents.ingest(workspace(), project.id, [source])
        return loaded(source.id)


@blp.route("/url")
class ContentUrl(MethodView):
    post = Contents.post


@blp.route("/upload")
class ContentUpload(MethodView):
    @body_limit(lambda settings: settings.max_file_bytes)
    @blp.arguments(schema_for(ContentUploadForm), location="files")
    @blp.response(201, schema_for(ContentOut))
    def post(self, form: ContentUploadForm) -> ContentOut:
        """Upload a file as a content (type read from the bytes) and start loading it"""
        project = owned_project(form.project_id)
        data = read_upload(form.file, workspace().settings.max_file_bytes)
        source = sources.add_file(workspace(), project.id, form.file.filename or "", data,
                                  description=form.description)
        if form.name:
            source = sources.update_source(workspace(), source.id, name=form.name)
        contents.ingest(workspace(), project.id, [source])
        return loaded(source.id)


@blp.route("/<content_id>")
class ContentItem(MethodView):
    @blp.response(200, schema_for(ContentOut))
    def get(self, content_id: str) -> ContentOut:
        """One content, with where its loading stands"""
        return ContentOut.of(contents.owned_source(workspace(), content_id, caller().owner_id))

    @blp.arguments(schema_for(ContentUpdate))
    @blp.response(200, schema_for(ContentOut))
    def put(self, body: ContentUpdate, content_id: str) -> ContentOut:
        """Rename or describe a content (a partial update)"""
        source = contents.owned_source(workspace(), content_id, caller().owner_id)
        return ContentOut.of(sources.update_source(workspace(), source.id, name=body.name,
                                                   description=body.description))

    @blp.response(204)
    def delete(self, content_id: str) -> None:
        """Delete a content with its file, chunks and examples"""
        sources.delete_source(workspace(), contents.owned_source(workspace(), content_id, caller().owner_id).id)
