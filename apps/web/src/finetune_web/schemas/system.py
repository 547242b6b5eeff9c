"""System: health and the hardware probe."""

from __future__ import annotations

from typing import Literal

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


class HardwareReport(BaseModel):
    """finetuneflow §7; whatever else the local-GPU plugin reports is passed on."""

    model_config = ConfigDict(extra="allow")

    has_nvidia_smi: bool = False
    gpu_name: str | None = None
    gpu_count: int = 0
    vram_total_gb: float | None = None
    vram_free_gb: float | None = None
    driver_version: str | None = None
    cuda_runtime: str | None = None
    torch_version: str | None = None
    torch_cuda: str | None = None
    cuda_available: bool = False
    bnb_available: bool = False
    recommended_method: str | None = None
    recommendation_reason: str | None = None
    notes: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
