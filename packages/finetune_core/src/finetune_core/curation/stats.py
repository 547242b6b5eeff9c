"""Dataset statistics in the shape of `GET /projects/{id}/dataset/stats` (finetuneflow §6)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from finetune_core.curation.split import split_warnings
from finetune_core.domain import Example, ProjectConfig
from finetune_core.domain import SplitGroup as SplitGroup  # it lived here: still importable from here


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

    def merge(self, group: SplitGroup) -> None:
        if self.count == 0 or group.low < self.low:
            self.low = group.low
        if self.count == 0 or group.high > self.high:
            self.high = group.high
        self.count += group.count
        self.tokens += group.tokens

    def result(self) -> dict[str, Any]:
        average = round(self.tokens / self.count, 1) if self.count else 0.0
        return {"count": self.count, "avg_tokens": average, "min_tokens": self.low, "max_tokens": self.high}


def dataset_stats(examples: Iterable[Example], config: ProjectConfig | None = None) -> dict[str, Any]:
    """One pass, memory bounded by the number of splits and error codes.

    `by_split` counts valid examples only (what an export contains), always with
    `train` and `eval`, plus any other split a valid example is in (`preview`,
    `unassigned`); token figures are 0 for an empty split. `validation_errors`
    counts each code once per example, over all examples, most frequent first.
    `warnings` (given the project's `config`) says what the split left undone.
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
    return _shape(total, valid, splits, errors, config)


def stats_from_groups(groups: Iterable[SplitGroup], error_lists: Iterable[Sequence[str]],
                      config: ProjectConfig | None = None) -> dict[str, Any]:
    """The same statistics from per-(split, is_valid) aggregates and the examples' non-empty error lists.

    What the database computes in one GROUP BY: no example is loaded, which keeps the figures cheap enough
    to send beside every page of examples.
    """
    total = valid = 0
    splits: dict[str, _SplitTally] = {"train": _SplitTally(), "eval": _SplitTally()}
    for group in groups:
        total += group.count
        if group.is_valid and group.count:
            valid += group.count
            splits.setdefault(group.split, _SplitTally()).merge(group)
    errors: Counter[str] = Counter()
    for codes in error_lists:
        errors.update(set(codes))
    return _shape(total, valid, splits, errors, config)


def _shape(total: int, valid: int, splits: dict[str, _SplitTally], errors: Counter[str],
           config: ProjectConfig | None) -> dict[str, Any]:
    by_split = {name: tally.result() for name, tally in splits.items()}
    return {
        "total": total,
        "valid": valid,
        "invalid": total - valid,
        "by_split": by_split,
        "validation_errors": dict(sorted(errors.items(), key=lambda item: (-item[1], item[0]))),
        "warnings": split_warnings(by_split, config.train_eval_split, config.split_by) if config else [],
    }
