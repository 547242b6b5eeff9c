"""What a health check asks of the core: can the database be reached."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort


def database_ok(workspace: WorkspacePort) -> bool:
    try:
        with workspace.unit_of_work() as uow:
            uow.session.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError):
        return False
    return True
