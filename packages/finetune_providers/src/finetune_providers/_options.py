"""Provider options read from `GeneratorSettings.extra` (the core's settings keep the common ones)."""

from __future__ import annotations

from typing import Any

from finetune_core.errors import GenerationError
from finetune_core.generation.base import GeneratorSettings
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from finetune_providers._retry import RetryPolicy


class ProviderOptions(BaseModel):
    """`settings.extra` keys understood by every provider generator (unknown keys are ignored)."""

    model_config = ConfigDict(extra="ignore")

    json_mode: bool | None = None  # response_format={"type": "json_object"}; None: the provider's default
    max_tokens: int | None = Field(None, ge=1)  # cap on the completion; Anthropic needs one (default 4096)
    max_retries: int = Field(6, ge=0, le=100)  # retries after the first attempt
    retry_initial_s: float = Field(0.5, ge=0)
    retry_max_s: float = Field(30.0, ge=0)
    max_retry_after_s: float = Field(120.0, ge=0)  # a longer Retry-After is cut to this
    prices: dict[str, Any] | None = None  # model -> {"input": USD/1M, "output": USD/1M}
    headers: dict[str, str] = Field(default_factory=dict)  # extra HTTP headers (e.g. OpenRouter's)
    queue_factor: float = Field(2.0, ge=1.0, le=16.0)  # requests started per HTTP slot (see ProviderGenerator)
    auto_start: int = Field(4, ge=1, le=1024)  # concurrency `auto`: the level it starts at
    auto_max: int = Field(256, ge=1, le=1024)  # concurrency `auto`: the level it never goes beyond
    # None: sent, except to models that refuse it (OpenAI o-series and gpt-5+; Anthropic: only when True)
    send_temperature: bool | None = None

    @classmethod
    def from_settings(cls, settings: GeneratorSettings) -> ProviderOptions:
        try:
            return cls.model_validate(settings.extra)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
                                 for error in exc.errors())
            raise GenerationError(f"invalid generator settings: {problems}") from None

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(max_attempts=self.max_retries + 1, initial_s=self.retry_initial_s,
                           max_s=self.retry_max_s, max_retry_after_s=self.max_retry_after_s)
