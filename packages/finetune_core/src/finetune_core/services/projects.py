"""Use cases on projects."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from finetune_core.chunking.tokenizers import get_tokenizer
from finetune_core.domain import Project, ProjectConfig, TaskType
from finetune_core.services import billing

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort


def check_config(workspace: WorkspacePort, config: ProjectConfig, keys: Iterable[str]) -> None:
    """UnknownPluginError (or InvalidInputError for an `hf:` tokenizer with no file) when one of `keys` names a
    generator, a chunker or a tokenizer this installation does not have: refused when set, not at the next job."""
    names = set(keys)
    if "generator" in names:
        workspace.plugins.generators.get(config.generator)
    if "chunker" in names:
        workspace.plugins.chunkers.get(config.chunker)
    if "tokenizer" in names:
        get_tokenizer(config.tokenizer)


def create_project(
    workspace: WorkspacePort,
    name: str,
    *,
    task_type: TaskType | str = TaskType.QA,
    description: str | None = None,
    config: dict[str, Any] | None = None,
    owner_id: str | None = None,
) -> Project:
    project = Project(
        name=name,
        task_type=TaskType(task_type),
        description=description,
        config=ProjectConfig.model_validate(config or {}),
        owner_id=owner_id,
    )
    check_config(workspace, project.config, config or {})
    with workspace.unit_of_work() as uow:
        billing.enforce(workspace, uow, owner_id, "max_projects")
        return uow.projects.add(project)


def get_project(workspace: WorkspacePort, ref: str) -> Project:
    """A project by id or by name."""
    with workspace.unit_of_work() as uow:
        return uow.projects.find(ref)


def list_projects(
    workspace: WorkspacePort, *, status: str | None = None, owner_id: str | None = None, limit: int = 50,
    offset: int = 0,
) -> tuple[list[Project], int]:
    with workspace.unit_of_work() as uow:
        return uow.projects.search(status=status, owner_id=owner_id, limit=limit, offset=offset)


def update_project(workspace: WorkspacePort, ref: str, **changes: Any) -> Project:
    """Partial update; `config` is merged key by key into the current config and re-validated."""
    with workspace.unit_of_work() as uow:
        project = uow.projects.find(ref)
        values = project.model_dump()
        config_patch = changes.pop("config", None) or {}
        values.update({key: value for key, value in changes.items() if value is not None})
        values["config"] = {**project.config.model_dump(), **config_patch}
        updated = Project.model_validate(values)
        check_config(workspace, updated.config, config_patch)
        return uow.projects.save(updated)


def delete_project(workspace: WorkspacePort, ref: str) -> None:
    """Remove the project's rows (cascading) and every file it stored."""
    with workspace.unit_of_work() as uow:
        project = uow.projects.find(ref)
        uow.projects.delete(project.id)
    workspace.files.delete_prefix(project.id)
