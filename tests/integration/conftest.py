"""Fixtures of the integration tests (the throwaway PostgreSQL server is in tests/conftest.py, shared)."""

from __future__ import annotations

from pathlib import Path

import pytest
from kits.samples import SAMPLES


@pytest.fixture
def samples_dir() -> Path:
    return SAMPLES
