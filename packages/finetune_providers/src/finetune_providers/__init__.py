"""Provider plugins (OpenAI, Anthropic, Mistral, OpenAI-compatible, llama.cpp) for finetune.

Empty for now: its issue fills it in. It depends on finetune_core only (dependencies point inward).
"""

__version__ = "0.1.0"
