"""Counts shown beside a project (finetuneflow §2 `stats`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from finetune_core.workspace import Workspace


def project_stats(workspace: Workspace, project_id: str) -> dict[str, Any]:
    with workspace.unit_of_work() as repo:
        _, file_count = repo.list_sources(project_id, limit=0)
        jobs, _ = repo.list_jobs(project_id=project_id, limit=1)
        return {
            "file_count": file_count,
            "chunk_count": repo.count_chunks(project_id),
            "example_count": repo.count_examples(project_id),
            "last_job_status": jobs[0].status.value if jobs else None,
        }
