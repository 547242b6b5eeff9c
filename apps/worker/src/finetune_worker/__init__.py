"""The finetune RQ worker: `RqRunner` sends the core's jobs to RQ queues (default, gpu); `finetune worker` runs them.

    from finetune_core import Workspace
    from finetune_worker import RqRunner

    workspace = Workspace.open("ws", database_url="postgresql+psycopg://...", runner=RqRunner("redis://host:6379/0"))

It depends on finetune_core only (dependencies point inward).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from finetune_worker.cancel import cancel_job, stop_running
    from finetune_worker.reaper import reap
    from finetune_worker.runner import RqRunner, runner_from_env

__version__ = "0.1.0"
__all__ = ["RqRunner", "cancel_job", "reap", "runner_from_env", "stop_running"]

# Every `finetune` command imports this package (through the plugin), so rq and redis load only when used.
_HOMES = {
    "RqRunner": "finetune_worker.runner",
    "runner_from_env": "finetune_worker.runner",
    "cancel_job": "finetune_worker.cancel",
    "stop_running": "finetune_worker.cancel",
    "reap": "finetune_worker.reaper",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'finetune_worker' has no attribute '{name}'")
    return getattr(importlib.import_module(_HOMES[name]), name)
