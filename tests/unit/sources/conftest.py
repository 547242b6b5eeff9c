"""Fixtures of the sources tests; the builders live in kits.documents, the server in kits.local_server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from docx.document import Document as WordDocument
from kits.documents import build_docx, build_pdf
from kits.local_server import LocalServer, serve
from kits.samples import SAMPLES


@pytest.fixture
def make_pdf() -> Callable[..., bytes]:
    return build_pdf


@pytest.fixture
def make_docx() -> Callable[[Callable[[WordDocument], None]], bytes]:
    return build_docx


@pytest.fixture
def samples_dir() -> Path:
    return SAMPLES


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    with serve() as server:
        yield server
