"""finetune_core: documents in, a clean fine-tuning dataset out.

Quick start::

    from finetune_core import Workspace

    with Workspace.open("my-workspace") as ws:
        project = ws.create_project("Handbook", task_type="qa")
        ws.add_file(project.id, "handbook.pdf")
        ws.ingest(project.id)
        ws.chunk(project.id)
        ws.generate(project.id, target=200)
        print(ws.stats(project.id))
        ws.export(project.id, "openai", out="train.jsonl")
"""

from finetune_core.chat.base import ChatModel, ChatReply, ChatSettings
from finetune_core.chunking.base import Chunker, ChunkSpan, Tokenizer
from finetune_core.curation.base import ValidationContext, Validator
from finetune_core.domain import (
    Chunk,
    Document,
    Example,
    ExampleDraft,
    FineTune,
    FineTuneStatus,
    Heading,
    Job,
    JobEvent,
    JobStatus,
    Message,
    PageSpan,
    Project,
    ProjectConfig,
    ProjectStatus,
    ProviderKey,
    RecordSet,
    Source,
    SourceKind,
    SourceStatus,
    SourceType,
    TaskType,
    TrainedModel,
)
from finetune_core.errors import (
    ConflictError,
    DuplicateNameError,
    FileTooLargeError,
    FinetuneError,
    GenerationError,
    InvalidApiKeyError,
    InvalidInputError,
    JobAlreadyFinishedError,
    JobCancelledError,
    MissingApiKeyError,
    NotFoundError,
    NotSupportedError,
    PluginError,
    SourceLoadError,
    TrainingError,
    UnknownPluginError,
    UnsupportedFileTypeError,
    UrlNotAllowedError,
)
from finetune_core.export.base import Exporter, ExportOptions
from finetune_core.generation.base import GenerationRequest, GenerationResult, Generator, GeneratorSettings
from finetune_core.hookspecs import hookimpl
from finetune_core.keys.provider import ProviderSpec
from finetune_core.settings import Settings
from finetune_core.sources.base import FetchContext, FileLoader, LoadOptions, UrlLoader
from finetune_core.training.base import FineTuneRequest, Trainer, TrainingRun
from finetune_core.workspace import Workspace

__version__ = "0.1.0"

__all__ = [
    "ChatModel",
    "ChatReply",
    "ChatSettings",
    "Chunk",
    "ChunkSpan",
    "Chunker",
    "ConflictError",
    "Document",
    "DuplicateNameError",
    "Example",
    "ExampleDraft",
    "ExportOptions",
    "Exporter",
    "FetchContext",
    "FileLoader",
    "FileTooLargeError",
    "FineTune",
    "FineTuneRequest",
    "FineTuneStatus",
    "FinetuneError",
    "GenerationError",
    "GenerationRequest",
    "GenerationResult",
    "Generator",
    "GeneratorSettings",
    "Heading",
    "InvalidApiKeyError",
    "InvalidInputError",
    "Job",
    "JobAlreadyFinishedError",
    "JobCancelledError",
    "JobEvent",
    "JobStatus",
    "LoadOptions",
    "Message",
    "MissingApiKeyError",
    "NotFoundError",
    "NotSupportedError",
    "PageSpan",
    "PluginError",
    "Project",
    "ProjectConfig",
    "ProjectStatus",
    "ProviderKey",
    "ProviderSpec",
    "RecordSet",
    "Settings",
    "Source",
    "SourceKind",
    "SourceLoadError",
    "SourceStatus",
    "SourceType",
    "TaskType",
    "Tokenizer",
    "TrainedModel",
    "Trainer",
    "TrainingError",
    "TrainingRun",
    "UnknownPluginError",
    "UnsupportedFileTypeError",
    "UrlLoader",
    "UrlNotAllowedError",
    "ValidationContext",
    "Validator",
    "Workspace",
    "__version__",
    "hookimpl",
]
