"""The finetune REST API: a thin Flask adapter over finetune_core (the contract: shared/API.md).

    from finetune_web import create_app
    app = create_app()          # settings from FINETUNE_* variables; `finetune serve` runs it on gunicorn

Light on import (the `finetune` CLI loads the plugin module on every command): Flask comes with
`create_app`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finetune_web.version import __version__

if TYPE_CHECKING:
    from finetune_web.app import create_app

__all__ = ["__version__", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from finetune_web.app import create_app

        return create_app
    raise AttributeError(name)
