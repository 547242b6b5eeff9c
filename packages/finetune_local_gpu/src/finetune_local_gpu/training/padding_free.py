"""Padding-free batches: a step's examples end to end in one row, each attending to itself, nothing padded.

The batches are the ones padded training would make (the same examples per step, the same steps, the same
loss normalised by the same count of trained tokens), so the run is the padded run without the pad tokens'
work: trl's padding-free collator lays them out, with position ids restarting at 0 per example and the
boundaries (`cu_seq_lens_q`) that the attention keeps examples apart with.

Where the attention is `packed_sdpa` (the CPU), the prefix that every example of the batch starts with (a
chat template's system prompt, the same instruction) is laid out once, first, and each example after it holds
only the rest, attending to that prefix and then to itself (`SHARED_PREFIX` tells the attention its length).
A causal model's states over a prefix do not depend on what follows, so each example sees what it would see
alone, and the gradient flowing into the one prefix is the sum of what its copies would have had: the same
training with fewer tokens computed. Shared only where no loss is on it: the prefix tokens and the first token
after it carry no label in every example (the token predicted from the prefix's last state would otherwise
need one answer per example).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

SHARED_PREFIX = "shared_prefix_length"  # the batch key (and attention keyword) of the shared prefix's length
IGNORED = -100


class PaddingFreeCollator:
    """trl's padding-free collator, and the shared prefix laid out once where `share_prefix`."""

    def __init__(self, pad_token_id: int, *, share_prefix: bool) -> None:
        from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

        self._collate = DataCollatorForLanguageModeling(pad_token_id=pad_token_id, padding_free=True)
        self.share_prefix = share_prefix

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch: dict[str, Any] = self._collate(examples)
        batch.pop("seq_idx", None)  # for linear-attention layers' convolutions: none in the models this runs
        return with_shared_prefix(batch) if self.share_prefix else batch


def shared_prefix_length(input_ids: list[list[int]], labels: list[list[int]]) -> int:
    """How many first tokens every example can share: common to all, no label on them nor on the next token,
    and each example keeping at least one token of its own. 0 for fewer than two examples."""
    if len(input_ids) < 2:
        return 0
    length = min(len(ids) for ids in input_ids) - 1
    first = input_ids[0]
    for ids in input_ids[1:]:
        same = 0
        while same < length and ids[same] == first[same]:
            same += 1
        length = same
    for row in labels:
        labelled = next((index for index, label in enumerate(row) if label != IGNORED), len(row))
        length = min(length, labelled - 1)
    return max(length, 0)


def with_shared_prefix(batch: dict[str, Any]) -> dict[str, Any]:
    """A padding-free batch with its examples' shared prefix laid out once (see the module doc); unchanged
    where they share none."""
    import torch

    edges = [int(edge) for edge in batch["cu_seq_lens_q"].tolist()]
    spans = list(pairwise(edges))
    ids, labels, positions = batch["input_ids"][0], batch["labels"][0], batch["position_ids"][0]
    prefix = shared_prefix_length([ids[start:end].tolist() for start, end in spans],
                                  [labels[start:end].tolist() for start, end in spans])
    if prefix == 0:
        return batch
    first = spans[0][0]
    keep = [slice(first, first + prefix)] + [slice(start + prefix, end) for start, end in spans]
    lengths = [prefix] + [end - start - prefix for start, end in spans]
    bounds = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)
    out = dict(batch)
    out["input_ids"] = torch.cat([ids[part] for part in keep])[None]
    out["labels"] = torch.cat([labels[part] for part in keep])[None]
    out["position_ids"] = torch.cat([positions[part] for part in keep])[None]
    out["cu_seq_lens_q"] = out["cu_seq_lens_k"] = bounds
    out["max_length_q"] = out["max_length_k"] = prefix + max(lengths[1:])
    out[SHARED_PREFIX] = prefix
    return out
