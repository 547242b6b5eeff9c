"""The options every hosted trainer understands, and the check of a trainer's hyperparameters.

Both are checked when a fine-tuning is created (`Trainer.check`), so a typo or a value the API
would refuse fails with `InvalidInputError` before anything is stored or uploaded.

The option `method` is the training objective: `sft` (supervised, on the `messages` export; the
default) or `dpo` (direct preference optimization, on the `openai-preference` export). It is not
the request's own `method`, which says how a trainer trains (Together's `lora` / `full`).
A trainer adds options of its own by subclassing `HostedOptions` (Fireworks: `account_id`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from finetune_core.errors import InvalidInputError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from finetune_providers._retry import RetryPolicy

DEFAULT_POLL_INTERVAL_S = 10.0
TRAINING_METHODS = ("sft", "dpo")
TrainingMethod = Literal["sft", "dpo"]


class HostedOptions(BaseModel):
    """A hosted fine-tuning's `options`; unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = Field(None, min_length=1)  # None: the provider's public API
    poll_interval_s: float = Field(DEFAULT_POLL_INTERVAL_S, gt=0, le=3600)
    suffix: str | None = Field(None, min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")  # added to the model's name
    max_retries: int = Field(6, ge=0, le=100)  # retries of one request after its first attempt
    timeout_s: float = Field(60.0, gt=0, le=3600)  # per network operation (connect, read, write)
    retry_initial_s: float = Field(0.5, ge=0)
    retry_max_s: float = Field(30.0, ge=0)
    max_retry_after_s: float = Field(120.0, ge=0)  # a longer Retry-After is cut to this
    method: TrainingMethod = "sft"  # the training objective: supervised, or preference pairs (DPO)

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(max_attempts=self.max_retries + 1, initial_s=self.retry_initial_s,
                           max_s=self.retry_max_s, max_retry_after_s=self.max_retry_after_s)


def _problems(exc: ValidationError) -> str:
    """One clause per field: "n_epochs: Input should be 'auto' or greater than or equal to 1"."""
    by_field: dict[str, list[str]] = {}
    for error in exc.errors():
        by_field.setdefault(str(error["loc"][0]) if error["loc"] else "value", []).append(error["msg"])
    clauses = []
    for name, messages in by_field.items():
        rest = [message.removeprefix("Input should be ") for message in messages[1:]]
        clauses.append(f"{name}: {' or '.join([messages[0], *rest])}")
    return "; ".join(clauses)


def parse_options(label: str, options: Mapping[str, Any], *, suffix_max_chars: int,
                  model: type[HostedOptions] = HostedOptions) -> HostedOptions:
    """`options` checked (by `model`, a trainer's own options), or InvalidInputError naming what is wrong."""
    unknown = sorted(set(options) - set(model.model_fields))
    if unknown:
        accepted = ", ".join(model.model_fields)
        raise InvalidInputError(f"the {label} trainer has no option {', '.join(map(repr, unknown))} "
                                f"(accepted: {accepted})", options=unknown)
    try:
        parsed = model.model_validate(dict(options))
    except ValidationError as exc:
        raise InvalidInputError(f"invalid options for the {label} trainer: {_problems(exc)}") from None
    if parsed.suffix is not None and len(parsed.suffix) > suffix_max_chars:
        raise InvalidInputError(f"the {label} suffix may have at most {suffix_max_chars} characters "
                                f"(this one has {len(parsed.suffix)})", suffix=parsed.suffix)
    return parsed


def parse_hyperparameters(label: str, model: type[BaseModel], values: Mapping[str, Any], *,
                          aliases: Mapping[str, str]) -> dict[str, Any]:
    """`values` with aliases resolved (`epochs` -> `n_epochs`), checked by `model`; the ones given, by API name."""
    resolved: dict[str, Any] = {}
    for name, value in values.items():
        target = aliases.get(name, name)
        if target in resolved:
            raise InvalidInputError(f"the {label} hyperparameter '{target}' is given twice "
                                    f"(as '{target}' and as one of its aliases)", hyperparameter=target)
        resolved[target] = value
    unknown = sorted(set(resolved) - set(model.model_fields))
    if unknown:
        accepted = ", ".join(sorted({*model.model_fields, *aliases}))
        raise InvalidInputError(f"the {label} trainer has no hyperparameter {', '.join(map(repr, unknown))} "
                                f"(accepted: {accepted})", hyperparameters=unknown)
    try:
        checked = model.model_validate(resolved)
    except ValidationError as exc:
        raise InvalidInputError(f"invalid hyperparameters for the {label} trainer: {_problems(exc)}") from None
    return checked.model_dump(exclude_unset=True)
