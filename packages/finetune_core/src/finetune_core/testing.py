"""Helpers for testing finetune and its plugins; loaded as a pytest plugin (`finetune`).

    def test_my_loader(finetune_workspace, register_finetune_plugin):
        register_finetune_plugin(my_plugin_module)
        ...
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import pytest

from finetune_core.jobs.runner import InlineRunner, JobRunner
from finetune_core.plugins import invalidate, load_plugins, pm
from finetune_core.workspace import Workspace


@contextmanager
def registered_plugin(plugin: object, name: str | None = None) -> Iterator[str]:
    """Register a plugin object (module or instance with hookimpls) for the duration of the block."""
    load_plugins()
    registered = pm.register(plugin, name=name)
    assert registered is not None, f"plugin {name or plugin!r} is already registered"
    invalidate()
    try:
        yield registered
    finally:
        pm.unregister(name=registered)
        invalidate()


REQUIRE_ENV = "FINETUNE_TESTS_REQUIRE"


def unavailable(service: str, reason: str) -> NoReturn:
    """Skip a test whose outside service (redis, postgres...) cannot start here; fail instead where
    FINETUNE_TESTS_REQUIRE names it (CI sets it, so a missing server never passes for a skipped test)."""
    required = {name.strip() for name in os.environ.get(REQUIRE_ENV, "").split(",") if name.strip()}
    if service in required:
        pytest.fail(f"{reason}, and {REQUIRE_ENV} requires {service}")
    pytest.skip(reason)


_SYLLABLES = ("ka", "lo", "mi", "ser", "tan", "vo", "ru", "pe", "dal", "quin", "zo", "fen", "bri", "gol", "hu",
              "nex", "ta", "wim", "jor", "cel")


def made_up_text(seed: int, sentences: int = 8) -> str:
    """Sentences of made-up words, distinct per seed, so examples drawn from two seeds are never near-duplicates."""
    rng = random.Random(seed)
    out = []
    for _ in range(sentences):
        words = ["".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))) for _ in range(rng.randint(9, 13))]
        out.append(" ".join(words).capitalize() + ".")
    return " ".join(out) + "\n"


def open_test_workspace(root: Path, *, runner: JobRunner | None = None, **settings: Any) -> Workspace:
    """A workspace whose jobs run inline unless told otherwise, and whose URL fetches may reach 127.0.0.1."""
    values: dict[str, Any] = {"allow_loopback_urls": True, **settings}
    return Workspace.open(root, runner=runner or InlineRunner(), **values)


@pytest.fixture
def finetune_workspace(tmp_path: Path) -> Iterator[Workspace]:
    workspace = open_test_workspace(tmp_path / "workspace")
    try:
        yield workspace
    finally:
        workspace.close()


@pytest.fixture
def register_finetune_plugin() -> Iterator[Callable[..., str]]:
    """Register throwaway plugins in a test; all are unregistered afterwards."""
    names: list[str] = []

    def register(plugin: object, name: str | None = None) -> str:
        load_plugins()
        registered = pm.register(plugin, name=name)
        assert registered is not None
        names.append(registered)
        invalidate()
        return registered

    yield register
    for name in names:
        pm.unregister(name=name)
    invalidate()
