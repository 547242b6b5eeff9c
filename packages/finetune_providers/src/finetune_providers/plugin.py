"""The providers' plugin, found through the `finetune` entry point `providers`.

Only light modules are imported here: each SDK (openai, anthropic, mistralai, llama_cpp) is
imported when its generator first sends a request, so loading the plugins stays fast.
"""

from __future__ import annotations

from finetune_core.hookspecs import Register, hookimpl

from finetune_providers.anthropic_sdk import AnthropicGenerator
from finetune_providers.llama_cpp_local import LlamaCppGenerator
from finetune_providers.mistral_sdk import MistralGenerator
from finetune_providers.openai_compatible import OpenAICompatibleGenerator
from finetune_providers.openai_sdk import OpenAIGenerator

GENERATORS = (OpenAICompatibleGenerator, OpenAIGenerator, AnthropicGenerator, MistralGenerator, LlamaCppGenerator)


@hookimpl
def finetune_register_generators(register: Register) -> None:
    """Register `openai-compatible`, `openai`, `anthropic`, `mistral` and `llama-cpp` (classes)."""
    for generator in GENERATORS:
        register(generator)
