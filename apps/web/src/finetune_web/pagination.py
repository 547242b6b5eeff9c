"""The one list envelope: `{"items", "total", "limit", "offset"}`, with `limit`/`offset` query arguments.

    class ProjectListArgs(ListArgs):          # a family's filters sit beside limit and offset
        status: ProjectStatus | None = None

    @blp.arguments(schema_for(ProjectListArgs), location="query")
    @blp.response(200, schema_for(Page[ProjectOut]))
    def get(self, args):
        items, total = projects.list_projects(workspace(), limit=args.limit, offset=args.offset, ...)
        return page(items, total, args)

Extra keys (e.g. `stats`) may sit beside `items`: subclass `Page[Item]` and pass them to `page`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_OFFSET = 1_000_000_000  # far past any real list, well inside the 64-bit integers SQL takes (422 beyond)
Item = TypeVar("Item")


class ListArgs(BaseModel):
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=f"at most {MAX_LIMIT}")
    offset: int = Field(0, ge=0, le=MAX_OFFSET, description=f"items skipped, at most {MAX_OFFSET}")


class Page(BaseModel, Generic[Item]):
    items: list[Item]
    total: int
    limit: int
    offset: int


def page(items: Sequence[Any], total: int, args: ListArgs, **extra: Any) -> dict[str, Any]:
    """The envelope of one page of `items` out of `total`."""
    return {"items": list(items), "total": total, "limit": args.limit, "offset": args.offset, **extra}
