"""Pairs (fintune-platform): a dataset's examples seen as question/answer, and examples written by hand.

A pair added by hand is an example like any other (`generator: "manual"`): a user turn and an
assistant turn, an optional system turn. Adding pairs re-runs curation, so they are validated
(duplicates included) and split train/eval with the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from finetune_core.chunking.tokenizers import get_tokenizer
from finetune_core.domain import PREVIEW_SPLIT, Example, Message, Split
from finetune_core.services.curation import curate_project

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort

MANUAL = "manual"
MANUAL_PREFIX = "manual:"
PREVIEW = PREVIEW_SPLIT
INTERNAL_METADATA = ("draft_errors", "raw")


class PairDraft(BaseModel):
    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    system: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class Pair(BaseModel):
    id: str
    dataset_id: str
    question: str
    answer: str
    system: str | None
    metadata: dict[str, Any]
    source_id: str | None
    chunk_id: str | None
    split: Split
    is_valid: bool
    validation_errors: list[str]
    token_count: int
    generator: str | None
    created_at: datetime

    @classmethod
    def of(cls, example: Example) -> Pair:
        metadata = {key: value for key, value in example.metadata.items() if key not in INTERNAL_METADATA}
        return cls(id=example.id, dataset_id=example.project_id, question=example.question, answer=example.answer,
                   system=example.system, metadata=metadata, source_id=example.source_id, chunk_id=example.chunk_id,
                   split=example.split, is_valid=example.is_valid, validation_errors=example.validation_errors,
                   token_count=example.token_count, generator=example.generator, created_at=example.created_at)


def list_pairs(workspace: WorkspacePort, project_id: str, *, split: str | None = None, is_valid: bool | None = None,
               limit: int = 50, offset: int = 0) -> tuple[list[Pair], int]:
    """The dataset's pairs (previews left out), oldest first."""
    with workspace.unit_of_work() as uow:
        examples, total = uow.examples.search(project_id, split=split, is_valid=is_valid, limit=limit, offset=offset,
                                             exclude_split=PREVIEW)
    return [Pair.of(example) for example in examples], total


def add_pairs(workspace: WorkspacePort, project_id: str, drafts: Sequence[PairDraft]) -> list[Pair]:
    """Store the pairs, then curate the dataset; the pairs as curation left them (split, validity)."""
    with workspace.unit_of_work() as uow:
        tokenizer = get_tokenizer(uow.projects.get(project_id).config.tokenizer)
        examples = []
        for draft in drafts:
            messages = [Message(role="system", content=draft.system)] if draft.system else []
            messages += [Message(role="user", content=draft.question), Message(role="assistant", content=draft.answer)]
            example = Example(project_id=project_id, messages=messages, generator=MANUAL,
                              token_count=tokenizer.count("\n".join(message.content for message in messages)),
                              metadata={**draft.metadata, "draft_errors": []})
            example.request_key = f"{MANUAL_PREFIX}{example.id}"
            examples.append(example)
        uow.examples.add(examples)
    curate_project(workspace, project_id)
    with workspace.unit_of_work() as uow:
        return [Pair.of(uow.examples.get(project_id, example.id)) for example in examples]


def delete_pair(workspace: WorkspacePort, project_id: str, pair_id: str) -> None:
    with workspace.unit_of_work() as uow:
        uow.examples.delete(project_id, pair_id)
