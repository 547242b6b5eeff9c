"""The worker's plugin, found through the `finetune` entry point `worker`: it adds `finetune worker`."""

from __future__ import annotations

from typing import Any

from finetune_core.hookspecs import hookimpl


@hookimpl
def finetune_register_commands(cli: Any) -> None:
    from finetune_worker.cli import worker

    cli.add_command(worker)
