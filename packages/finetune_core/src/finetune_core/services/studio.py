"""Studio uploads (crealia): video, audio and image files up to 100 MB, kept in the owner's studio project.

No table: an upload is its bytes at `{project_id}/studio/uploads/{id}.{ext}` and a JSON sidecar `{id}.json`
(id, file name, MIME type, size, creation time) in the workspace file store. The type is read from the bytes
(magic numbers), never from the name or the client: anything else is UnsupportedFileTypeError (415). An id
is looked up in the caller's own studio project only, so another user's id is NotFoundError (404).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from finetune_core.domain import utcnow
from finetune_core.errors import FileTooLargeError, NotFoundError, UnsupportedFileTypeError
from finetune_core.services.studio_space import studio_prefix, studio_project

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort

MB = 1024 * 1024
MAX_UPLOAD_BYTES = 100 * MB
ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class Upload:
    id: str
    project_id: str
    filename: str
    mime_type: str
    extension: str
    size: int
    created_at: str


def sniff(data: bytes) -> tuple[str, str] | None:
    """(MIME type, extension) of media bytes by their magic numbers, None when not a known media type."""
    head = data[:64]
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"M4A ", b"M4B "):
            return "audio/mp4", "m4a"
        if brand.startswith(b"qt"):
            return "video/quicktime", "mov"
        return "video/mp4", "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: WebM or Matroska
        return ("video/webm", "webm") if b"webm" in data[:4096] else ("video/x-matroska", "mkv")
    if head.startswith(b"ID3") or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0
                                   and head[1] & 0x06 != 0):  # an MPEG audio frame (layer bits not 00)
        return "audio/mpeg", "mp3"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio/wav", "wav"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp", "webp"
    if head.startswith(b"OggS"):
        return "audio/ogg", "ogg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png", "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg", "jpg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif", "gif"
    if head.startswith(b"fLaC"):
        return "audio/flac", "flac"
    return None


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name.replace("\\", "/")).name).strip("._")
    return cleaned[:255] or "upload"


def add_upload(workspace: WorkspacePort, owner_id: str | None, filename: str, data: bytes) -> Upload:
    """Store `data` (read up to MAX_UPLOAD_BYTES + 1) as one of the owner's uploads."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise FileTooLargeError(f"File exceeds maximum size of {MAX_UPLOAD_BYTES // MB} MB",
                                max_bytes=MAX_UPLOAD_BYTES)
    kind = sniff(data)
    if kind is None:
        raise UnsupportedFileTypeError("the file's bytes are not a supported video, audio or image type "
                                       "(MP4, WebM, Matroska, MP3, WAV, OGG, FLAC, PNG, JPEG, GIF, WebP)",
                                       filename=_safe_name(filename))
    project = studio_project(workspace, owner_id)
    assert project is not None
    upload = Upload(id=uuid.uuid4().hex, project_id=project.id, filename=_safe_name(filename), mime_type=kind[0],
                    extension=kind[1], size=len(data), created_at=utcnow().isoformat())
    workspace.files.put(_key(upload.project_id, upload.id, upload.extension), data)
    workspace.files.put(_key(upload.project_id, upload.id, "json"), json.dumps(asdict(upload)).encode())
    return upload


def _key(project_id: str, upload_id: str, extension: str) -> str:
    return f"{studio_prefix(project_id)}/uploads/{upload_id}.{extension}"


def owned_upload(workspace: WorkspacePort, owner_id: str | None, upload_id: str) -> Upload:
    """The owner's upload by id; NotFoundError for any other (another user's included)."""
    missing = NotFoundError(f"upload '{upload_id}' not found", upload_id=upload_id)
    if not ID_PATTERN.match(upload_id):
        raise missing
    project = studio_project(workspace, owner_id, create=False)
    if project is None:
        raise missing
    key = _key(project.id, upload_id, "json")
    if not workspace.files.exists(key):
        raise missing
    return Upload(**json.loads(workspace.files.get(key)))


def upload_path(workspace: WorkspacePort, upload: Upload) -> Path:
    return workspace.files.local_path(_key(upload.project_id, upload.id, upload.extension))
