from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping

import pytest
from finetune_core.curation.split import assign_splits, default_group_key, split_warnings
from finetune_core.curation.stats import dataset_stats
from finetune_core.domain import Example, Message
from finetune_core.errors import InvalidInputError
from hypothesis import given, settings
from hypothesis import strategies as st

MESSAGES = [Message(role="user", content="q"), Message(role="assistant", content="a")]


def example(index: int, source_id: str | None = None, chunk_id: str | None = None) -> Example:
    return Example(id=f"e{index}", project_id="p", source_id=source_id, chunk_id=chunk_id, messages=MESSAGES)


def corpus(group_sizes: list[int]) -> list[Example]:
    examples, index = [], 0
    for group, size in enumerate(group_sizes):
        for _ in range(size):
            examples.append(example(index, source_id=f"doc{group}"))
            index += 1
    return examples


def groups_by_split(examples: list[Example], splits: Mapping[str, str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for item in examples:
        found[default_group_key(item)].add(splits[item.id])
    return found


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=30), min_size=1, max_size=40),
    ratio=st.floats(min_value=0.05, max_value=1.0),
    seed=st.integers(min_value=0, max_value=2**32),
    shuffle_seed=st.integers(),
)
def test_grouping_determinism_and_order_independence(
    sizes: list[int], ratio: float, seed: int, shuffle_seed: int
) -> None:
    examples = corpus(sizes)
    splits = assign_splits(examples, ratio, seed)
    assert set(splits) == {item.id for item in examples}
    assert set(splits.values()) <= {"train", "eval"}
    assert all(len(found) == 1 for found in groups_by_split(examples, splits).values())
    assert assign_splits(examples, ratio, seed) == splits
    shuffled = list(examples)
    random.Random(shuffle_seed).shuffle(shuffled)
    assert assign_splits(shuffled, ratio, seed) == splits
    assert "train" in splits.values()


@pytest.mark.parametrize("ratio", [0.5, 0.8, 0.9, 0.95])
def test_ratio_is_approached_over_many_groups(ratio: float) -> None:
    rng = random.Random(0)
    examples = corpus([rng.randint(1, 12) for _ in range(300)])
    for seed in range(5):
        splits = assign_splits(examples, ratio, seed)
        train_share = sum(split == "train" for split in splits.values()) / len(examples)
        assert abs(train_share - ratio) < 0.01


def test_seed_changes_which_groups_are_held_out() -> None:
    examples = corpus([3] * 50)
    assert assign_splits(examples, 0.8, 1) != assign_splits(examples, 0.8, 2)


def test_a_single_group_goes_entirely_to_train() -> None:
    examples = corpus([40])
    assert set(assign_splits(examples, 0.5, 0).values()) == {"train"}
    assert set(assign_splits(examples, 0.1, 0).values()) == {"train"}


def test_ratio_one_puts_everything_in_train() -> None:
    assert set(assign_splits(corpus([1] * 30), 1.0, 0).values()) == {"train"}


def test_group_key_falls_back_to_chunk_then_example() -> None:
    by_chunk = [example(i, chunk_id="c1" if i < 4 else "c2") for i in range(8)]
    splits = assign_splits(by_chunk, 0.5, 0)
    assert {splits[f"e{i}"] for i in range(4)} != {splits[f"e{i}"] for i in range(4, 8)}
    loose = [example(i) for i in range(100)]
    share = sum(split == "train" for split in assign_splits(loose, 0.9, 0).values()) / 100
    assert share == pytest.approx(0.9)


def test_a_caller_can_regroup_uploaded_rows() -> None:
    rows = [example(i, source_id="upload.jsonl") for i in range(100)]
    assert set(assign_splits(rows, 0.9, 0).values()) == {"train"}
    splits = assign_splits(rows, 0.9, 0, group_key=lambda item: item.id)
    assert sum(split == "eval" for split in splits.values()) == 10


def test_an_eval_split_left_empty_is_warned_about_naming_the_way_out() -> None:
    one_document = corpus([40])
    splits = assign_splits(one_document, 0.9, 0)
    split = [item.model_copy(update={"split": splits[item.id], "is_valid": True}) for item in one_document]
    by_split = dataset_stats(split)["by_split"]
    [by_source] = split_warnings(by_split, 0.9, "source")
    assert by_source.startswith("no eval examples: the 40 examples come from too few source documents")
    assert 'split_by to "row"' in by_source
    [by_row] = split_warnings(by_split, 0.9, "row")
    assert by_row.startswith("no eval examples: 40 examples are too few") and "split_by" not in by_row
    assert split_warnings(by_split, 1.0, "source") == []  # no eval asked for
    rows = assign_splits(one_document, 0.9, 0, group_key=lambda item: item.id)
    held_out = [item.model_copy(update={"split": rows[item.id], "is_valid": True}) for item in one_document]
    assert split_warnings(dataset_stats(held_out)["by_split"], 0.9, "row") == []
    assert split_warnings(dataset_stats([])["by_split"], 0.9, "source") == []  # nothing to split yet


def test_empty_input() -> None:
    assert assign_splits([], 0.9, 0) == {}


@pytest.mark.parametrize("ratio", [0.0, -0.1, 1.5])
def test_ratio_out_of_range(ratio: float) -> None:
    with pytest.raises(InvalidInputError):
        assign_splits(corpus([2]), ratio, 0)
