"""Built-in sources plugin, discovered through the `finetune` entry point like any other."""

from __future__ import annotations

from finetune_core.hookspecs import Register, hookimpl
from finetune_core.sources.docx import docx_loader
from finetune_core.sources.html import html_loader
from finetune_core.sources.pdf import pdf_loader
from finetune_core.sources.tabular import csv_loader, json_loader, jsonl_loader
from finetune_core.sources.text import markdown_loader, text_loader
from finetune_core.sources.web import web_loader
from finetune_core.sources.youtube import youtube_loader

LOADERS = (
    pdf_loader,
    docx_loader,
    text_loader,
    markdown_loader,
    html_loader,
    csv_loader,
    jsonl_loader,
    json_loader,
    web_loader,
    youtube_loader,
)


@hookimpl
def finetune_register_sources(register: Register) -> None:
    """Register the file loaders (documents and datasets) and the URL loaders (web, YouTube)."""
    for loader in LOADERS:
        register(loader)
