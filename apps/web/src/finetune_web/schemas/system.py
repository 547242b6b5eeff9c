"""System: health and the hardware probe."""

from __future__ import annotations

from typing import Literal

from finetune_core import model_tools
from pydantic import BaseModel, ConfigDict, Field


class Memory(BaseModel):
    rss_mb: float | None = Field(description="resident memory of this server process")


class Health(BaseModel):
    status: Literal["ok", "degraded", "unhealthy"]
    db: Literal["connected", "disconnected"]
    redis: Literal["connected", "disconnected", "not_configured"]
    version: str
    uptime: float = Field(description="seconds since this server process started")
    memory: Memory


class HardwareReport(model_tools.HardwareReport):
    """finetuneflow §7; whatever else the local-GPU plugin reports is passed on."""

    model_config = ConfigDict(extra="allow")
