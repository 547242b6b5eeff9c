"""Counts shown beside a project (finetuneflow §2 `stats`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort


def project_stats(workspace: WorkspacePort, project_id: str) -> dict[str, Any]:
    """`file_count`, `chunk_count`, `example_count` and `last_job_status` of one project."""
    return projects_stats(workspace, [project_id])[project_id]


def projects_stats(workspace: WorkspacePort, project_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The stats of a page of projects, in a few queries whatever the page's size (project id -> stats)."""
    with workspace.unit_of_work() as uow:
        return uow.projects.counts(project_ids)
