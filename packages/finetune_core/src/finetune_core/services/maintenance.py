"""Maintenance (crealia's cron jobs): the cleanup of what is left over, and the metrics of the service.

    report = maintenance.cleanup(workspace)   # report.cleaned, report.sessions, report.orphaned_files...
    figures = maintenance.metrics(workspace)

The web app serves both at `/api/cron/cleanup` and `/api/cron/metrics`; they also run on a schedule: the worker's
on RQ (finetune_worker.schedule) where there is Redis, else `finetune serve`'s own thread (`in_process_schedule`).

What the cleanup removes, each conservatively:
- sessions: sign-in sessions (and so their refresh tokens) that expired, or were revoked, over SESSION_RETENTION
  ago; a live session, or one revoked since, stays;
- abandoned uploads: partial files that writes into the file store leave when interrupted (`.part-*` of
  `LocalFileStore.put`, through which every upload goes, and the `.name.part` / `.name.<hex>.tmp` of the
  exports' and trainings' atomic writes), untouched for FILE_GRACE;
- orphaned files: files of the store whose owning row is gone, in the store's known layouts (`FILE_LAYOUTS`):
  a project's folder `<project>/` (its sources `<project>/<source>/`, evaluation reports), its model exports
  `exports/<project>/`, a fine-tuning's folder `fine_tunes/<fine_tune>/`. A file is kept if its owner exists,
  if a row still names it (a source's `storage_key`; a model's `artifact_path`, which outlives its fine-tuning),
  if it changed within FILE_GRACE (an upload writes its file before its row commits), or if it lies outside
  those layouts (what this module does not know, it does not delete);
- job events: the event logs of jobs that finished over JOB_EVENT_RETENTION ago (the job rows and their
  result summaries stay);
- erasures: GDPR erasures that were asked and interrupted, finished (services/gdpr.py).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import stat
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from finetune_core.domain import JobStatus, utcnow
from finetune_core.errors import InvalidInputError
from finetune_core.jobs.schedule import IntervalScheduler, ScheduledTask

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort
    from finetune_core.storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

SESSION_RETENTION = timedelta(days=1)  # an ended session is kept this long (an audit of recent sign-outs)
FILE_GRACE = timedelta(hours=1)  # a file changed since is never removed: an upload or a write may be in flight
JOB_EVENT_RETENTION = timedelta(days=30)  # the event log of a finished job is kept this long
ACTIVE_USER_WINDOW = timedelta(days=30)  # "active users": signed in within it
ACTIVE_CHAT_WINDOW = timedelta(hours=24)  # "active chat sessions": a message within it
PENDING_JOB_STATUSES = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)

# the schedule: crealia's daily cleanup, hourly metrics; the first run comes a while after a process starts
CLEANUP = "cleanup"
METRICS = "metrics"
CLEANUP_EVERY_S = 24 * 3600
METRICS_EVERY_S = 3600
DEFAULT_EVERY_S: Mapping[str, int] = {CLEANUP: CLEANUP_EVERY_S, METRICS: METRICS_EVERY_S}
FIRST_RUN_AFTER_S = 300

_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")  # new_id()'s shape
_PARTIAL = re.compile(r"\.part-.+|\..+\.part|\..+\.[0-9a-f]{32}\.tmp")  # names of partial writes, as above
FILE_LAYOUTS = ("<project>/<source>/...", "<project>/...", "exports/<project>/...", "fine_tunes/<fine_tune>/...")


class CleanupReport(BaseModel):
    """What one cleanup removed, by category (see the module's docstring)."""

    sessions: int = 0
    orphaned_files: int = 0
    abandoned_uploads: int = 0
    job_events: int = 0
    erasures: int = 0
    finished_at: datetime = Field(default_factory=utcnow)

    @property
    def cleaned(self) -> int:
        return self.sessions + self.orphaned_files + self.abandoned_uploads + self.job_events + self.erasures


class Metrics(BaseModel):
    total_users: int
    active_users: int = Field(description=f"users signed in within {ACTIVE_USER_WINDOW.days} days")
    total_payments: int
    active_chat_sessions: int = Field(description="chats with a message within 24 hours")
    pending_jobs: int = Field(description="jobs queued or running")
    collected_at: datetime


@dataclass(frozen=True)
class StoredFile:
    key: str  # its file-store key
    path: Path
    modified: float  # st_mtime

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.key.split("/"))


@dataclass(frozen=True)
class Owner:
    """A row that owns a folder of the store: `kind` project, source or fine_tune."""

    kind: str
    id: str
    folder: tuple[str, ...]  # the key parts of the folder it owns


def stored_files(root: Path) -> Iterator[StoredFile]:
    """The regular files under the store's `root` (symbolic links are neither followed nor listed)."""
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            try:
                info = path.lstat()
            except FileNotFoundError:  # removed meanwhile
                continue
            if stat.S_ISREG(info.st_mode):
                yield StoredFile(path.relative_to(root).as_posix(), path, info.st_mtime)


def is_partial(name: str) -> bool:
    return _PARTIAL.fullmatch(name) is not None


def owners_of(parts: tuple[str, ...]) -> list[Owner]:
    """The rows owning a file at these key parts, outermost first, by FILE_LAYOUTS; [] outside them."""
    if len(parts) >= 3 and parts[0] == "fine_tunes" and _ID.fullmatch(parts[1]):
        return [Owner("fine_tune", parts[1], parts[:2])]
    if len(parts) >= 3 and parts[0] == "exports" and _ID.fullmatch(parts[1]):
        return [Owner("project", parts[1], parts[:2])]
    if len(parts) >= 2 and _ID.fullmatch(parts[0]):
        project = Owner("project", parts[0], parts[:1])
        if len(parts) >= 3 and _ID.fullmatch(parts[1]):
            return [project, Owner("source", parts[1], parts[:2])]
        return [project]
    return []


def _existing(uow: UnitOfWork, owners: list[Owner]) -> set[tuple[str, str]]:
    existing = {"project": uow.projects.existing_ids, "source": uow.sources.existing_ids,
                "fine_tune": uow.fine_tunes.existing_ids}
    found: set[tuple[str, str]] = set()
    for kind, existing_ids in existing.items():
        found |= {(kind, found_id) for found_id in existing_ids(owner.id for owner in owners if owner.kind == kind)}
    return found


def _named(parts: tuple[str, ...], named: set[str]) -> bool:
    """Whether a row names this file or a folder holding it (`named`: keys rows hold, without a trailing slash)."""
    return any("/".join(parts[:end]) in named for end in range(1, len(parts) + 1))


def _remove(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:  # removed meanwhile (its project deleted, another cleanup)
        return False
    return True


def _prune(folder: Path) -> None:
    """Remove the empty folders in `folder`, itself included: only folders whose owner is gone (none writes there)."""
    if not folder.is_dir() or folder.is_symlink():
        return
    for current, _dirs, _files in os.walk(folder, topdown=False):
        try:
            Path(current).rmdir()
        except OSError:  # not empty
            continue


def clean_files(workspace: WorkspacePort, *, now: datetime | None = None) -> tuple[int, int]:
    """Remove the orphaned files and the abandoned partial writes of the store; (orphaned, abandoned) removed."""
    root = workspace.files.root
    cutoff = ((now or utcnow()) - FILE_GRACE).timestamp()
    candidates = [(stored, owners_of(stored.parts)) for stored in stored_files(root) if stored.modified < cutoff]
    candidates = [(stored, owners) for stored, owners in candidates if owners or is_partial(stored.path.name)]
    if not candidates:
        return 0, 0
    with workspace.unit_of_work() as uow:
        existing = _existing(uow, [owner for _stored, owners in candidates for owner in owners])
        named = uow.sources.stored_keys(stored.key for stored, _owners in candidates)  # a source's file
        named |= {path.rstrip("/") for path in uow.models.artifact_paths()}  # a model's folder
    orphaned = abandoned = 0
    gone_folders: set[tuple[str, ...]] = set()
    for stored, owners in candidates:
        if _named(stored.parts, named):
            continue
        if is_partial(stored.path.name):  # wherever it is: its write ended long ago, unfinished
            abandoned += _remove(stored.path)
            continue
        missing = [owner for owner in owners if (owner.kind, owner.id) not in existing]
        if missing:
            orphaned += _remove(stored.path)
            gone_folders.add(missing[0].folder)
    for folder in sorted(gone_folders, key=len, reverse=True):
        _prune(root.joinpath(*folder))
    return orphaned, abandoned


def _finish_erasures(workspace: WorkspacePort) -> int:
    from finetune_core.services import gdpr  # its own concern (and its imports): loaded when a cleanup runs

    return gdpr.finish_pending_erasures(workspace)


def cleanup(workspace: WorkspacePort, *, now: datetime | None = None) -> CleanupReport:
    """Remove what is left over (see the module's docstring); what went, by category."""
    now = now or utcnow()
    report = CleanupReport(erasures=_finish_erasures(workspace))  # first: what it leaves is cleaned up below
    with workspace.unit_of_work() as uow:
        report.sessions = uow.auth_sessions.delete_ended(now - SESSION_RETENTION)
    with workspace.unit_of_work() as uow:
        report.job_events = uow.jobs.delete_events_of_finished(now - JOB_EVENT_RETENTION)
    report.orphaned_files, report.abandoned_uploads = clean_files(workspace, now=now)
    report.finished_at = utcnow()
    log.info("cleanup: %d removed (%s)", report.cleaned, report.model_dump(exclude={"finished_at"}))
    return report


def metrics(workspace: WorkspacePort, *, now: datetime | None = None) -> Metrics:
    """The service's figures now."""
    now = now or utcnow()
    with workspace.unit_of_work() as uow:
        return Metrics(total_users=uow.users.count(),
                       active_users=uow.users.count(signed_in_since=now - ACTIVE_USER_WINDOW),
                       total_payments=uow.payments.count(),
                       active_chat_sessions=uow.chats.count_active(now - ACTIVE_CHAT_WINDOW),
                       pending_jobs=uow.jobs.count_in(PENDING_JOB_STATUSES), collected_at=now)


TASKS: Mapping[str, Callable[[WorkspacePort], BaseModel]] = {CLEANUP: cleanup, METRICS: metrics}


def run_task(workspace: WorkspacePort, name: str) -> dict[str, Any]:
    """Run the maintenance task `name` (cleanup, metrics), as a schedule does: its result, logged, as JSON data."""
    if name not in TASKS:
        raise InvalidInputError(f"unknown maintenance task '{name}' (known: {', '.join(TASKS)})", task=name)
    result = TASKS[name](workspace)
    data = result.model_dump(mode="json")
    if isinstance(result, CleanupReport):
        data["cleaned"] = result.cleaned  # the cleanup logs its own line
    else:
        log.info("%s: %s", name, data)
    return data


def in_process_schedule(workspace: WorkspacePort, every_s: Mapping[str, float] | None = None, *,
                        first_run_in_s: float = FIRST_RUN_AFTER_S, pool: Executor | None = None) -> IntervalScheduler:
    """The maintenance tasks on a schedule of this process (not started: call `start()`), every `every_s[name]`
    seconds (DEFAULT_EVERY_S for those not given; 0 turns one off)."""
    every = {**DEFAULT_EVERY_S, **(every_s or {})}
    tasks = [ScheduledTask(name, every[name], functools.partial(run_task, name=name)) for name in TASKS]
    return IntervalScheduler(workspace, tasks, first_run_in_s=first_run_in_s, pool=pool,
                             name="finetune-maintenance")
