"""Fixtures for the worker tests: a throwaway redis-server, `finetune worker` subprocesses, PostgreSQL."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest
from worker_testkit import HERE, Workers, running_redis


def _load_integration_fixtures() -> object:
    """tests/integration/conftest.py, loaded under its own name: its PostgreSQL fixtures serve here too."""
    spec = importlib.util.spec_from_file_location("finetune_integration_conftest", HERE.parent / "integration" /
                                                  "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_integration = _load_integration_fixtures()
postgres_server = _integration.postgres_server  # type: ignore[attr-defined]
postgres_url = _integration.postgres_url  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server on a free loopback port, nothing written to disk; yields its URL."""
    with running_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    """The session's Redis, emptied for this test."""
    import redis

    client = redis.Redis.from_url(redis_server)
    client.flushall()
    client.close()
    yield redis_server


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    logs = tmp_path / "logs"
    logs.mkdir()
    started = Workers(logs)
    try:
        yield started
    finally:
        started.close()
