"""Models every family shares: the error body and plain acknowledgements; the bounds of free-form input."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

ID_MAX = 64  # characters of an id given as a filter or a reference
DESCRIPTION_MAX = 10_000  # characters of a description (some families keep their own 5000)
PROMPT_MAX = 20_000  # characters of a system prompt
OBJECT_MAX_KEYS = 100  # keys of a free-form object (hyperparameters, options, metadata)
OBJECT_MAX_BYTES = 16 * 1024  # ... and its size as JSON


def json_size(value: Any) -> int:
    """The bytes of `value` (JSON data or a model) as compact JSON; a ValueError for NaN or an infinity."""
    if isinstance(value, BaseModel):
        value = value.model_dump()  # not mode="json": that would write a NaN as null
    try:
        return len(json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"), default=str).encode())
    except ValueError:
        raise ValueError("numbers must be finite (no NaN or Infinity)") from None


def at_most_bytes(max_bytes: int) -> AfterValidator:
    """A validator refusing a value larger than `max_bytes` as JSON."""

    def check(value: Any) -> Any:
        if json_size(value) > max_bytes:
            raise ValueError(f"at most {max_bytes} bytes as JSON")
        return value

    return AfterValidator(check)


# a free-form object a trainer or a plugin reads: kept as given, so bounded in keys and in size
JsonObject = Annotated[dict[str, Any], Field(max_length=OBJECT_MAX_KEYS), at_most_bytes(OBJECT_MAX_BYTES)]


class FieldError(BaseModel):
    """One entry of `context.errors` in a 422: which field, where it was read, what is wrong."""

    field: str | None = Field(description="dotted path in the body or the name of the argument; null: the whole body")
    location: str = Field(description="body, query, path or headers")
    message: str


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer."""

    detail: str = Field(description="human-readable text")
    error_code: str = Field(description="UPPER_SNAKE code a client can branch on")
    context: dict[str, Any] = Field(default_factory=dict,
                                    description="details: for VALIDATION_ERROR, `errors`, a list of FieldError")


class Detail(BaseModel):
    detail: str
