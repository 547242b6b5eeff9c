"""Provider plugins (OpenAI, Anthropic, Mistral, OpenAI-compatible, llama.cpp) for finetune.

Generators registered by name through the `finetune` entry point (`finetune_providers.plugin`):

    openai-compatible   any Chat Completions server (Ollama, vLLM, LM Studio, llama.cpp), plain httpx
    openai              OpenAI, official SDK
    anthropic           Anthropic Messages API, official SDK
    mistral             Mistral, official SDK
    llama-cpp           a local GGUF model in process (extra: `finetune-providers[llama-cpp]`)

They share pacing (requests and tokens per minute), retries with backoff that honour
`Retry-After`, usage accounting with estimated cost, and the core's prompts and parser.
It depends on finetune_core only (dependencies point inward).
"""

from finetune_providers._base import Completion, ProviderGenerator
from finetune_providers._usage import DEFAULT_PRICES, Price, PriceTable, sum_usage

__version__ = "0.1.0"

__all__ = ["DEFAULT_PRICES", "Completion", "Price", "PriceTable", "ProviderGenerator", "__version__", "sum_usage"]
