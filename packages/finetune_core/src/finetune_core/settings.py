"""Workspace settings: embedded defaults, overridable by arguments or FINETUNE_* variables."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from finetune_core.domain.billing import Plan

MB = 1024 * 1024
LIST_SETTINGS = frozenset({"transcript_languages", "allowed_model_hosts"})  # comma-separated in the environment
JSON_SETTINGS = frozenset({"plans"})


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    root: Path = Path("finetune-workspace")
    database_url: str | None = None  # None: SQLite in `root`; a SQLAlchemy URL selects PostgreSQL
    max_file_bytes: int = Field(50 * MB, gt=0)
    max_project_bytes: int = Field(500 * MB, gt=0)
    fetch_max_bytes: int = Field(20 * MB, gt=0)
    fetch_timeout_s: float = Field(30.0, gt=0)
    allow_loopback_urls: bool = False  # tests only: lets URL sources reach 127.0.0.1
    # model servers a web client may name although private or loopback ("host" or "host:port"), e.g. a shared
    # Ollama or vLLM; the library, the CLI and local mode may name any (see services/model_access.py)
    allowed_model_hosts: tuple[str, ...] = ()
    models_dir: Path | None = None  # model folders a web client may name as a base model; None: none
    transcript_languages: tuple[str, ...] = ("en", "fr")
    job_threads: int = Field(2, ge=1)
    # what agents and chats answer with when they name no model: the local-GPU plugin's embedded SmolLM2
    default_chat_model: str = "embedded"
    job_stale_after_s: float = Field(300.0, gt=0)  # a running job with no heartbeat for this long is abandoned
    # encrypts stored provider keys; the same on every host sharing a database. None: a random secret kept in
    # the workspace folder (secret.key), fine for one machine
    secret_key: str | None = Field(None, min_length=16, repr=False)
    # billing (services/billing.py): the payment gateway plugin, Stripe's keys, and where Checkout sends people
    # back; plans are the defaults of domain/plans.py unless FINETUNE_PLANS gives a JSON list of Plan objects
    payment_gateway: str = "stripe"
    stripe_secret_key: str | None = Field(None, repr=False)
    stripe_webhook_secret: str | None = Field(None, repr=False)
    stripe_api_base: str | None = None  # None: Stripe's own; a URL for stripe-mock or a test server
    public_app_url: str = "http://localhost:3000"  # Checkout's success and cancel pages, the portal's return page
    plans: list[Plan] | None = None
    # plan limits (402 PLAN_LIMIT_REACHED) apply when billing is set up (a Stripe secret key); on or off forces
    enforce_plan_limits: bool | None = None
    cron_secret: str | None = Field(None, min_length=16, repr=False)  # the bearer of /api/cron/*; None: refused

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Defaults < FINETUNE_* environment variables < explicit overrides."""
        env: dict[str, Any] = {}
        for name in cls.model_fields:
            value = os.environ.get(f"FINETUNE_{name.upper()}")
            if value is not None:
                env[name] = [part.strip() for part in value.split(",") if part.strip()] \
                    if name in LIST_SETTINGS else json.loads(value) if name in JSON_SETTINGS else value
        env.update({key: value for key, value in overrides.items() if value is not None})
        return cls.model_validate(env)
