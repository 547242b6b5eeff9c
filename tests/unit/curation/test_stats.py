from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from typing import Any

from finetune_core.curation.stats import dataset_stats
from finetune_core.domain import Example, Message

MESSAGES = [Message(role="user", content="q"), Message(role="assistant", content="a")]


def example(split: str, tokens: int, errors: list[str] | None = None) -> Example:
    return Example(
        project_id="p",
        messages=MESSAGES,
        split=split,  # type: ignore[arg-type]
        token_count=tokens,
        is_valid=not errors,
        validation_errors=errors or [],
    )


def test_shape_and_numbers() -> None:
    examples = [
        example("train", 100),
        example("train", 300),
        example("train", 45),
        example("eval", 52),
        example("unassigned", 999, ["output_too_short"]),
        example("unassigned", 10, ["json_invalid", "output_too_short", "json_invalid"]),
        example("train", 5000, ["duplicate"]),
    ]
    stats = dataset_stats(iter(examples))
    assert stats == {
        "total": 7,
        "valid": 4,
        "invalid": 3,
        "by_split": {
            "train": {"count": 3, "avg_tokens": 148.3, "min_tokens": 45, "max_tokens": 300},
            "eval": {"count": 1, "avg_tokens": 52.0, "min_tokens": 52, "max_tokens": 52},
        },
        "validation_errors": {"output_too_short": 2, "duplicate": 1, "json_invalid": 1},
        "warnings": [],
    }
    json.dumps(stats)


def test_empty_dataset_keeps_the_shape() -> None:
    empty = {"count": 0, "avg_tokens": 0.0, "min_tokens": 0, "max_tokens": 0}
    assert dataset_stats([]) == {
        "total": 0,
        "valid": 0,
        "invalid": 0,
        "by_split": {"train": empty, "eval": empty},
        "validation_errors": {},
        "warnings": [],
    }


def test_other_splits_appear_when_they_hold_valid_examples() -> None:
    stats = dataset_stats([example("preview", 10), example("preview", 20), example("unassigned", 0)])
    preview = {"count": 2, "avg_tokens": 15.0, "min_tokens": 10, "max_tokens": 20}
    assert stats["by_split"]["preview"] == preview
    assert stats["by_split"]["unassigned"]["count"] == 1
    assert stats["by_split"]["train"]["count"] == 0


def test_single_pass_over_a_generator_in_constant_memory() -> None:
    def stream(n: int) -> Iterator[Example]:
        for i in range(n):
            yield example("train" if i % 10 else "eval", i % 500, ["duplicate"] if i % 7 == 0 else None)

    tracemalloc.start()
    try:
        stats: dict[str, Any] = dataset_stats(stream(20_000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stats["total"] == 20_000
    assert stats["validation_errors"] == {"duplicate": 2858}
    assert peak < 5 * 1024 * 1024
