"""Synchronous helpers (fintune-platform): a web page's text, a video's transcript; nothing is stored.

400 URL_NOT_ALLOWED for a refused URL, 404 when the page is not there, 422 when no text can be had: a video
without captions is transcribed from its audio only when FINETUNE_TRANSCRIPTION_MODEL is set (503
NO_MODEL_CONFIGURED when it names no installed model).
"""

from __future__ import annotations

from finetune_core.errors import SourceLoadError
from finetune_core.services import scraping
from flask.views import MethodView

from finetune_web.current import caller, workspace
from finetune_web.errors import ApiError
from finetune_web.openapi import ApiBlueprint
from finetune_web.schemas.bridge import schema_for
from finetune_web.schemas.common import ErrorBody
from finetune_web.schemas.sources import ScrapeBody, ScrapeOut, TranscriptBody, TranscriptOut

blp = ApiBlueprint("helpers", __name__, url_prefix="/api/helpers", description="Web page text and video transcripts")
UNPROCESSABLE = "the page or video gave no text"
NO_MODEL = "FINETUNE_TRANSCRIPTION_MODEL names no installed transcription model (NO_MODEL_CONFIGURED)"
MODEL_FAILED = "the transcription model's API failed (GENERATION_FAILED)"


def unprocessable(error: SourceLoadError, error_code: str) -> ApiError:
    """404 when the server said so, else 422; the upstream HTTP status (if any) as `context.upstream_status`."""
    context = {key: value for key, value in error.context.items() if key != "status"}
    if "status" in error.context:
        context["upstream_status"] = error.context["status"]
    if error.context.get("status") == 404:
        return ApiError(404, "PAGE_NOT_FOUND", error.message, **context)
    return ApiError(422, error_code, error.message, **context)


@blp.route("/scrape-web")
class ScrapeWeb(MethodView):
    @blp.arguments(schema_for(ScrapeBody))
    @blp.response(200, schema_for(ScrapeOut))
    @blp.alt_response(422, schema=schema_for(ErrorBody), description=UNPROCESSABLE)
    def post(self, body: ScrapeBody) -> ScrapeOut:
        """The title, text and paragraphs of a web page"""
        try:
            page = scraping.scrape_web(workspace(), body.url)
        except SourceLoadError as error:
            raise unprocessable(error, "CONTENT_NOT_EXTRACTED") from None
        return ScrapeOut(**page.model_dump())


@blp.route("/video-transcript")
class VideoTranscript(MethodView):
    @blp.arguments(schema_for(TranscriptBody))
    @blp.response(200, schema_for(TranscriptOut))
    @blp.alt_response(422, schema=schema_for(ErrorBody), description=UNPROCESSABLE)
    @blp.alt_response(502, schema=schema_for(ErrorBody), description=MODEL_FAILED)
    @blp.alt_response(503, schema=schema_for(ErrorBody), description=NO_MODEL)
    def post(self, body: TranscriptBody) -> TranscriptOut:
        """The transcript of a YouTube video, from its captions, else from its speech (speech-to-text)"""
        try:
            transcript = scraping.video_transcript(workspace(), body.video_url, caller().owner_id)
        except SourceLoadError as error:
            raise unprocessable(error, "TRANSCRIPT_UNAVAILABLE") from None
        return TranscriptOut(**transcript.model_dump(exclude={"url"}))
