"""Sources in each family's shape: project files (finetuneflow), contents (fintune-platform), documents
(foyergpt), and the synchronous helpers. One `Source` entity behind all of them.

Multipart bodies are models too: a file part is an `UploadedFile` (documented as binary), the
other parts are plain fields, and a missing part is a 422 like a missing JSON field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from finetune_core.domain import Source, SourceKind, SourceStatus, SourceType
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema
from werkzeug.datastructures import FileStorage

from finetune_web.pagination import ListArgs
from finetune_web.schemas.bridge import ALL_KINDS, FormModel
from finetune_web.schemas.common import ID_MAX
from finetune_web.schemas.urls import VIDEO_URL_PATTERN, PublicUrl, VideoUrl

NAME_FIELD = Field(None, min_length=1, max_length=255)


def _file_part(value: Any) -> FileStorage:
    if not isinstance(value, FileStorage):
        raise ValueError("expected a file part (multipart/form-data with a filename)")
    return value


UploadedFile = Annotated[FileStorage, PlainValidator(_file_part),
                         WithJsonSchema({"type": "string", "format": "binary"})]


# --- finetuneflow §4: project files ---------------------------------------------------------------------

class FilesForm(FormModel):
    file_kinds = {"files": ALL_KINDS}  # noqa: RUF012 - absent `kind`: read from each file's type

    files: list[UploadedFile] = Field(min_length=1, description="one part a file: repeat the field for several")
    kind: SourceKind | None = Field(None, description="raw_doc (documents) or dataset_upload (CSV, JSONL, JSON "
                                                      "of examples); absent: read from the file's type")


class FileListArgs(ListArgs):
    kind: SourceKind | None = None


class FileOut(BaseModel):
    id: str
    filename: str = Field(description="sanitised: letters, digits and ._- only, never a path")
    kind: SourceKind
    type: SourceType
    status: SourceStatus = Field(description="pending, processing, ready, or error (see error_message)")
    error_message: str | None
    mime_type: str | None = Field(description="read from the bytes, not from the name or the client")
    size_bytes: int
    created_at: datetime

    @classmethod
    def of(cls, source: Source) -> FileOut:
        return cls(id=source.id, filename=source.name, kind=source.kind, type=source.type, status=source.status,
                   error_message=source.error_message, mime_type=source.mime_type, size_bytes=source.size_bytes,
                   created_at=source.created_at)


class FilesUploaded(BaseModel):
    files: list[FileOut]
    job_id: str | None = Field(description="the job loading the files (GET /api/jobs/{job_id}); null: none pending")


# --- fintune-platform: contents -----------------------------------------------------------------------------

class ContentUrlBody(BaseModel):
    # a declared type must be the URL's (400 CONTENT_TYPE_MISMATCH otherwise): youtube for a video URL only
    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"properties": {"type": {"type": "null"}}},
        {"required": ["type"], "properties": {"type": {"const": "youtube"}, "url": {"pattern": VIDEO_URL_PATTERN}}},
        {"required": ["type"], "properties": {"type": {"const": "website"},
                                              "url": {"not": {"pattern": VIDEO_URL_PATTERN}}}},
    ]})

    project_id: str = Field(min_length=1, max_length=ID_MAX)
    url: PublicUrl
    name: str | None = NAME_FIELD
    description: str | None = Field(None, max_length=5000)
    type: Literal["website", "youtube"] | None = Field(None, description="checked against the URL; absent: "
                                                                          "read from the URL")


class ContentUploadForm(FormModel):
    file_kinds = {"file": ALL_KINDS}  # noqa: RUF012 - a document or a dataset file, read from its type

    file: UploadedFile
    project_id: str = Field(min_length=1, max_length=ID_MAX)
    name: str | None = NAME_FIELD
    description: str | None = Field(None, max_length=5000)
    file_type: str | None = Field(None, max_length=32, description="a hint only: the type is read from the bytes")


class ContentUpdate(BaseModel):
    """A partial update (PUT)."""

    name: str | None = NAME_FIELD
    description: str | None = Field(None, max_length=5000)


class ContentListArgs(ListArgs):
    project_id: str | None = Field(None, max_length=ID_MAX,
                                   description="one project's contents; absent: all of the caller's")
    kind: SourceKind | None = None


class ContentOut(BaseModel):
    id: str
    project_id: str
    name: str
    description: str | None
    type: SourceType = Field(description="pdf, docx, text, markdown, html, website, youtube, csv, jsonl or json")
    kind: SourceKind
    url: str | None
    file_path: str | None = Field(description="the stored file's name (not a server path); null for a URL")
    size: int
    mime_type: str | None
    status: SourceStatus
    error_message: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, source: Source) -> ContentOut:
        file_path = source.storage_key.rsplit("/", 1)[-1] if source.storage_key else None
        return cls(id=source.id, project_id=source.project_id, name=source.name, description=source.description,
                   type=source.type, kind=source.kind, url=source.url, file_path=file_path, size=source.size_bytes,
                   mime_type=source.mime_type, status=source.status, error_message=source.error_message,
                   metadata=source.metadata, created_at=source.created_at, updated_at=source.updated_at)


# --- foyergpt: documents of agents and chats ---------------------------------------------------------------

class DocumentForm(FormModel):
    file_kinds = {"file": ALL_KINDS}  # noqa: RUF012

    file: UploadedFile
    entity_type: Literal["agent", "chat"]
    entity_id: str = Field(min_length=1, max_length=64)


class DocumentOut(BaseModel):
    id: str
    filename: str
    file_size: int
    mime_type: str | None
    entity_type: str | None
    entity_id: str | None
    status: SourceStatus
    error_message: str | None
    chunk_count: int | None = Field(description="passages answers can draw on, once the document is indexed")
    uploaded_at: datetime

    @classmethod
    def of(cls, source: Source) -> DocumentOut:
        return cls(id=source.id, filename=source.name, file_size=source.size_bytes, mime_type=source.mime_type,
                   entity_type=source.metadata.get("entity_type"), entity_id=source.metadata.get("entity_id"),
                   status=source.status, error_message=source.error_message,
                   chunk_count=source.metadata.get("chunk_count"), uploaded_at=source.created_at)


# --- fintune-platform: helpers -----------------------------------------------------------------------------

class ScrapeBody(BaseModel):
    url: PublicUrl


class ScrapeOut(BaseModel):
    status: Literal["success"] = "success"
    url: str
    final_url: str | None
    title: str | None
    content: str
    paragraphs: list[str]


class TranscriptBody(BaseModel):
    video_url: VideoUrl


class TranscriptOut(BaseModel):
    status: Literal["success"] = "success"
    transcript: str
    source: Literal["youtube_transcript_api", "whisper"] = Field(description=(
        "youtube_transcript_api: the video's captions; whisper: its speech, transcribed by the configured "
        "transcription model (no captions, FINETUNE_TRANSCRIPTION_MODEL set)"))
    video_id: str | None
    language: str | None
    paragraphs: list[str]
