"""Use cases on curation: validate every example, then split the valid ones train/eval."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from finetune_core.chunking.tokenizers import get_tokenizer
from finetune_core.curation.base import ValidationContext
from finetune_core.curation.split import assign_splits, default_group_key
from finetune_core.curation.stats import SplitGroup, stats_from_groups
from finetune_core.domain import PREVIEW_SPLIT, Example, Project, ProjectConfig, ProjectStatus
from finetune_core.services.sources import UPLOAD_GENERATOR

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort
    from finetune_core.storage.unit_of_work import UnitOfWork


def _split_groups(uow: UnitOfWork, project: Project) -> Callable[[Example], str]:
    """Generated examples group by source document, or each stands alone with the config's `split_by: "row"`;
    rows of an uploaded dataset are independent either way.

    Keys are made of content (a file's sha256, a URL, a row's messages), not of database ids, so the
    same documents split the same way in any workspace, on any backend.
    """
    sources, _ = uow.sources.search(project.id)
    identity = {source.id: source.sha256 or source.url or source.id for source in sources}
    by_row = project.config.split_by == "row"

    def group(example: Example) -> str:
        if by_row or example.generator == UPLOAD_GENERATOR:
            row = json.dumps([[m.role, m.content] for m in example.messages], ensure_ascii=False)
            return f"row:{identity.get(example.source_id or '', '')}:{hashlib.sha256(row.encode()).hexdigest()}"
        if example.source_id in identity:
            return f"source:{identity[example.source_id]}"
        return default_group_key(example)

    return group


def _validate(workspace: WorkspacePort, uow: UnitOfWork, project: Project,
              examples: Sequence[Example]) -> dict[str, list[str]]:
    """Error codes per example id: what the draft carried plus what every installed validator finds."""
    chunk_ids = {example.chunk_id for example in examples if example.chunk_id}
    context = ValidationContext(config=project.config, tokenizer=get_tokenizer(project.config.tokenizer),
                                chunks=uow.chunks.by_id(chunk_ids))
    codes = {example.id: list(example.metadata.get("draft_errors", [])) for example in examples}
    for validator in workspace.plugins.validators:
        for example_id, code in validator.validate(examples, context):
            if code not in codes[example_id]:
                codes[example_id].append(code)
    return codes


def curate_project(workspace: WorkspacePort, project_id: str) -> dict[str, Any]:
    """Re-validate the generated and uploaded examples and assign a seeded split (by source, or by row);
    the statistics warn when it left eval empty."""
    with workspace.unit_of_work() as uow:
        project = uow.projects.find(project_id)
        examples = list(uow.examples.iterate(project.id, exclude_split=PREVIEW_SPLIT))
        codes = _validate(workspace, uow, project, examples)
        valid = [example for example in examples if not codes[example.id]]
        splits = assign_splits(valid, project.config.train_eval_split, project.config.seed,
                               group_key=_split_groups(uow, project))
        uow.examples.update({
            example.id: {"is_valid": not codes[example.id], "validation_errors": codes[example.id],
                         "split": splits.get(example.id, "unassigned")}
            for example in examples
        })
        if valid and project.status in (ProjectStatus.DRAFT, ProjectStatus.PROCESSING):
            project.status = ProjectStatus.READY  # a dataset is there to export or train on
            uow.projects.save(project)
        return _stats(uow, project, exclude_split=PREVIEW_SPLIT)


def validate_preview(workspace: WorkspacePort, project_id: str) -> dict[str, Any]:
    with workspace.unit_of_work() as uow:
        project = uow.projects.find(project_id)
        examples = list(uow.examples.iterate(project.id, split=PREVIEW_SPLIT))
        codes = _validate(workspace, uow, project, examples)
        uow.examples.update({example.id: {"is_valid": not codes[example.id],
                                           "validation_errors": codes[example.id]} for example in examples})
        groups = uow.examples.groups(project.id, split=PREVIEW_SPLIT)
        return _stats_of(uow, project.id, groups)  # previews have no train/eval split to warn about


def stats(workspace: WorkspacePort, project_id: str, *, include_preview: bool = False) -> dict[str, Any]:
    """Dataset statistics in the finetuneflow §6 shape, with `warnings` on the split."""
    with workspace.unit_of_work() as uow:
        project = uow.projects.find(project_id)
        return _stats(uow, project, exclude_split=None if include_preview else PREVIEW_SPLIT)


def _stats(uow: UnitOfWork, project: Project, *, exclude_split: str | None = None) -> dict[str, Any]:
    """Aggregated by the database: cheap enough to answer beside every page of examples."""
    return _stats_of(uow, project.id, uow.examples.groups(project.id, exclude_split=exclude_split), project.config)


def _stats_of(uow: UnitOfWork, project_id: str, groups: list[SplitGroup],
              config: ProjectConfig | None = None) -> dict[str, Any]:
    """The statistics of these (split, is_valid) groups; the error codes are read for the invalid ones only."""
    invalid_splits = [group.split for group in groups if not group.is_valid and group.count]
    return stats_from_groups(groups, uow.examples.error_lists(project_id, invalid_splits), config)


def list_examples(workspace: WorkspacePort, project_id: str, *, split: str | None = None,
                  is_valid: bool | None = None, limit: int | None = 50, offset: int = 0) -> tuple[list[Example], int]:
    with workspace.unit_of_work() as uow:
        project = uow.projects.find(project_id)
        return uow.examples.search(project.id, split=split, is_valid=is_valid, limit=limit, offset=offset)


def examples_page(workspace: WorkspacePort, project_id: str, *, split: str | None = None, is_valid: bool | None = None,
                  limit: int = 50, offset: int = 0) -> tuple[list[Example], int, dict[str, Any]]:
    """A page of examples, how many match the filters, and the dataset's statistics (previews left out).

    The count and the statistics come from one aggregate over (split, is_valid): a page costs one
    GROUP BY and one indexed read, whatever the dataset's size.
    """
    with workspace.unit_of_work() as uow:
        project = uow.projects.find(project_id)
        groups = uow.examples.groups(project.id)
        total = sum(group.count for group in groups
                    if (split is None or group.split == split) and (is_valid is None or group.is_valid is is_valid))
        found = uow.examples.page(project.id, split=split, is_valid=is_valid, limit=limit, offset=offset) \
            if offset < total else []
        return found, total, _stats_of(uow, project.id, [group for group in groups if group.split != PREVIEW_SPLIT],
                                       project.config)


def delete_example(workspace: WorkspacePort, project_id: str, example_id: str) -> None:
    with workspace.unit_of_work() as uow:
        project = uow.projects.find(project_id)
        uow.examples.delete(project.id, example_id)
