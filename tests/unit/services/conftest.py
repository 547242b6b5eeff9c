"""Fixtures of the service tests: a fake workspace port (kits.fake_workspace), cheap password hashing."""

from __future__ import annotations

from pathlib import Path

import pytest
from finetune_core import passwords
from kits.fake_workspace import FakeWorkspace


@pytest.fixture
def workspace(tmp_path: Path) -> FakeWorkspace:
    return FakeWorkspace(tmp_path)


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real scrypt at a low cost: these tests are about the services' rules, not the hash's strength."""
    monkeypatch.setattr(passwords, "DEFAULT_COST", passwords.ScryptCost(n=2**10, r=8, p=1))
