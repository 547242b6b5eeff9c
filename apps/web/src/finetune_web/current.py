"""What the current request works on: the app's state, its workspace, the caller, and rows the caller may see.

    from finetune_web.current import caller, owned_project, workspace

    project = owned_project(project_id)           # 404 for a missing id and for another user's alike
    keys.list_keys(workspace(), owner_id=caller().owner_id)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from finetune_core.domain import AuthSession, Job, Project, User
from finetune_core.services import tenancy
from finetune_core.services.model_access import Origin
from flask import current_app, g

if TYPE_CHECKING:
    from finetune_core.workspace import Workspace

    from finetune_web.event_feed import EventFeed
    from finetune_web.ratelimit import RateLimiter
    from finetune_web.settings import WebSettings

EXTENSION = "finetune"


@dataclass
class AppState:
    """Everything one app holds: kept in `app.extensions["finetune"]`."""

    settings: WebSettings
    workspace: Workspace
    limiter: RateLimiter
    feed: EventFeed  # tells the open event streams when their job has news
    started_at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Caller:
    """The user behind a request; `session` is None in local mode, where there are no sign-ins."""

    user: User
    session: AuthSession | None
    local: bool = False

    @property
    def owner_id(self) -> str | None:
        """What tenancy filters on: the user's id, or None (every row) for the local single user."""
        return None if self.local else self.user.id


def state() -> AppState:
    found: AppState = current_app.extensions[EXTENSION]
    return found


def workspace() -> Workspace:
    return state().workspace


def caller() -> Caller:
    """The authenticated caller (set before the view runs; absent only on public routes)."""
    found: Caller = g.caller
    return found


def origin() -> Origin:
    """Who asks, for what the server may reach on the caller's behalf: the local single user is the machine's own."""
    return Origin.LOCAL if caller().local else Origin.REMOTE


def owned_project(project_id: str) -> Project:
    return tenancy.owned_project(workspace(), project_id, caller().owner_id)


def owned_job(job_id: str) -> Job:
    return tenancy.owned_job(workspace(), job_id, caller().owner_id)
