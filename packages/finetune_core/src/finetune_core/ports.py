"""The port services reach the world through: settings, files, plugins, the job runner and transactions.

`Workspace` satisfies it and stays the library's front door; a service never needs more than this, so a test can
hand a service a fake (an in-memory unit of work, a temporary file store) instead of a database.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import httpx
    import requests

    from finetune_core.domain import Job
    from finetune_core.plugins import Registries
    from finetune_core.settings import Settings
    from finetune_core.storage.files import FileStore
    from finetune_core.storage.unit_of_work import UnitOfWork


class JobRunner(Protocol):
    """Accepts a stored, queued job and sees that `execute_job` runs it somewhere (jobs/runner.py has the
    in-process ones; a plugin registers others, such as the worker's RQ runner)."""

    def submit(self, workspace: WorkspacePort, job: Job) -> None: ...

    def shutdown(self, wait: bool = True) -> None: ...


class WorkspacePort(Protocol):
    settings: Settings
    root: Path
    files: FileStore
    runner: JobRunner
    # test seams at the HTTP boundary (None: the real network), and keys given for this process only
    http_transport: httpx.BaseTransport | None
    requests_session: requests.Session | None
    session_keys: dict[str, str]

    @property
    def plugins(self) -> Registries: ...

    def unit_of_work(self) -> AbstractContextManager[UnitOfWork]:
        """A transaction: committed when the block ends, rolled back if it raises."""
        ...
