"""Job types and the plain core functions that run them (dotted paths, so RQ can enqueue them too)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from finetune_core.errors import InvalidInputError

JobHandler = Callable[..., dict[str, Any]]

HANDLERS: dict[str, str] = {
    "ingest": "finetune_core.services.sources:ingest_job",
    "chunk": "finetune_core.services.chunks:chunk_job",
    "dataset_preview": "finetune_core.services.generation:preview_job",
    "dataset_generate": "finetune_core.services.generation:generate_job",
    "curate": "finetune_core.services.curation:curate_job",
    "export": "finetune_core.services.exports:export_job",
    "fine_tune": "finetune_core.services.fine_tunes:fine_tune_job",
    "dataset_judge": "finetune_core.services.judging:judge_job",
    "model_export": "finetune_core.services.model_exports:model_export_job",
    "dataset_build": "finetune_core.services.datasets:build_job",
    "ingest_curate": "finetune_core.services.contents:ingest_and_curate_job",
}


def register_job_type(type: str, dotted_path: str) -> None:
    """Let a plugin add a job type (e.g. local training) run by the same runners."""
    HANDLERS[type] = dotted_path


def handler_for(type: str) -> JobHandler:
    try:
        module_name, _, attribute = HANDLERS[type].partition(":")
    except KeyError:
        raise InvalidInputError(f"unknown job type '{type}'", type=type) from None
    handler: JobHandler = getattr(importlib.import_module(module_name), attribute)
    return handler
