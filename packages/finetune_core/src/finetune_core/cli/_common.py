"""Shared CLI plumbing: the workspace option, JSON vs rich output, job progress bars, errors."""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from finetune_core.domain import Job, JobStatus
from finetune_core.errors import FinetuneError
from finetune_core.services import jobs
from finetune_core.workspace import Workspace

F = TypeVar("F", bound=Callable[..., Any])
console = Console(stderr=True)


@dataclass
class CliState:
    workspace_path: Path
    as_json: bool
    database_url: str | None = None
    _workspace: Workspace | None = field(default=None, repr=False)

    @property
    def workspace(self) -> Workspace:
        if self._workspace is None:
            self._workspace = Workspace.open(self.workspace_path, database_url=self.database_url)
        return self._workspace

    def close(self) -> None:
        if self._workspace is not None:
            self._workspace.close()


def state() -> CliState:
    obj = click.get_current_context().find_object(CliState)
    assert obj is not None, "the finetune group sets the CLI state"
    return obj


def handle_errors(func: F) -> F:
    """Turn FinetuneError into a one-line message (or a JSON error object) and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FinetuneError as exc:
            if state().as_json:
                click.echo(json.dumps({"error": {"detail": exc.message, "error_code": exc.error_code}}))
            else:
                console.print(f"[bold red]Error:[/] {exc.message}")
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def to_jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [to_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: to_jsonable(item) for key, item in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def emit(payload: Any, table: Table | None = None, message: str | None = None) -> None:
    """Print `payload` as JSON with --json, otherwise the table and/or message."""
    if state().as_json:
        click.echo(json.dumps(to_jsonable(payload), ensure_ascii=False, indent=2))
        return
    out = Console()
    if table is not None:
        out.print(table)
    if message:
        out.print(message)


def make_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    return table


def run_job(type: str, project_id: str, label: str, **params: Any) -> Job:
    """Enqueue a job and follow it with a progress bar until it ends; raise if it did not succeed."""
    workspace = state().workspace
    job = jobs.enqueue(workspace, type, project_id=project_id, **params)
    with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
                  console=console, disable=state().as_json, transient=False) as progress:
        task = progress.add_task(label, total=100.0)
        seen = 0
        while True:
            job = jobs.get_job(workspace, job.id)
            for event in jobs.events(workspace, job.id, after_seq=seen):
                seen = event.seq
                if event.type == "progress" and event.data.get("message"):
                    progress.update(task, description=f"{label}: {event.data['message']}")
            progress.update(task, completed=job.progress_pct)
            if job.status.finished:
                break
            time.sleep(0.15)
    if job.status is not JobStatus.SUCCESS:
        raise FinetuneError(f"{label} {job.status.value}: {job.error_message or 'see the job events'}")
    return job
