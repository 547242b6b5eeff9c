"""Chunks, examples and a project's dataset (finetuneflow §5, §6); datasets and pairs (fintune-platform,
dualqueryintelligence) as views of the same examples; the streamed export's arguments.

Bodies that start generation name the generator (`generator`: any installed one) and its `model`;
finetuneflow's `ollama_model` is the model of the OpenAI-compatible generator. A provider key never
travels in a body: the project owner's stored key is used (POST /api/users/me/api-keys).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from finetune_core.domain import Chunk, Example, Message, SourceKind, Split
from finetune_core.services.datasets import Dataset
from finetune_core.services.export_stream import FILE_FORMAT
from finetune_core.services.pairs import Pair, PairDraft
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from finetune_web.pagination import ListArgs, Page
from finetune_web.schemas.bridge import FormModel, plugin_name
from finetune_web.schemas.common import ID_MAX, JsonObject
from finetune_web.schemas.sources import UploadedFile
from finetune_web.schemas.urls import ModelServerUrl

Chunker = Annotated[str, StringConstraints(min_length=1, max_length=64), plugin_name("chunkers")]
GeneratorName = Annotated[str, StringConstraints(min_length=1, max_length=64), plugin_name("generators")]
ExporterName = Annotated[str, StringConstraints(min_length=1, max_length=64), plugin_name("exporters")]
ExportFormat = Annotated[str, StringConstraints(min_length=1, max_length=64), plugin_name("exporters", FILE_FORMAT)]

OPENAI_COMPATIBLE = "openai-compatible"
SECRET_FIELDS = ("api_key", "key", "secret")


# --- chunks --------------------------------------------------------------------------------------------------

class ChunkBody(BaseModel):
    chunk_size_tokens: int | None = Field(None, ge=16, le=100_000, description="absent: the project's config")
    chunk_overlap_tokens: int | None = Field(None, ge=0, le=100_000, description="tokens shared with the previous")
    chunker: Chunker | None = Field(None, description="token, markdown-heading, ...")


class ChunkListArgs(ListArgs):
    source_file_id: str | None = Field(None, max_length=ID_MAX)


class ChunkOut(BaseModel):
    id: str
    source_file_id: str
    chunk_index: int
    content: str
    token_count: int
    metadata: dict[str, Any] = Field(description="page_start, page_end, heading, char offsets, source_name...")
    created_at: datetime

    @classmethod
    def of(cls, chunk: Chunk) -> ChunkOut:
        metadata = {**chunk.metadata, "page_start": chunk.page_start, "page_end": chunk.page_end,
                    "heading": chunk.heading, "char_start": chunk.char_start, "char_end": chunk.char_end}
        return cls(id=chunk.id, source_file_id=chunk.source_id, chunk_index=chunk.chunk_index, content=chunk.content,
                   token_count=chunk.token_count, metadata=metadata, created_at=chunk.created_at)


# --- generation ------------------------------------------------------------------------------------------------

class GeneratorChoice(BaseModel):
    """Which generator writes the examples, and its settings; absent: the project's config."""

    generator: GeneratorName | None = Field(None, description="extractive, openai, openai-compatible, anthropic...")
    model: str | None = Field(None, min_length=1, max_length=200)
    ollama_model: str | None = Field(None, min_length=1, max_length=200,
                                     description="finetuneflow's name: the model of the openai-compatible generator")
    base_url: ModelServerUrl | None = None
    concurrency: Annotated[int, Field(ge=1, le=1024)] | Literal["auto"] | None = Field(
        None, description="requests in flight, or auto (found from the provider's answers; the default for hosted "
                          "providers)")
    temperature: float | None = Field(None, ge=0, le=2)
    requests_per_minute: float | None = Field(None, gt=0, le=1_000_000)

    @model_validator(mode="before")
    @classmethod
    def _no_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(data.get(name) for name in SECRET_FIELDS):
            raise ValueError("a provider key is never sent here: store it with POST /api/users/me/api-keys")
        return data

    def generator_name(self) -> str | None:
        return self.generator or (OPENAI_COMPATIBLE if self.ollama_model else None)

    def settings(self) -> dict[str, Any]:
        values = {"model": self.model or self.ollama_model, "base_url": self.base_url,
                  "concurrency": self.concurrency, "temperature": self.temperature,
                  "requests_per_minute": self.requests_per_minute}
        return {key: value for key, value in values.items() if value is not None}


class PreviewBody(GeneratorChoice):
    num_examples: int = Field(10, ge=1, le=1000)


class GenerateBody(GeneratorChoice):
    num_examples_target: int | None = Field(None, ge=1, le=10_000_000, description="absent: the project's config")
    examples_per_chunk: int | None = Field(None, ge=1, le=100)
    batch: bool = Field(False, description="through the provider's batch API (openai, anthropic, mistral, "
                                           "together): half the price, answered within 24 hours; the job's "
                                           "summary names the batches")

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), **({"extra": {"batch": True}} if self.batch else {})}


# --- examples and stats ----------------------------------------------------------------------------------------

class ExampleListArgs(ListArgs):
    split: Split | None = None
    is_valid: bool | None = None


class ExampleOut(BaseModel):
    id: str
    split: Split
    data: dict[str, str] = Field(description="the instruction/input/output view")
    messages: list[Message]
    is_valid: bool
    validation_errors: list[str]
    token_count: int
    source_id: str | None
    chunk_id: str | None
    generator: str | None
    judge_score: float | None
    metadata: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, example: Example) -> ExampleOut:
        return cls(id=example.id, split=example.split, data=example.as_instruction(), messages=example.messages,
                   is_valid=example.is_valid, validation_errors=example.validation_errors,
                   token_count=example.token_count, source_id=example.source_id, chunk_id=example.chunk_id,
                   generator=example.generator, judge_score=example.judge_score, metadata=example.metadata,
                   created_at=example.created_at)


class SplitStats(BaseModel):
    count: int
    avg_tokens: float
    min_tokens: int
    max_tokens: int


class DatasetStats(BaseModel):
    """Previews left out; `by_split` counts valid examples (what an export holds)."""

    total: int
    valid: int
    invalid: int
    by_split: dict[str, SplitStats]
    validation_errors: dict[str, int] = Field(description="error code -> examples with it")
    warnings: list[str] = Field(description="what the split left undone, e.g. no eval examples from too few "
                                            "source documents (see the config's `split_by`)")


class ExampleStats(BaseModel):
    total: int
    valid: int
    invalid: int
    train: int
    eval: int
    avg_token_count: float
    warnings: list[str] = Field(description="as in GET …/dataset/stats")

    @classmethod
    def of(cls, stats: dict[str, Any]) -> ExampleStats:
        splits = stats["by_split"].values()
        count = sum(split["count"] for split in splits)
        tokens = sum(split["avg_tokens"] * split["count"] for split in splits)
        return cls(total=stats["total"], valid=stats["valid"], invalid=stats["invalid"],
                   train=stats["by_split"]["train"]["count"], eval=stats["by_split"]["eval"]["count"],
                   avg_token_count=round(tokens / count, 1) if count else 0.0, warnings=stats["warnings"])


class ExamplePage(Page[ExampleOut]):
    stats: ExampleStats


# --- datasets --------------------------------------------------------------------------------------------------

class DatasetOut(Dataset):
    """A project's examples seen as a dataset: its id is the project's id (one dataset a project)."""


class DatasetCreated(DatasetOut):
    job_id: str | None = Field(description="the job building it from content_ids (GET /api/jobs/{job_id})")


class DatasetCreate(GeneratorChoice):
    # content_ids are a project's: they need its project_id (400 otherwise)
    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"properties": {"content_ids": {"anyOf": [{"type": "null"}, {"type": "array", "maxItems": 0}]}}},
        {"required": ["project_id"], "properties": {"project_id": {"type": "string"}}},
    ]})

    name: str = Field(min_length=1, max_length=200)
    project_id: str | None = Field(None, min_length=1, max_length=ID_MAX,
                                   description="absent: a dataset with a project of its own")
    description: str | None = Field(None, max_length=5000)
    content_ids: list[Annotated[str, StringConstraints(max_length=ID_MAX)]] | None = Field(
        None, max_length=1000, description="contents of the project to build it from (a job)")
    num_examples_target: int | None = Field(None, ge=1, le=10_000_000)
    examples_per_chunk: int | None = Field(None, ge=1, le=100)


class DatasetUpdate(BaseModel):
    """A partial update (PUT)."""

    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=5000)
    model: str | None = Field(None, min_length=1, max_length=200, description="the generation model")


class DatasetListArgs(ListArgs):
    project_id: str | None = Field(None, max_length=ID_MAX)


class DatasetUploadForm(FormModel):
    file_kinds = {"file": SourceKind.DATASET_UPLOAD.value}  # noqa: RUF012

    file: UploadedFile = Field(description="CSV, JSONL or JSON of examples (question/answer, instruction/output, "
                                           "messages...)")
    name: str | None = Field(None, min_length=1, max_length=200)


# --- pairs -----------------------------------------------------------------------------------------------------

class PairBody(PairDraft):
    question: str = Field(min_length=1, max_length=100_000)
    answer: str = Field(min_length=1, max_length=100_000)
    system: str | None = Field(None, max_length=100_000)
    metadata: JsonObject = Field(default_factory=dict)


class PairsBulkBody(BaseModel):
    pairs: list[PairBody] = Field(min_length=1, max_length=5000)


class PairOut(Pair):
    """An example as a question (its first user turn) and an answer (its last assistant turn)."""


class PairListArgs(ListArgs):
    split: Literal["train", "eval", "unassigned"] | None = None
    is_valid: bool | None = None


class PairPage(Page[PairOut]):
    dataset: DatasetOut


class DatasetWithPairs(DatasetOut):
    pairs: list[PairOut] = Field(description="the pairs this request added")


class ExportArgs(BaseModel):
    format: ExportFormat = Field(
        FILE_FORMAT, description="an installed exporter (openai, anthropic, mistral, alpaca, sharegpt, hf-chat, "
                                 "openai-preference, dpo...), "
                                 "or jsonl: the exporter named by provider")
    provider: ExporterName | None = Field(None, description="with format=jsonl; default openai")
    split: Literal["train", "eval"] | None = Field(None, description="absent: every valid example")
    include_metadata: bool = Field(True, description="the source reference, in formats that allow one")
