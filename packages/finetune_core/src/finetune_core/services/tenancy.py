"""Who may see a row: a user sees only what they own; another user's id answers NotFoundError, never the row.

`owner_id` None is the local single user (no authentication), who sees every row. Ownership is
the project's `owner_id`; a job belongs to its project's owner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from finetune_core.domain import Job, Project
from finetune_core.errors import NotFoundError

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort
    from finetune_core.storage.unit_of_work import UnitOfWork


def _visible(uow: UnitOfWork, project_id: str, owner_id: str | None) -> Project | None:
    try:
        project = uow.projects.get(project_id)
    except NotFoundError:
        return None
    return project if owner_id is None or project.owner_id == owner_id else None


def owned_project(workspace: WorkspacePort, project_id: str, owner_id: str | None) -> Project:
    """The project by id (never by name) if `owner_id` may see it."""
    with workspace.unit_of_work() as uow:
        project = _visible(uow, project_id, owner_id)
    if project is None:
        raise NotFoundError(f"project '{project_id}' not found", project_id=project_id)
    return project


def owned_job(workspace: WorkspacePort, job_id: str, owner_id: str | None) -> Job:
    """The job if `owner_id` may see it: theirs through its project (a job with none is the local user's)."""
    with workspace.unit_of_work() as uow:
        job = uow.jobs.get(job_id)
        visible = owner_id is None or (job.project_id is not None and _visible(uow, job.project_id, owner_id))
    if not visible:
        raise NotFoundError(f"job '{job_id}' not found", job_id=job_id)
    return job
