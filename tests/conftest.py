"""Shared fixtures: a throwaway PostgreSQL server (skipped where none can start) for every folder's tests;
the workspace fixtures come from finetune_core.testing (a pytest plugin), and the fixtures that live in a kit
(tests/kits) through `pytest_plugins` below."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before anything imports huggingface_hub
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from finetune_core.testing import open_test_workspace, unavailable
from finetune_core.workspace import Workspace
from kits.fake_stripe import FakeStripe, serve_stripe

pytest_plugins = ["kits.held_loads"]  # `held`: the pipeline-order tests of tests/integration and tests/web


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _add_server_binaries_to_path() -> None:
    """Debian keeps initdb and pg_ctl in /usr/lib/postgresql/VERSION/bin, off the PATH."""
    if shutil.which("initdb") is None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if found:
            os.environ["PATH"] = f"{found[-1].parent}{os.pathsep}{os.environ.get('PATH', '')}"


def _as_postgres(*args: str) -> list[str]:
    # PostgreSQL refuses to run as root: run it as the system's `postgres` user when we are root
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Start a cluster on 127.0.0.1; yields a SQLAlchemy URL prefix `postgresql+psycopg://...:PORT/`."""
    _add_server_binaries_to_path()
    if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
        unavailable("postgres", "PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        unavailable("postgres", "psycopg is not installed")
    # not under pytest's tmp dirs: those are private to root, and the server runs as `postgres`
    data = Path(tempfile.mkdtemp(prefix="finetune-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    port = _free_port()
    subprocess.run(_as_postgres("initdb", "-D", str(data), "-A", "trust", "-U", "postgres"), check=True,
                   capture_output=True)
    subprocess.run(
        _as_postgres("pg_ctl", "-D", str(data), "-w", "-l", str(data / "server.log"), "-o",
                     f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off", "start"),
        check=True, capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/"
    finally:
        subprocess.run(_as_postgres("pg_ctl", "-D", str(data), "-m", "immediate", "stop"), capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A fresh, empty database for one test."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    dsn = postgres_server.replace("postgresql+psycopg://", "postgresql://") + "postgres"
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return postgres_server + name



@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    """A fake Stripe API on 127.0.0.1 (kits/fake_stripe.py): `open_test_workspace(root, **fake_stripe.settings())`."""
    with serve_stripe() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def workspace_on_each_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Workspace]:
    """A test workspace (jobs inline) on SQLite, then on PostgreSQL."""
    database_url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    opened = open_test_workspace(tmp_path / "ws", database_url=database_url)
    try:
        yield opened
    finally:
        opened.close()
