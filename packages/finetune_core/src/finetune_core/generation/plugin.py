"""Built-in generation plugin, discovered through the `finetune` entry point like any other."""

from __future__ import annotations

from finetune_core.generation.extractive import ExtractiveGenerator
from finetune_core.hookspecs import Register, hookimpl


@hookimpl
def finetune_register_generators(register: Register) -> None:
    """Register the offline `extractive` generator (a class: the core instantiates it with settings)."""
    register(ExtractiveGenerator)
