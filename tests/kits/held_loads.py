"""Pieces of the pipeline-order tests: a loader that holds one document's load, a runner with no worker yet.

Shared by tests/integration/test_pipeline_order.py and tests/web/test_pipeline_order.py; the `held` fixture
reaches both through `pytest_plugins` in tests/conftest.py.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from finetune_core import Document, FileLoader, Job, RecordSet, SourceType, Workspace, hookimpl
from finetune_core.sources.base import LoadOptions
from finetune_core.sources.text import markdown_loader
from finetune_core.testing import made_up_text
from kits.samples import SAMPLE_FILES

WAIT_S = 60.0  # generous: the machine may be busy; every wait below ends as soon as its condition holds
HELD = "second.md"


class HeldLoad:
    """A Markdown loader that stops on HELD until released; `entered` tells that the ingest job got there."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def load(self, data: bytes, options: LoadOptions) -> Document | RecordSet:
        if options.filename == HELD:
            self.entered.set()
            if not self.release.wait(WAIT_S):
                raise RuntimeError("the test never released the held load")
        return markdown_loader.load(data, options)

    @hookimpl
    def finetune_register_sources(self, register: Callable[[FileLoader], None]) -> None:
        register(FileLoader(name="held-markdown", source_type=SourceType.MARKDOWN, mime_types=("text/markdown",),
                            load=self.load, priority=10))


@pytest.fixture
def held(register_finetune_plugin: Callable[..., str]) -> HeldLoad:
    """A HeldLoad registered as a loader plugin for the test."""
    plugin = HeldLoad()
    register_finetune_plugin(plugin, name="held-markdown-loader")
    return plugin


class QueueOnly:
    """A runner that keeps what it is given and runs nothing: a queue no worker has reached yet."""

    def __init__(self) -> None:
        self.submitted: list[str] = []

    def submit(self, workspace: Workspace, job: Job) -> None:
        self.submitted.append(job.id)

    def shutdown(self, wait: bool = True) -> None:
        return None


def four_documents() -> list[tuple[str, bytes]]:
    """A PDF, the held Markdown file, a DOCX and another Markdown file, in upload order."""
    second = "# Second notes\n\n" + made_up_text(7) + "\n" + made_up_text(8)
    return [("handbook.pdf", SAMPLE_FILES["pdf"].read_bytes()), (HELD, second.encode()),
            ("care.docx", SAMPLE_FILES["docx"].read_bytes()), ("guide.md", SAMPLE_FILES["markdown"].read_bytes())]
