"""Fixtures of the web tests: an app over a temporary workspace (jobs run inline), its test client, accounts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from finetune_core import passwords
from finetune_core.testing import open_test_workspace
from finetune_core.workspace import Workspace
from finetune_web import create_app
from finetune_web.settings import WebSettings
from flask import Flask
from flask.testing import FlaskClient
from kits.chat_completions import ChatServer
from kits.scripted_trainer import Script, ScriptedPlugin
from kits.web_api import Account, sign_up


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real scrypt at a low cost, so signing up many users stays fast (one test checks the real default)."""
    monkeypatch.setattr(passwords, "DEFAULT_COST", passwords.ScryptCost(n=2**10, r=8, p=1))


@pytest.fixture
def web_settings(tmp_path: Path) -> WebSettings:
    return WebSettings(workspace=tmp_path / "workspace", rate_limits=False)


@pytest.fixture
def workspace(web_settings: WebSettings) -> Iterator[Workspace]:
    opened = open_test_workspace(web_settings.workspace)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def make_app(workspace: Workspace, web_settings: WebSettings) -> Callable[..., Flask]:
    """An app over the test workspace, with some settings changed: `make_app(local_mode=True)`."""

    def make(**changes: Any) -> Flask:
        return create_app(web_settings.model_copy(update=changes), workspace=workspace)

    return make


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def alice(client: FlaskClient) -> Account:
    return sign_up(client, "alice@example.com", name="Alice", trigramme="ALI")


@pytest.fixture
def bob(client: FlaskClient) -> Account:
    return sign_up(client, "bob@example.com", name="Bob")


@pytest.fixture
def scripted(register_finetune_plugin: Callable[..., str]) -> type[Script]:
    """The `scripted` trainer (kits.scripted_trainer), registered for the test; steer it through the returned Script."""
    Script.reset()
    register_finetune_plugin(ScriptedPlugin(), name="web-scripted-trainer")
    return Script


@pytest.fixture
def chat_server() -> Iterator[ChatServer]:
    """A small Chat Completions server on 127.0.0.1 (`.url`, `.requests`)."""
    server = ChatServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()
