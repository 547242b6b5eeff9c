"""A workspace: one database and one file store, plus the runner that executes jobs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from finetune_core.facade import WorkspaceFacade
from finetune_core.jobs.runner import InProcessRunner, JobRunner
from finetune_core.plugins import Registries, registries
from finetune_core.settings import Settings
from finetune_core.storage.database import make_engine, sqlite_url, upgrade
from finetune_core.storage.files import LocalFileStore
from finetune_core.storage.repository import Repository

if TYPE_CHECKING:
    import httpx
    import requests

DATABASE_FILE = "finetune.db"


class Workspace(WorkspaceFacade):
    """Open one with `Workspace.open(path)`; every service function takes it as first argument."""

    def __init__(self, settings: Settings, *, runner: JobRunner | None = None) -> None:
        self.settings = settings
        self.root = settings.root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.database_url = settings.database_url or sqlite_url(self.root / DATABASE_FILE)
        self.engine = make_engine(self.database_url)
        upgrade(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.files = LocalFileStore(self.root / "files")
        self.runner: JobRunner = runner or InProcessRunner(settings.job_threads)
        # Test seams at the HTTP boundary: an httpx transport for URL fetches, a requests
        # session for youtube-transcript-api. None means the real network.
        self.http_transport: httpx.BaseTransport | None = None
        self.requests_session: requests.Session | None = None

    @classmethod
    def open(
        cls,
        path: str | Path | None = None,
        *,
        database_url: str | None = None,
        runner: JobRunner | None = None,
        **settings: Any,
    ) -> Workspace:
        """Open (creating if needed) the workspace in `path`; `database_url` selects PostgreSQL."""
        values = Settings.from_env(
            **({"root": Path(path)} if path is not None else {}), database_url=database_url, **settings
        )
        return cls(values, runner=runner)

    @property
    def plugins(self) -> Registries:
        return registries()

    @contextmanager
    def unit_of_work(self) -> Iterator[Repository]:
        """A transaction: committed when the block ends, rolled back if it raises."""
        session: Session = self._sessions()
        try:
            yield Repository(session)
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def close(self) -> None:
        self.runner.shutdown(wait=True)
        self.engine.dispose()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
