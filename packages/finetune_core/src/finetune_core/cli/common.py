"""Shared CLI plumbing: the workspace option, JSON vs rich output, job progress bars, errors, exit statuses.

Public: plugins adding commands (`finetune_register_commands`) build them from these pieces too.
"""

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

EXIT_OK = 0
EXIT_FAILED = 1  # an input refused or not loaded, a job failed or cancelled, an error
EXIT_USAGE = 2  # click's own status for bad options or arguments
EXIT_STATUS_HELP = (
    "Exit status: 0 when every input was accepted and every job succeeded; 1 when an input was refused or "
    "could not be loaded, a job failed or was cancelled, requests of a job still failed after their retries "
    "(a rerun retries them), or an error stopped the command (the table, or the --json output, is printed in "
    "full first); 2 for bad usage."
)


@dataclass
class CliState:
    workspace_path: Path
    as_json: bool
    database_url: str | None = None
    failed: bool = False  # something was refused or did not succeed: the command exits EXIT_FAILED
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


class JobFailedError(FinetuneError):
    """A job the command ran ended failed or cancelled; `job` (with its error and counts) goes in the output."""

    def __init__(self, label: str, job: Job) -> None:
        super().__init__(job_failure(label, job), job_id=job.id)
        self.error_code = "JOB_CANCELLED" if job.status is JobStatus.CANCELLED else "JOB_FAILED"
        self.job = job


def handle_errors(func: F) -> F:
    """Turn FinetuneError into a one-line message (or a JSON error object) and exit status 1; after a command
    that printed its output but marked something refused or failed (`mark_failed`), exit 1 too."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            result = func(*args, **kwargs)
        except FinetuneError as exc:
            if state().as_json:
                error: dict[str, Any] = {"error": {"detail": exc.message, "error_code": exc.error_code}}
                if isinstance(exc, JobFailedError):
                    error["job"] = to_jsonable(exc.job)
                click.echo(json.dumps(error, ensure_ascii=False, indent=2))
            else:
                console.print(f"[bold red]Error:[/] {exc.message}")
            sys.exit(EXIT_FAILED)
        if state().failed:
            sys.exit(EXIT_FAILED)
        return result

    return wrapper  # type: ignore[return-value]


def mark_failed(message: str | None = None) -> None:
    """Make the command exit EXIT_FAILED once its output is printed; `message` goes to stderr (not with --json)."""
    state().failed = True
    if message and not state().as_json:
        console.print(f"[bold red]Error:[/] {message}")


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


def settle(label: str, job: Job | None = None, *, inputs: Sequence[bool] = ()) -> None:
    """Once the output is printed: exit status 1 when `job` did not succeed or any of `inputs` (one per input:
    accepted and done) is False, with one line on stderr that says so."""
    if job is not None and job.status is not JobStatus.SUCCESS:
        mark_failed(job_failure(label, job))
    elif not all(inputs):
        mark_failed(f"{list(inputs).count(False)} of {len(inputs)} inputs refused or failed")


def settle_requests(summary: dict[str, Any], what: str = "generation") -> None:
    """Once the output is printed: exit status 1 when requests of a job that succeeded still failed after their
    retries (kept for a rerun, which retries them): the job did only part of what was asked."""
    failed = int(summary.get("failed_requests") or 0)
    if failed:
        mark_failed(f"{failed} {what} {'request' if failed == 1 else 'requests'} failed after their retries; "
                    "what the others gave is kept, and a rerun retries only those")


def job_failure(label: str, job: Job) -> str:
    """One line on a job that did not succeed: what, how it ended, and why."""
    why = job.error_message or ("the job was cancelled" if job.status is JobStatus.CANCELLED
                                else "see the job events")
    return f"{label} {job.status.value}: {why}"


def run_job(type: str, project_id: str, label: str, **params: Any) -> Job:
    """Enqueue a job and follow it until it ends; JobFailedError (exit status 1, the job in the output) if it
    did not succeed."""
    job = follow_job(type, project_id, label, **params)
    if job.status is not JobStatus.SUCCESS:
        raise JobFailedError(label, job)
    return job


def follow_job(type: str, project_id: str, label: str, **params: Any) -> Job:
    """Enqueue a job and follow it with a progress bar until it ends, whatever its outcome; for a command that
    prints what happened itself, then calls `mark_failed` when the job did not succeed."""
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
    return job
