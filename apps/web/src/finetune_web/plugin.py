"""The web app's plugin, found through the `finetune` entry point `web`: it adds `finetune serve`."""

from __future__ import annotations

from typing import Any

from finetune_core.hookspecs import hookimpl


@hookimpl
def finetune_register_commands(cli: Any) -> None:
    from finetune_web.serve import serve

    cli.add_command(serve)
