"""Train/eval split by document: examples of one group never land in both splits.

Groups (by default the source document) are ranked by sha256(seed, group key),
which is stable across runs, machines and input order, then walked in that
order: a group goes to eval when that brings the eval example count closer to
`(1 - ratio) * total`, otherwise to train. Grouping always wins over the
ratio: with a single group everything is train and eval is empty, and with few
groups the ratio is only approached. Train is never left empty.

The function splits whatever it is given; choosing which examples to split
(valid ones, not previews) and how to group them (a project's `split_by`) is
the caller's business. `split_warnings` says when the result has no eval
examples although the ratio asked for some.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any, Literal

from finetune_core.domain import Example, SplitBy
from finetune_core.errors import InvalidInputError

SplitName = Literal["train", "eval"]


def default_group_key(example: Example) -> str:
    """The source document; else the chunk; else the example itself."""
    if example.source_id is not None:
        return f"source:{example.source_id}"
    if example.chunk_id is not None:
        return f"chunk:{example.chunk_id}"
    return f"example:{example.id}"


def _rank(seed: int, key: str) -> bytes:
    return hashlib.sha256(f"{seed}\x00{key}".encode()).digest()


def assign_splits(
    examples: Iterable[Example],
    ratio: float,
    seed: int,
    *,
    group_key: Callable[[Example], str] = default_group_key,
) -> dict[str, SplitName]:
    """Map each example id to "train" or "eval"; `ratio` is the train share by example count.

    `group_key` lets a caller regroup, e.g. rows of one uploaded dataset file by
    row id, where the default (one file, one group) would leave eval empty.
    """
    if not 0.0 < ratio <= 1.0:
        raise InvalidInputError(f"train ratio must be in (0, 1], got {ratio}", ratio=ratio)
    groups: dict[str, list[str]] = {}
    for example in examples:
        groups.setdefault(group_key(example), []).append(example.id)
    total = sum(len(ids) for ids in groups.values())
    target = total * (1.0 - ratio)
    eval_count = 0
    result: dict[str, SplitName] = {}
    for key in sorted(groups, key=lambda k: _rank(seed, k)):
        ids = groups[key]
        after = eval_count + len(ids)
        to_eval = abs(after - target) < abs(eval_count - target) and after < total
        if to_eval:
            eval_count = after
        split: SplitName = "eval" if to_eval else "train"
        for example_id in ids:
            result[example_id] = split
    return result


def split_warnings(by_split: dict[str, Any], ratio: float, split_by: SplitBy) -> list[str]:
    """What the split left undone: no eval example although `ratio` < 1 asked for some (`by_split` as in stats)."""
    train, held_out = by_split["train"]["count"], by_split["eval"]["count"]
    if ratio >= 1.0 or not train or held_out:
        return []
    if split_by == "row":
        return [f"no eval examples: {train} examples are too few to hold one out at train_eval_split {ratio}; "
                f"training will report no eval loss. Add examples, or lower train_eval_split"]
    return [f"no eval examples: the {train} examples come from too few source documents to hold one out at "
            f"train_eval_split {ratio} (split_by \"source\" keeps each document on one side); training will report "
            f"no eval loss. Add documents, or accept the leak: set the config's split_by to \"row\" and curate "
            f"again (rerunning the dataset generation does)"]
