"""An in-memory unit of work and workspace port, so a service is tested alone (cosmicpython's fake pattern).

The fake keeps each aggregate's rows as domain models in dicts and honours the one rule services rely on: a
block that raises leaves nothing behind. The integration tests run the same services on SQLite and PostgreSQL.
tests/unit/services/conftest.py gives each test there one, as the `workspace` fixture.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from finetune_core.domain import AuthSession, Job, JobStatus, Project, ProviderKey, Source, SourceStatus, User, utcnow
from finetune_core.errors import ConflictError, NotFoundError
from finetune_core.plugins import Registries, registries
from finetune_core.settings import Settings
from finetune_core.storage.files import LocalFileStore


@dataclass
class Rows:
    """Every stored aggregate, by id."""

    projects: dict[str, Project] = field(default_factory=dict)
    sources: dict[str, Source] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)
    users: dict[str, tuple[User, str]] = field(default_factory=dict)  # the user and its password hash
    sessions: dict[str, tuple[AuthSession, str]] = field(default_factory=dict)  # the session and its refresh id
    provider_keys: dict[tuple[str, str], tuple[ProviderKey, str]] = field(default_factory=dict)  # and its ciphertext


def _missing(label: str, key: str, item_id: str) -> NotFoundError:
    return NotFoundError(f"{label} '{item_id}' not found", **{key: item_id})


class FakeProjects:
    def __init__(self, rows: Rows) -> None:
        self.rows = rows

    def add(self, project: Project) -> Project:
        self.rows.projects[project.id] = project.model_copy(deep=True)
        return project

    def get(self, project_id: str) -> Project:
        if project_id not in self.rows.projects:
            raise _missing("project", "project_id", project_id)
        return self.rows.projects[project_id].model_copy(deep=True)

    def find(self, ref: str) -> Project:
        if ref in self.rows.projects:
            return self.get(ref)
        named = sorted((p for p in self.rows.projects.values() if p.name == ref), key=lambda p: p.created_at)
        if not named:
            raise NotFoundError(f"project '{ref}' not found", project=ref)
        return named[0].model_copy(deep=True)

    def search(self, *, status: str | None = None, owner_id: str | None = None, limit: int | None = 50,
               offset: int = 0) -> tuple[list[Project], int]:
        found = [p for p in self.rows.projects.values()
                 if (not status or p.status == status) and (not owner_id or p.owner_id == owner_id)]
        found.sort(key=lambda p: (p.created_at, p.id), reverse=True)
        end = None if limit is None else offset + limit
        return [p.model_copy(deep=True) for p in found[offset:end]], len(found)

    def save(self, project: Project) -> Project:
        self.get(project.id)
        project.updated_at = utcnow()
        self.rows.projects[project.id] = project.model_copy(deep=True)
        return project

    def delete(self, project_id: str) -> None:
        self.get(project_id)
        del self.rows.projects[project_id]
        self.rows.jobs = {key: job for key, job in self.rows.jobs.items() if job.project_id != project_id}
        self.rows.sources = {key: item for key, item in self.rows.sources.items() if item.project_id != project_id}


class FakeSources:
    def __init__(self, rows: Rows) -> None:
        self.rows = rows

    def add(self, source: Source) -> Source:
        self.rows.sources[source.id] = source.model_copy(deep=True)
        return source

    def get(self, source_id: str) -> Source:
        if source_id not in self.rows.sources:
            raise _missing("source", "source_id", source_id)
        return self.rows.sources[source_id].model_copy(deep=True)

    def unloaded(self, project_id: str) -> list[Source]:
        found = [s for s in self.rows.sources.values() if s.project_id == project_id
                 and s.status in (SourceStatus.PENDING, SourceStatus.PROCESSING)]
        return [s.model_copy(deep=True) for s in sorted(found, key=lambda s: (s.created_at, s.id))]


class FakeJobs:
    def __init__(self, rows: Rows) -> None:
        self.rows = rows

    def add(self, job: Job) -> Job:
        self.rows.jobs[job.id] = job.model_copy(deep=True)
        return job

    def get(self, job_id: str) -> Job:
        if job_id not in self.rows.jobs:
            raise _missing("job", "job_id", job_id)
        return self.rows.jobs[job_id].model_copy(deep=True)

    def unfinished(self, project_id: str) -> list[Job]:
        found = [j for j in self.rows.jobs.values() if j.project_id == project_id
                 and j.status in (JobStatus.QUEUED, JobStatus.RUNNING)]
        return [j.model_copy(deep=True) for j in sorted(found, key=lambda j: (j.created_at, j.id))]


class FakeUsers:
    def __init__(self, rows: Rows) -> None:
        self.rows = rows

    def add(self, user: User, password_hash: str) -> User:
        if any(other.email == user.email or (user.trigramme and other.trigramme == user.trigramme)
               for other, _ in self.rows.users.values()):
            raise ConflictError("this email or trigramme is already registered", error_code="USER_EXISTS")
        self.rows.users[user.id] = (user.model_copy(deep=True), password_hash)
        return user

    def get(self, user_id: str) -> User:
        if user_id not in self.rows.users:
            raise _missing("user", "user_id", user_id)
        return self.rows.users[user_id][0].model_copy(deep=True)

    def find_by(self, *, email: str | None = None, trigramme: str | None = None) -> User | None:
        for user, _ in self.rows.users.values():
            if (email is not None and user.email == email) or (email is None and user.trigramme == trigramme):
                return user.model_copy(deep=True)
        return None

    def password_hash(self, user_id: str) -> str:
        self.get(user_id)
        return self.rows.users[user_id][1]

    def save(self, user: User, *, password_hash: str | None = None) -> User:
        stored = self.password_hash(user.id)
        user.updated_at = utcnow()
        self.rows.users[user.id] = (user.model_copy(deep=True), password_hash or stored)
        return user


class FakeAuthSessions:
    def __init__(self, rows: Rows) -> None:
        self.rows = rows

    def add(self, auth_session: AuthSession, refresh_jti: str) -> AuthSession:
        self.rows.sessions[auth_session.id] = (auth_session.model_copy(deep=True), refresh_jti)
        return auth_session

    def get(self, session_id: str) -> AuthSession:
        if session_id not in self.rows.sessions:
            raise _missing("session", "session_id", session_id)
        return self.rows.sessions[session_id][0].model_copy(deep=True)

    def with_user(self, session_id: str) -> tuple[AuthSession, User] | None:
        if session_id not in self.rows.sessions:
            return None
        session = self.get(session_id)
        return session, self.rows.users[session.user_id][0].model_copy(deep=True)

    def rotate_refresh(self, session_id: str, presented_jti: str, new_jti: str, *, expires_at: datetime) -> bool:
        found = self.rows.sessions.get(session_id)
        if found is None or found[1] != presented_jti or not found[0].is_active():
            return False
        session = found[0].model_copy(update={"expires_at": expires_at, "last_used_at": utcnow()})
        self.rows.sessions[session_id] = (session, new_jti)
        return True

    def revoke(self, session_id: str, reason: str) -> None:
        session, jti = self.rows.sessions[session_id]
        if session.revoked_at is None:
            self.rows.sessions[session_id] = (session.model_copy(update={"revoked_at": utcnow(),
                                                                         "revoked_reason": reason}), jti)


class FakeProviderKeys:
    def __init__(self, rows: Rows) -> None:
        self.rows = rows

    def put(self, owner_id: str, provider: str, encrypted_key: str, masked: str) -> tuple[ProviderKey, bool]:
        found = self.rows.provider_keys.get((owner_id, provider))
        key = (found[0].model_copy(update={"masked": masked, "updated_at": utcnow()}) if found
               else ProviderKey(owner_id=owner_id, provider=provider, masked=masked))
        self.rows.provider_keys[(owner_id, provider)] = (key, encrypted_key)
        return key.model_copy(), found is None

    def encrypted(self, owner_id: str, provider: str) -> str | None:
        found = self.rows.provider_keys.get((owner_id, provider))
        return found[1] if found else None

    def of_owner(self, owner_id: str) -> list[ProviderKey]:
        return [key.model_copy() for (owner, _), (key, _) in sorted(self.rows.provider_keys.items())
                if owner == owner_id]

    def delete(self, owner_id: str, provider: str) -> bool:
        return self.rows.provider_keys.pop((owner_id, provider), None) is not None


class FakeUnitOfWork:
    """The repositories the services under test reach; any other aggregate is an AttributeError (a test that
    needs one adds its fake here)."""

    def __init__(self, rows: Rows) -> None:
        self.projects = FakeProjects(rows)
        self.sources = FakeSources(rows)
        self.jobs = FakeJobs(rows)
        self.users = FakeUsers(rows)
        self.auth_sessions = FakeAuthSessions(rows)
        self.provider_keys = FakeProviderKeys(rows)


class FakeWorkspace:
    """A `WorkspacePort` over in-memory rows and a temporary file store; counts the transactions it gave out."""

    def __init__(self, root: Path) -> None:
        self.settings = Settings(root=root)
        self.root = root
        self.files = LocalFileStore(root / "files")
        self.runner: Any = None  # the services under test start no job
        self.http_transport = None
        self.requests_session = None
        self.session_keys: dict[str, str] = {}
        self.rows = Rows()
        self.transactions = 0

    @property
    def plugins(self) -> Registries:
        return registries()

    @contextmanager
    def unit_of_work(self) -> Iterator[FakeUnitOfWork]:
        before = copy.deepcopy(self.rows)
        self.transactions += 1
        try:
            yield FakeUnitOfWork(self.rows)
        except BaseException:
            self.rows.__dict__.update(before.__dict__)  # rolled back: the rows as they were
            raise
