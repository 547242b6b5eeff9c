"""Dataset statistics in the shape of `GET /projects/{id}/dataset/stats` (finetuneflow §6)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from finetune_core.domain import Example


class _SplitTally:
    __slots__ = ("count", "high", "low", "tokens")

    def __init__(self) -> None:
        self.count = 0
        self.tokens = 0
        self.low = 0
        self.high = 0

    def add(self, tokens: int) -> None:
        if self.count == 0 or tokens < self.low:
            self.low = tokens
        if self.count == 0 or tokens > self.high:
            self.high = tokens
        self.count += 1
        self.tokens += tokens

    def result(self) -> dict[str, Any]:
        average = round(self.tokens / self.count, 1) if self.count else 0.0
        return {"count": self.count, "avg_tokens": average, "min_tokens": self.low, "max_tokens": self.high}


def dataset_stats(examples: Iterable[Example]) -> dict[str, Any]:
    """One pass, memory bounded by the number of splits and error codes.

    `by_split` counts valid examples only (what an export contains), always with
    `train` and `eval`, plus any other split a valid example is in (`preview`,
    `unassigned`); token figures are 0 for an empty split. `validation_errors`
    counts each code once per example, over all examples, most frequent first.
    """
    total = valid = 0
    splits: dict[str, _SplitTally] = {"train": _SplitTally(), "eval": _SplitTally()}
    errors: Counter[str] = Counter()
    for example in examples:
        total += 1
        errors.update(set(example.validation_errors))
        if example.is_valid:
            valid += 1
            splits.setdefault(example.split, _SplitTally()).add(example.token_count)
    return {
        "total": total,
        "valid": valid,
        "invalid": total - valid,
        "by_split": {name: tally.result() for name, tally in splits.items()},
        "validation_errors": dict(sorted(errors.items(), key=lambda item: (-item[1], item[0]))),
    }
