"""Built-in export plugin, discovered through the `finetune` entry point like any other."""

from __future__ import annotations

from finetune_core.export.formats import (
    AlpacaExporter,
    AnthropicExporter,
    DPOExporter,
    HFChatExporter,
    MistralExporter,
    OpenAIExporter,
    OpenAIPreferenceExporter,
    ShareGPTExporter,
)
from finetune_core.hookspecs import Register, hookimpl


@hookimpl
def finetune_register_exporters(register: Register) -> None:
    for exporter in (
        OpenAIExporter(),
        AnthropicExporter(),
        MistralExporter(),
        AlpacaExporter(),
        ShareGPTExporter(),
        HFChatExporter(),
        OpenAIPreferenceExporter(),
        DPOExporter(),
    ):
        register(exporter)
