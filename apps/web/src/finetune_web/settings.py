"""The web app's settings: embedded defaults, overridden by FINETUNE_* variables, then by arguments.

The workspace's own settings (file limits, job threads, secret key...) are read by the core from
the same FINETUNE_* variables when the app opens its workspace.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

OFF = {"0", "off", "false", "no"}
ON = {"1", "on", "true", "yes"}
MIN_JWT_SECRET_BYTES = 32


def _flag(value: Any) -> Any:
    """`FINETUNE_RATE_LIMITS=off` and friends: on/off, true/false, 1/0, yes/no."""
    if isinstance(value, str) and value.strip().lower() in OFF | ON:
        return value.strip().lower() in ON
    return value


class WebSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workspace: Path = Path("finetune-workspace")  # FINETUNE_WORKSPACE, as for the CLI
    database_url: str | None = None  # None: SQLite in the workspace
    # signs the tokens (HS256); None: a random one kept in the workspace (web/secret.key), shared by every
    # worker of this machine; set it when several hosts serve one database
    jwt_secret: str | None = Field(None, repr=False)
    access_token_lifetime_s: int = Field(15 * 60, gt=0)
    refresh_token_lifetime_s: int = Field(7 * 24 * 3600, gt=0)  # a session's lifetime, renewed by each refresh
    local_mode: bool = False  # finetuneflow's local app: no authentication, one implicit local user
    rate_limits: bool = True  # FINETUNE_RATE_LIMITS=off turns every limit off (test suites, benchmarks)
    # rule name -> "COUNT/WINDOW" (window: 30s, 1m, 15m, 1h, 1d), over the defaults of finetune_web.ratelimit;
    # from FINETUNE_RATE_LIMIT_<RULE>=..., e.g. FINETUNE_RATE_LIMIT_LOGIN=10/15m
    rate_limit_rules: dict[str, str] = Field(default_factory=dict)
    redis_url: str | None = None  # jobs go to RQ workers and rate limits are shared between processes
    worker_token: str | None = Field(None, repr=False)  # the bearer that workers present on worker-only routes
    cors_origins: tuple[str, ...] = ()  # origins allowed to call the API from a browser; "*" for any
    proxy_hops: int = Field(0, ge=0)  # reverse proxies in front whose X-Forwarded-For is trusted
    # the largest request body (JSON) a route takes, 413 beyond; uploads and bulk pairs have limits of their own
    max_json_bytes: int = Field(1024 * 1024, gt=0)
    # a comment line on an event stream quiet for this long, so proxies keep it open; None: 15 s (sse.HEARTBEAT_S)
    stream_keepalive_s: float | None = Field(None, gt=0)
    # where the /api/docs page loads Swagger UI from; None: the copy the app serves itself (works offline)
    swagger_ui_url: str | None = None

    @field_validator("jwt_secret")
    @classmethod
    def _long_enough(cls, value: str | None) -> str | None:
        if value is not None and len(value.encode()) < MIN_JWT_SECRET_BYTES:
            raise ValueError(f"the JWT secret needs at least {MIN_JWT_SECRET_BYTES} bytes")
        return value

    @field_validator("local_mode", "rate_limits", mode="before")
    @classmethod
    def _on_off(cls, value: Any) -> Any:
        return _flag(value)

    @classmethod
    def from_env(cls, **overrides: Any) -> WebSettings:
        """Defaults < FINETUNE_* environment variables < explicit overrides (None means not given)."""
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            raw = os.environ.get(f"FINETUNE_{name.upper()}")
            if raw is not None and name != "rate_limit_rules":
                values[name] = tuple(part.strip() for part in raw.split(",") if part.strip()) \
                    if name == "cors_origins" else raw
        rules = {key.removeprefix("FINETUNE_RATE_LIMIT_").lower(): value for key, value in os.environ.items()
                 if key.startswith("FINETUNE_RATE_LIMIT_")}
        if rules:
            values["rate_limit_rules"] = rules
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls.model_validate(values)
