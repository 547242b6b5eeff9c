"""What flows from a Source to an exported dataset: sources, loaded documents, chunks and examples.

These carry no persistence concerns; `finetune_core.storage` maps them to SQLAlchemy rows explicitly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import BaseModel, Field

from finetune_core.domain.common import new_id, utcnow


class SourceKind(StrEnum):
    RAW_DOC = "raw_doc"
    DATASET_UPLOAD = "dataset_upload"


class SourceType(StrEnum):
    PDF = "pdf"
    DOCX = "docx"
    TEXT = "text"
    MARKDOWN = "markdown"
    HTML = "html"
    WEBSITE = "website"
    YOUTUBE = "youtube"
    CSV = "csv"
    JSONL = "jsonl"
    JSON = "json"
    IMAGE = "image"  # kept as a file (a chat's or an agent's document), never read for text


class SourceStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    READY = "ready"
    ERROR = "error"


Split = Literal["preview", "train", "eval", "unassigned"]
PREVIEW_SPLIT: Final = "preview"  # a preview's examples: shown, never curated, exported or trained on
Role = Literal["system", "user", "assistant"]


class Source(BaseModel):
    """One uploaded file, URL or attachment, and where its loading stands."""

    id: str = Field(default_factory=new_id)
    project_id: str
    name: str
    kind: SourceKind = SourceKind.RAW_DOC
    type: SourceType
    mime_type: str | None = None
    size_bytes: int = 0
    url: str | None = None
    storage_key: str | None = None
    sha256: str | None = None
    status: SourceStatus = SourceStatus.PENDING
    error_message: str | None = None
    description: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class PageSpan(BaseModel):
    """Characters [start, end) of Document.text come from page `number` (1-based)."""

    number: int
    start: int
    end: int


class Heading(BaseModel):
    level: int = Field(ge=1, le=6)
    title: str
    offset: int  # character offset in Document.text where the heading line starts


class Document(BaseModel):
    """Plain text plus structure and provenance: what a loader yields."""

    text: str
    title: str | None = None
    pages: list[PageSpan] = Field(default_factory=list)
    headings: list[Heading] = Field(default_factory=list)
    language: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class Message(BaseModel):
    role: Role
    content: str


class ExampleDraft(BaseModel):
    """An example before it is stored: from a generator or a dataset upload."""

    messages: list[Message] = Field(default_factory=list)
    evidence: str | None = None
    errors: list[str] = Field(default_factory=list)
    raw: str | None = None  # the model output it was parsed from, kept when parsing failed
    metadata: dict[str, Any] = Field(default_factory=dict)

    def to_example(self, *, project_id: str, position: int, count_tokens: Callable[[str], int],
                   context: dict[str, Any] | None = None, provenance: dict[str, Any] | None = None,
                   **fields: Any) -> Example:
        """The stored example, valid unless the draft has errors. Its metadata: `context` (what the draft may
        refine, such as its language), the draft's own, `provenance` (what it may not, such as its row), then the
        draft's errors and raw output, which curation reads."""
        text = "\n".join(message.content for message in self.messages)
        metadata = {**(context or {}), **self.metadata, **(provenance or {}), "draft_errors": list(self.errors),
                    **({"raw": self.raw} if self.raw else {})}
        return Example(project_id=project_id, position=position, messages=self.messages, evidence=self.evidence,
                       is_valid=not self.errors, validation_errors=list(self.errors),
                       token_count=count_tokens(text) if text else 0, metadata=metadata, **fields)


class RecordSet(BaseModel):
    """What a dataset-upload loader yields instead of a Document."""

    columns: list[str]
    mapping: str  # which column set was recognised, e.g. "instruction/input/output"
    records: list[ExampleDraft]
    row_count: int
    preview: list[dict[str, Any]] = Field(default_factory=list)


class Chunk(BaseModel):
    id: str = Field(default_factory=new_id)
    project_id: str
    source_id: str
    chunk_index: int
    content: str
    token_count: int
    char_start: int = 0
    char_end: int = 0
    page_start: int | None = None
    page_end: int | None = None
    heading: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)


class Example(BaseModel):
    """One training record in the canonical `messages` form, with its grounding."""

    id: str = Field(default_factory=new_id)
    project_id: str
    source_id: str | None = None
    chunk_id: str | None = None
    request_key: str | None = None  # "(chunk, index)" of the generation request, for resume
    position: int = 0  # index of this example within its request's answer
    messages: list[Message]
    evidence: str | None = None
    split: Split = "unassigned"
    is_valid: bool = True
    validation_errors: list[str] = Field(default_factory=list)
    token_count: int = 0
    generator: str | None = None
    judge_score: float | None = None
    judge_reason: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)

    def turns(self, role: Role) -> list[str]:
        return [m.content for m in self.messages if m.role == role]

    @property
    def system(self) -> str | None:
        found = self.turns("system")
        return found[0] if found else None

    @property
    def question(self) -> str:
        """The first user turn: the question / instruction view."""
        found = self.turns("user")
        return found[0] if found else ""

    @property
    def answer(self) -> str:
        """The last assistant turn: the answer / output view."""
        found = self.turns("assistant")
        return found[-1] if found else ""

    def as_instruction(self) -> dict[str, str]:
        """The instruction/input/output view (Alpaca); `input` is split off after a blank line."""
        instruction, _, input_ = self.question.partition("\n\n")
        return {"instruction": instruction, "input": input_, "output": self.answer}

    def as_qa(self) -> dict[str, str]:
        return {"question": self.question, "answer": self.answer}


@dataclass(frozen=True, slots=True)
class SplitGroup:
    """The examples of one (split, is_valid) group, as a database aggregate reports them."""

    split: str
    is_valid: bool
    count: int
    tokens: int
    low: int
    high: int
