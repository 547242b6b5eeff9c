"""What a health check asks of the core: can the database be reached."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from finetune_core.workspace import Workspace


def database_ok(workspace: Workspace) -> bool:
    try:
        with workspace.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError):
        return False
    return True
