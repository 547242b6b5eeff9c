"""Shared pieces of the pipeline integration tests: sample files, bad files, a fake YouTube, scripted generators.

The document builders and the real local HTTP server come from tests/unit/sources/sources_testkit.py.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from finetune_core import (
    Example,
    ExampleDraft,
    GenerationRequest,
    GenerationResult,
    Generator,
    Message,
    Workspace,
    hookimpl,
)
from finetune_core.generation.parsing import parse_examples
from finetune_core.services import sources as sources_service
from finetune_core.testing import made_up_text
from pypdf import PdfReader, PdfWriter
from requests.adapters import BaseAdapter

_SOURCES_TESTS = Path(__file__).resolve().parents[1] / "unit" / "sources"
if str(_SOURCES_TESTS) not in sys.path:
    sys.path.insert(0, str(_SOURCES_TESTS))

from sources_testkit import SAMPLES, build_docx, build_pdf, serve  # noqa: E402

__all__ = ["SAMPLES", "build_docx", "build_pdf", "serve"]  # re-exported from sources_testkit for the test modules

SAMPLE_FILES = {
    "pdf": SAMPLES / "sourdough-handbook.pdf",
    "docx": SAMPLES / "starter-care-sheet.docx",
    "html": SAMPLES / "shaping-and-scoring.html",
    "markdown": SAMPLES / "guide-du-levain.md",
    "csv": SAMPLES / "sourdough-faq.csv",
}
MB = 1024 * 1024


# --- bad files ------------------------------------------------------------------------------------

def corrupt_pdf() -> bytes:
    return b"%PDF-1.7\nthis is not really a pdf at all"


def encrypted_pdf() -> bytes:
    data = build_pdf(["A page nobody may read without the password."])
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_zip_bomb() -> bytes:
    """A real DOCX plus 30 MB of zeros that compress to almost nothing."""
    def fill(document: Any) -> None:
        document.add_paragraph("An innocent looking document.")

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(build_docx(fill))) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info.filename))
        target.writestr("word/media/padding.bin", b"\0" * (30 * MB))
    return out.getvalue()


def elf_binary() -> bytes:
    """The header of a 64-bit Linux executable, then padding: clearly not a PDF."""
    header = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00\x01\x00\x00\x00"
    return header + bytes(range(256)) * 4


# --- workspace inspection ----------------------------------------------------------------------------

def stored_files(workspace: Workspace) -> set[str]:
    """Every file under the workspace's file root, relative to it (temporary `.part-` files included)."""
    root = workspace.files.root
    return {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}


def all_examples(workspace: Workspace, project_id: str) -> list[Example]:
    """Every example of the project, previews included."""
    with workspace.unit_of_work() as uow:
        return list(uow.examples.iterate(project_id))


# --- text sources ----------------------------------------------------------------------------------

def add_text_sources(workspace: Workspace, project_id: str, count: int, *, sentences: int = 8) -> list[str]:
    """`count` small text sources of made-up words; returns their ids."""
    return [
        sources_service.add_file(workspace, project_id, f"note-{index:02d}.txt",
                                 made_up_text(index, sentences).encode()).id
        for index in range(count)
    ]


# --- scripted generators -------------------------------------------------------------------------------

_SENTENCE = re.compile(r"[^.!?]+[.!?]")


def grounded_drafts(request: GenerationRequest, count: int) -> list[ExampleDraft]:
    """`count` valid drafts whose evidence and answer are verbatim sentences of the chunk."""
    sentences = [match.group(0).strip() for match in _SENTENCE.finditer(request.chunk.content)]
    sentences = [sentence for sentence in sentences if len(sentence) >= 25] or [request.chunk.content.strip()]
    drafts = []
    for position in range(count):
        sentence = sentences[(request.round * request.n_examples + position) % len(sentences)]
        drafts.append(ExampleDraft(
            messages=[Message(role="user", content=f"What does the note state in point {position + 1}?"),
                      Message(role="assistant", content=sentence)],
            evidence=sentence,
        ))
    return drafts


@dataclass
class Script:
    """How a scripted generator behaves; tests flip these between runs (the 'crash disabled' switch)."""

    seen: list[str] = field(default_factory=list)  # request keys in the order generate_one received them
    # once this many results were returned, one request raises RuntimeError (the others in flight still answer,
    # so no task exception is left unretrieved)
    crash_after: int | None = None
    fail: Callable[[GenerationRequest], bool] | None = None  # answer GenerationResult(error=...) for these
    garbage: str | None = None  # answer this raw model text, parsed with parse_examples
    drafts_per_request: int | None = None  # default: exactly n_examples
    delay_s: float = 0.0
    returned: int = 0
    raised: bool = False

    def keys(self) -> set[str]:
        return set(self.seen)


def scripted_generator(name: str, script: Script) -> type[Generator]:
    class Scripted(Generator):
        async def generate_one(self, request: GenerationRequest) -> GenerationResult:
            script.seen.append(request.key)
            await asyncio.sleep(script.delay_s)
            if script.crash_after is not None and script.returned >= script.crash_after and not script.raised:
                script.raised = True
                raise RuntimeError("simulated crash in the middle of the run")
            script.returned += 1
            if script.fail is not None and script.fail(request):
                return GenerationResult(key=request.key, error="HTTP 429: rate limited by the provider")
            if script.garbage is not None:
                drafts = parse_examples(script.garbage, request.task_type, chunk_text=request.chunk.content)
                return GenerationResult(key=request.key, drafts=drafts, raw_text=script.garbage)
            count = script.drafts_per_request or request.n_examples
            return GenerationResult(key=request.key, drafts=grounded_drafts(request, count))

    Scripted.name = name
    Scripted.__name__ = Scripted.__qualname__ = f"Scripted_{name.replace('-', '_')}"
    return Scripted


class GeneratorPlugin:
    """A throwaway plugin object registering generator classes."""

    def __init__(self, *generators: type[Generator]) -> None:
        self.generators = generators

    @hookimpl
    def finetune_register_generators(self, register: Callable[[Any], None]) -> None:
        for generator in self.generators:
            register(generator)


# --- a fake YouTube at the requests boundary ------------------------------------------------------------

VIDEO = "dQw4w9WgXcQ"
_API_KEY = "fake-innertube-key"
TRANSCRIPT = [
    (0.0, 4.0, "Welcome back to the bakery school."),
    (4.0, 6.0, "Today we learn how to feed a sourdough starter."),
    (10.0, 8.0, "Discard all but fifty grams and add equal weights of flour and water."),
]


class FakeYouTube(BaseAdapter):
    """Answers the three requests youtube-transcript-api makes (watch page, innertube player, timedtext)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        url = request.url or ""
        self.calls.append(url)
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        if parts.path == "/watch":
            body = f'<html><script>ytcfg.set({{"INNERTUBE_API_KEY": "{_API_KEY}"}});</script></html>'
            return self._response(request, body, "text/html")
        if parts.path == "/youtubei/v1/player" and query.get("key") == [_API_KEY]:
            track = {"baseUrl": f"https://www.youtube.com/api/timedtext?v={VIDEO}&lang=en&fmt=srv3",
                     "name": {"runs": [{"text": "English"}]}, "languageCode": "en", "isTranslatable": False}
            player = {"playabilityStatus": {"status": "OK"},
                      "captions": {"playerCaptionsTracklistRenderer": {"captionTracks": [track],
                                                                        "translationLanguages": []}}}
            return self._response(request, json.dumps(player), "application/json")
        if parts.path == "/api/timedtext":
            texts = "".join(f'<text start="{s}" dur="{d}">{t}</text>' for s, d, t in TRANSCRIPT)
            return self._response(request, f'<?xml version="1.0" encoding="utf-8" ?><transcript>{texts}</transcript>',
                                  "text/xml")
        return self._response(request, "not found", "text/plain", 404)

    @staticmethod
    def _response(request: requests.PreparedRequest, body: str, content_type: str,
                  status: int = 200) -> requests.Response:
        response = requests.Response()
        response.status_code = status
        response._content = body.encode()
        response.headers["Content-Type"] = content_type
        response.url = request.url or ""
        response.request = request
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        pass


def youtube_session(adapter: FakeYouTube) -> requests.Session:
    session = requests.Session()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def public_resolver(seen: list[str]) -> Callable[[str, int], list[str]]:
    """A DNS stand-in answering a public address, so `add_url` needs no real DNS."""
    def resolve(host: str, port: int) -> list[str]:
        seen.append(host)
        return ["142.250.74.46"]

    return resolve


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            yield json.loads(line)
