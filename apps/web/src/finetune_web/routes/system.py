"""System: `GET /health` ≡ `/api/health`, and the hardware probe `GET /api/hardware/check`."""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Any

from finetune_core.model_tools import hardware_probe
from finetune_core.services import health
from flask.views import MethodView

from finetune_web.auth import public
from finetune_web.current import state, workspace
from finetune_web.openapi import ApiBlueprint
from finetune_web.optional import model_tool
from finetune_web.redis_client import connect
from finetune_web.schemas.bridge import schema_for
from finetune_web.schemas.system import HardwareReport, Health
from finetune_web.version import __version__

blp = ApiBlueprint("system", __name__, description="Health of this server and the hardware it could train on")


def _rss_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # the peak, where /proc is missing
    return round(peak_kb / 1024, 1) if peak_kb else None


def _redis_status(url: str | None) -> str:
    if url is None:
        return "not_configured"
    try:
        connect(url).ping()
    except Exception:  # down, refused, unknown host: all the same to a health check
        return "disconnected"
    return "connected"


def health_report() -> dict[str, Any]:
    db_ok = health.database_ok(workspace())
    redis = _redis_status(state().settings.redis_url)
    status = "unhealthy" if not db_ok else "degraded" if redis == "disconnected" else "ok"
    return {"status": status, "db": "connected" if db_ok else "disconnected", "redis": redis,
            "version": __version__, "uptime": round(time.monotonic() - state().started_at, 3),
            "memory": {"rss_mb": _rss_mb()}}


@blp.route("/health", endpoint="health")
@blp.route("/api/health", endpoint="api_health")
class HealthView(MethodView):
    @public
    @blp.response(200, schema_for(Health))
    @blp.alt_response(503, schema=schema_for(Health), description="the database cannot be reached")
    def get(self) -> tuple[dict[str, Any], int]:
        """Health: database, Redis, version, uptime and memory; 503 when the database is down"""
        report = health_report()
        return report, 503 if report["status"] == "unhealthy" else 200


@blp.route("/api/hardware/check")
class HardwareCheck(MethodView):
    @blp.response(200, schema_for(HardwareReport))
    def get(self) -> Any:
        """Probe this machine (nvidia-smi, torch.cuda, bitsandbytes) and recommend a training method"""
        return model_tool(hardware_probe, "the hardware probe").probe_hardware()
