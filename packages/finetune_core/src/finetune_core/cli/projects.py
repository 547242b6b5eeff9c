"""`finetune project ...` commands."""

from __future__ import annotations

import json

import click

from finetune_core.cli.common import emit, handle_errors, make_table, state
from finetune_core.domain import TaskType
from finetune_core.errors import InvalidInputError
from finetune_core.services import projects


@click.group()
def project() -> None:
    """Create, list, show and delete projects."""


@project.command("create")
@click.argument("name")
@click.option("--task-type", type=click.Choice([t.value for t in TaskType]), default="qa", show_default=True,
              help="What the examples teach: qa, instruction, conversation, summarization, reasoning (a worked "
                   "reasoning kept apart from the final answer) or preference (two answers ranked into chosen and "
                   "rejected, for DPO).")
@click.option("--description", default=None)
@click.option("--config", "config_json", default=None, help='JSON object, e.g. \'{"num_examples_target": 500}\'.')
@handle_errors
def create(name: str, task_type: str, description: str | None, config_json: str | None) -> None:
    """Create a project."""
    try:
        config = json.loads(config_json) if config_json else None
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"--config is not valid JSON: {exc}") from None
    created = projects.create_project(state().workspace, name, task_type=task_type, description=description,
                                      config=config)
    emit(created, message=f"Created project [bold]{created.name}[/] ({created.id}, task {created.task_type.value})")


@project.command("list")
@click.option("--limit", default=50, show_default=True)
@click.option("--offset", default=0)
@handle_errors
def list_(limit: int, offset: int) -> None:
    """List projects, newest first."""
    items, total = projects.list_projects(state().workspace, limit=limit, offset=offset)
    rows = [(p.name, p.id, p.task_type.value, p.status.value, p.created_at.isoformat()) for p in items]
    emit({"items": items, "total": total, "limit": limit, "offset": offset},
         make_table(f"Projects ({total})", ["name", "id", "task", "status", "created"], rows))


@project.command("show")
@click.argument("ref")
@handle_errors
def show(ref: str) -> None:
    """Show one project (by name or id) with its config."""
    found = projects.get_project(state().workspace, ref)
    emit(found, message=json.dumps(found.model_dump(mode="json"), indent=2, ensure_ascii=False))


@project.command("delete")
@click.argument("ref")
@click.confirmation_option(prompt="Delete the project, its files and data?")
@handle_errors
def delete(ref: str) -> None:
    """Delete a project with all its files and data."""
    projects.delete_project(state().workspace, ref)
    emit({"deleted": ref}, message=f"Deleted project {ref}")
