"""The owner's studio project: where their uploads, media and composed videos live (made on first use)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from finetune_core.domain import Job, Project
from finetune_core.errors import NotFoundError
from finetune_core.services import projects as projects_service

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort

PURPOSE = "studio"
PROJECT_NAME = "Studio"


def is_studio(project: Project) -> bool:
    return (project.config.model_extra or {}).get("purpose") == PURPOSE


def studio_project(workspace: WorkspacePort, owner_id: str | None, *, create: bool = True) -> Project | None:
    """The owner's studio project, made on first use when `create` (the oldest one if a race made two)."""
    with workspace.unit_of_work() as uow:
        projects, _ = uow.projects.search(owner_id=owner_id, limit=None)
    found = [project for project in projects if is_studio(project) and project.owner_id == owner_id]
    if found:
        return min(found, key=lambda project: project.created_at)
    if not create:
        return None
    return projects_service.create_project(workspace, PROJECT_NAME, description="media made and uploaded in the studio",
                                           config={"purpose": PURPOSE}, owner_id=owner_id)


def studio_prefix(project_id: str) -> str:
    return f"{project_id}/studio"


def job_file_key(job: Job, name: str) -> str:
    if job.project_id is None:
        raise NotFoundError("this job has no files", job_id=job.id)
    return f"{studio_prefix(job.project_id)}/jobs/{job.id}/{name}"
