"""Built-in generation plugin, discovered through the `finetune` entry point like any other."""

from __future__ import annotations

from finetune_core.hookspecs import Register, hookimpl


@hookimpl
def finetune_register_generators(register: Register) -> None:
    """TODO(helper): register the built-ins."""
