"""Built-in chunking plugin, discovered through the `finetune` entry point like any other."""

from __future__ import annotations

from finetune_core.chunking.markdown_chunker import MarkdownHeadingChunker
from finetune_core.chunking.token_chunker import TokenChunker
from finetune_core.hookspecs import Register, hookimpl


@hookimpl
def finetune_register_chunkers(register: Register) -> None:
    register(TokenChunker())
    register(MarkdownHeadingChunker())
