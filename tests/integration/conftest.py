"""Fixtures of the integration tests (the throwaway PostgreSQL server is in tests/conftest.py, shared)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def samples_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "samples"
