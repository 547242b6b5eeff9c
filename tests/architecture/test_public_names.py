"""The public names of the five packages are a contract: plugins, apps and users' code import them.

Each package's `__all__` is pinned here, and every name in it must import. Removing or renaming a public
name fails this test on purpose: keep the old name working (an alias), or change the pinned list knowingly.
"""

from __future__ import annotations

import importlib

import pytest

PUBLIC_NAMES: dict[str, list[str]] = {
    "finetune_core": [
        "ChatModel", "ChatReply", "ChatSettings", "Chunk", "ChunkSpan", "Chunker", "ConflictError", "Document",
        "DuplicateNameError", "Example", "ExampleDraft", "ExportOptions", "Exporter", "FetchContext", "FileLoader",
        "FileTooLargeError", "FineTune", "FineTuneRequest", "FineTuneStatus", "FinetuneError", "GenerationError",
        "GenerationRequest", "GenerationResult", "Generator", "GeneratorSettings", "Heading", "InvalidApiKeyError",
        "InvalidInputError", "Job", "JobAlreadyFinishedError", "JobCancelledError", "JobEvent", "JobStatus",
        "LoadOptions", "Message", "MissingApiKeyError", "NotFoundError", "NotSupportedError", "PageSpan",
        "PluginError", "Project", "ProjectConfig", "ProjectStatus", "ProviderKey", "ProviderSpec", "RecordSet",
        "Settings", "Source", "SourceKind", "SourceLoadError", "SourceStatus", "SourceType", "TaskType",
        "Tokenizer", "TrainedModel", "Trainer", "TrainingError", "TrainingRun", "UnknownPluginError",
        "UnsupportedFileTypeError", "UrlLoader", "UrlNotAllowedError", "ValidationContext", "Validator",
        "Workspace", "__version__", "hookimpl",
    ],
    "finetune_providers": [
        "Completion", "DEFAULT_PRICES", "Price", "PriceTable", "ProviderGenerator", "__version__", "sum_usage",
    ],
    "finetune_local_gpu": ["__version__"],
    "finetune_web": ["__version__", "create_app"],
    "finetune_worker": ["RqRunner", "cancel_job", "reap", "runner_from_env", "stop_running"],
}
CONTRACT = ("the public names of a library (its __all__) are a contract: code outside it imports them, so removing "
            "or renaming one breaks that code. Keep the old name working (an alias), or, if the change is meant, "
            "update PUBLIC_NAMES in tests/architecture/test_public_names.py in the same change")


@pytest.mark.parametrize("package", sorted(PUBLIC_NAMES))
def test_public_names_are_the_pinned_ones(package: str) -> None:
    module = importlib.import_module(package)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{package} has no __all__; {CONTRACT}"
    removed = sorted(set(PUBLIC_NAMES[package]) - set(exported))
    added = sorted(set(exported) - set(PUBLIC_NAMES[package]))
    assert not removed and not added, f"{package}: removed {removed}, added {added}; {CONTRACT}"
    assert len(exported) == len(set(exported)), f"{package}.__all__ names a name twice"


@pytest.mark.parametrize("package", sorted(PUBLIC_NAMES))
def test_every_public_name_imports(package: str) -> None:
    module = importlib.import_module(package)
    broken: dict[str, str] = {}
    for name in PUBLIC_NAMES[package]:
        try:
            getattr(module, name)  # resolves the lazily imported ones too (finetune_web, finetune_worker)
        except Exception as exc:  # an ImportError behind a lazy name is as broken as a missing one
            broken[name] = f"{type(exc).__name__}: {exc}"
    assert not broken, f"{package}: these public names do not import: {broken}; {CONTRACT}"
