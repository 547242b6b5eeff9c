"""Models every family shares: the error body and plain acknowledgements."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


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
