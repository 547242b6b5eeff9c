"""System: health (ok, degraded, 503 unhealthy) at two paths, and the hardware probe of the local-GPU plugin."""

from __future__ import annotations

import sys
import types

import pytest
from finetune_core.plugins import Registry, registries
from finetune_web import __version__
from finetune_web.current import EXTENSION
from flask import Flask
from flask.testing import FlaskClient
from kits.web_api import Account, assert_error
from pydantic import BaseModel
from sqlalchemy import create_engine


@pytest.mark.parametrize("path", ["/health", "/api/health"])
def test_health_reports_db_redis_version_uptime_memory(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok" and body["db"] == "connected" and body["redis"] == "not_configured"
    assert body["version"] == __version__ and body["uptime"] >= 0 and body["memory"]["rss_mb"] > 0


def test_health_answers_503_when_the_database_is_down(app: Flask, client: FlaskClient, tmp_path) -> None:
    workspace = app.extensions[EXTENSION].workspace
    healthy_engine = workspace.engine
    workspace.engine = create_engine(f"sqlite:///{tmp_path}/missing-folder/db.sqlite")
    try:
        response = client.get("/health")
    finally:
        workspace.engine = healthy_engine
    assert response.status_code == 503
    assert response.get_json()["status"] == "unhealthy" and response.get_json()["db"] == "disconnected"


def test_health_is_degraded_when_redis_is_down(make_app) -> None:
    app = make_app(redis_url="redis://127.0.0.1:1/0")  # nothing listens on port 1
    body = app.test_client().get("/api/health").get_json()
    assert body["status"] == "degraded" and body["redis"] == "disconnected" and body["db"] == "connected"


class FakeReport(BaseModel):
    has_nvidia_smi: bool = False
    cuda_available: bool = False
    recommendation_reason: str = "No CUDA GPU detected. GPU fine-tuning not possible on this machine."
    warnings: list[str] = ["No NVIDIA GPU found. Consider using a cloud GPU instance."]
    compute_capability: str | None = None  # beyond finetuneflow's fields: passed on


def test_hardware_check_returns_the_plugins_probe(monkeypatch: pytest.MonkeyPatch, client: FlaskClient,
                                                  alice: Account) -> None:
    module = types.ModuleType("finetune_local_gpu.hardware")
    module.probe_hardware = FakeReport  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "finetune_local_gpu.hardware", module)
    body = client.get("/api/hardware/check", headers=alice.headers).get_json()
    assert body["has_nvidia_smi"] is False and body["gpu_name"] is None and body["recommended_method"] is None
    assert body["warnings"] == ["No NVIDIA GPU found. Consider using a cloud GPU instance."]
    assert "compute_capability" in body
    assert_error(client.get("/api/hardware/check"), 401)


def test_hardware_check_without_the_plugin_answers_501(monkeypatch: pytest.MonkeyPatch, client: FlaskClient,
                                                       alice: Account) -> None:
    monkeypatch.setattr(registries(), "model_tools", Registry("model tool"))  # as if no plugin registered any
    body = assert_error(client.get("/api/hardware/check", headers=alice.headers), 501, "PLUGIN_NOT_INSTALLED")
    assert "hardware probe" in body["detail"]
