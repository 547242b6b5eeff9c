"""Fixtures of the local-GPU plugin tests."""

from __future__ import annotations

from pathlib import Path

import pytest

# --- local trainer and export-model tests (test_train_local.py, test_export_model.py) ----------------------------
from kits.tiny_model import PLAIN_CHAT_TEMPLATE, build_tiny_model


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random tiny Llama and its tokenizer (chat template with generation markers), usable as `base_model`."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_plain_template_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same tiny model with a chat template without generation markers (labels built by the trainer)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama-plain"), chat_template=PLAIN_CHAT_TEMPLATE)
