"""The web settings: FINETUNE_* variables, the JWT secret (given, or made once and kept in the workspace)."""

from __future__ import annotations

from pathlib import Path

import pytest
from finetune_core.testing import open_test_workspace
from finetune_web import create_app
from finetune_web.settings import WebSettings
from kits.web_api import sign_up
from pydantic import ValidationError


def test_settings_come_from_finetune_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FINETUNE_WORKSPACE", str(tmp_path))
    monkeypatch.setenv("FINETUNE_LOCAL_MODE", "on")
    monkeypatch.setenv("FINETUNE_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("FINETUNE_ACCESS_TOKEN_LIFETIME_S", "60")
    monkeypatch.setenv("FINETUNE_REDIS_URL", "redis://127.0.0.1:6379/0")
    settings = WebSettings.from_env(access_token_lifetime_s=None)
    assert settings.workspace == tmp_path and settings.local_mode is True
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.access_token_lifetime_s == 60 and settings.redis_url == "redis://127.0.0.1:6379/0"
    assert WebSettings.from_env(local_mode=False).local_mode is False  # arguments win


def test_the_defaults_are_the_embedded_ones() -> None:
    settings = WebSettings()
    assert settings.workspace == Path("finetune-workspace") and settings.database_url is None
    assert settings.rate_limits is True and settings.local_mode is False and settings.redis_url is None
    assert (settings.access_token_lifetime_s, settings.refresh_token_lifetime_s) == (900, 7 * 24 * 3600)


def test_a_jwt_secret_shorter_than_32_bytes_is_refused() -> None:
    with pytest.raises(ValidationError, match="32 bytes"):
        WebSettings(jwt_secret="too-short")
    assert WebSettings(jwt_secret="x" * 32).jwt_secret == "x" * 32
    assert "x" * 32 not in repr(WebSettings(jwt_secret="x" * 32))


def test_without_a_secret_one_is_made_once_and_kept_in_the_workspace(tmp_path: Path) -> None:
    settings = WebSettings(workspace=tmp_path, rate_limits=False)
    with open_test_workspace(tmp_path) as workspace:
        first = create_app(settings, workspace=workspace).test_client()
        account = sign_up(first, "kept@example.com")
        second = create_app(settings, workspace=workspace).test_client()  # another worker, same workspace
        assert second.get("/api/users/me", headers=account.headers).status_code == 200
    secret = tmp_path / "web" / "secret.key"
    assert secret.stat().st_mode & 0o777 == 0o600 and len(secret.read_text().strip()) >= 32


def test_a_given_secret_signs_the_tokens(tmp_path: Path) -> None:
    with open_test_workspace(tmp_path) as workspace:
        signed = create_app(WebSettings(workspace=tmp_path, rate_limits=False, jwt_secret="s" * 40),
                            workspace=workspace).test_client()
        account = sign_up(signed, "given@example.com")
        other = create_app(WebSettings(workspace=tmp_path, rate_limits=False, jwt_secret="t" * 40),
                           workspace=workspace).test_client()
        assert other.get("/api/users/me", headers=account.headers).status_code == 401
    assert not (tmp_path / "web" / "secret.key").exists()


def test_jobs_run_in_process_unless_redis_is_configured(tmp_path: Path) -> None:
    from finetune_core.jobs.runner import InProcessRunner
    from finetune_web.current import EXTENSION

    embedded = create_app(WebSettings(workspace=tmp_path / "a", rate_limits=False))
    assert isinstance(embedded.extensions[EXTENSION].workspace.runner, InProcessRunner)
    embedded.extensions[EXTENSION].workspace.close()
    runner_module = pytest.importorskip("finetune_worker.runner")
    queued = create_app(WebSettings(workspace=tmp_path / "b", rate_limits=False, redis_url="redis://127.0.0.1:1/0"))
    assert isinstance(queued.extensions[EXTENSION].workspace.runner, runner_module.RqRunner)
    queued.extensions[EXTENSION].workspace.close()
