"""Usage accounting: requests, retries, tokens and an estimated cost per result.

`GenerationResult.usage` of every provider result holds the keys below (floats, as the core
stores them); the job total is their sum (`sum_usage`):

    requests        HTTP requests sent for this result, retries included
    retries         of those, the repeated ones
    rate_limited    answers that were 429
    input_tokens    prompt tokens, as the API reported them (0 when it reports none)
    output_tokens   completion tokens, likewise
    cost_usd        input/output tokens x the model's price; absent when the model has no price

Prices are USD per 1M tokens, for a few well-known models, as published by the providers when
this table was written: treat the cost as an estimate and override the table with
`settings.extra["prices"] = {"model-name": {"input": 0.15, "output": 0.6}}` (or `[0.15, 0.6]`).
A model matches its own name or the longest listed name it starts with followed by `-`, `:` or
`@` (`gpt-4o-mini-2024-07-18` -> `gpt-4o-mini`; `mistral-small-latest` -> `mistral-small`).
Local models (Ollama, vLLM, llama.cpp) have no price unless you give one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from finetune_core.errors import GenerationError

USAGE_KEYS = ("requests", "retries", "rate_limited", "input_tokens", "output_tokens", "cost_usd")


@dataclass(frozen=True)
class Price:
    """USD per 1M input and output tokens."""

    input_per_m: float
    output_per_m: float

    def cost(self, input_tokens: float, output_tokens: float) -> float:
        return (input_tokens * self.input_per_m + output_tokens * self.output_per_m) / 1_000_000


DEFAULT_PRICES: dict[str, Price] = {
    # OpenAI
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "gpt-5": Price(1.25, 10.00),
    "gpt-5-mini": Price(0.25, 2.00),
    "gpt-5-nano": Price(0.05, 0.40),
    "o3-mini": Price(1.10, 4.40),
    "o4-mini": Price(1.10, 4.40),
    # Anthropic
    "claude-3-5-haiku": Price(0.80, 4.00),
    "claude-haiku-4-5": Price(1.00, 5.00),
    "claude-3-7-sonnet": Price(3.00, 15.00),
    "claude-sonnet-4": Price(3.00, 15.00),
    "claude-sonnet-4-5": Price(3.00, 15.00),
    "claude-opus-4": Price(15.00, 75.00),
    "claude-opus-4-1": Price(15.00, 75.00),
    "claude-opus-4-5": Price(5.00, 25.00),
    # Mistral
    "mistral-small": Price(0.10, 0.30),
    "mistral-medium": Price(0.40, 2.00),
    "mistral-large": Price(2.00, 6.00),
    "open-mistral-nemo": Price(0.15, 0.15),
    "ministral-8b": Price(0.10, 0.10),
    "ministral-3b": Price(0.04, 0.04),
}

_BOUNDARIES = ("-", ":", "@")


def _price_from(name: str, value: Any) -> Price:
    try:
        if isinstance(value, Price):
            return value
        if isinstance(value, Mapping):
            return Price(float(value["input"]), float(value["output"]))
        if isinstance(value, list | tuple) and len(value) == 2:
            return Price(float(value[0]), float(value[1]))
    except (KeyError, TypeError, ValueError):
        pass
    raise GenerationError(
        f"the price of '{name}' must be {{\"input\": USD per 1M tokens, \"output\": USD per 1M tokens}} "
        f"or [input, output], not {value!r}"
    )


class PriceTable:
    """The default prices, overridden or extended by `overrides` (model name -> price)."""

    def __init__(self, overrides: Mapping[str, Any] | None = None) -> None:
        self.prices = dict(DEFAULT_PRICES)
        for name, value in (overrides or {}).items():
            self.prices[str(name)] = _price_from(str(name), value)

    def lookup(self, model: str | None) -> Price | None:
        if not model:
            return None
        if model in self.prices:
            return self.prices[model]
        best: str | None = None
        for name in self.prices:
            if model.startswith(name) and model[len(name)] in _BOUNDARIES and (best is None or len(name) > len(best)):
                best = name
        return self.prices[best] if best is not None else None


@dataclass
class UsageMeter:
    """Counts for one result (or, added up, for a run)."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def add_tokens(self, input_tokens: int | None, output_tokens: int | None) -> None:
        self.input_tokens += input_tokens or 0
        self.output_tokens += output_tokens or 0

    def as_dict(self, price: Price | None) -> dict[str, float]:
        usage: dict[str, float] = {
            "requests": float(self.requests),
            "retries": float(self.retries),
            "rate_limited": float(self.rate_limited),
            "input_tokens": float(self.input_tokens),
            "output_tokens": float(self.output_tokens),
        }
        if price is not None:
            usage["cost_usd"] = round(price.cost(self.input_tokens, self.output_tokens), 8)
        return usage


def sum_usage(usages: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Key-wise sum of per-result usage dicts (what the core would store as the job's usage)."""
    total: dict[str, float] = {}
    for usage in usages:
        for key, value in usage.items():
            total[key] = total.get(key, 0.0) + float(value)
    if "cost_usd" in total:
        total["cost_usd"] = round(total["cost_usd"], 6)
    return total
