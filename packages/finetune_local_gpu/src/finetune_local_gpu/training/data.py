"""The project's chats as datasets for trl, rendered with the model's chat template, loss on assistant turns only.

How the loss is kept on the assistant turns depends on the tokenizer's template (`loss_masking`):
- `markers`: the template has `{% generation %}` markers: trl's `assistant_only_loss` masks the rest;
- `trl-template`: trl knows this template (Llama 3, Qwen, Gemma, Phi...) and swaps in its training
  version, which has the markers;
- `labels`: any other template: each chat is tokenized here and only the tokens of its assistant turns
  are labelled. A turn's tokens are those between the conversation rendered up to it with the generation
  prompt and the conversation rendered through it, so whatever the template adds to close the turn
  (its end-of-turn token) is learned too.
A tokenizer with no chat template at all gets `DEFAULT_CHAT_TEMPLATE` (with markers), saved with the adapter.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

Masking = Literal["markers", "trl-template", "labels"]
IGNORE = -100  # the label of a token the loss skips
DEFAULT_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '### ' + message['role'] + ':\n' }}"
    "{% if message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] + eos_token }}{% endgeneration %}"
    "{% else %}{{ message['content'] + eos_token }}{% endif %}"
    "{{ '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '### assistant:\n' }}{% endif %}"
)


def read_chats(path: Path | None) -> list[dict[str, Any]]:
    """The `{"messages": [...]}` rows of an exported JSONL file (none when there is no file)."""
    if path is None:
        return []
    with path.open(encoding="utf-8") as lines:
        return [{"messages": json.loads(line)["messages"]} for line in lines if line.strip()]


def ensure_chat_template(tokenizer: Any) -> bool:
    """Give a tokenizer without a chat template the default one; True when it had to."""
    if tokenizer.chat_template:
        return False
    tokenizer.chat_template = DEFAULT_CHAT_TEMPLATE
    return True


def loss_masking(tokenizer: Any) -> Masking:
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    if has_generation_markers(tokenizer.chat_template):
        return "markers"
    try:
        get_training_chat_template(tokenizer)
    except ValueError:  # a template trl has no training version of
        return "labels"
    return "trl-template"


def _render(tokenizer: Any, messages: Sequence[dict[str, Any]], *, generation_prompt: bool = False) -> list[int]:
    if not messages:
        return []
    encoded = tokenizer.apply_chat_template(list(messages), tokenize=True, return_dict=True,
                                            add_generation_prompt=generation_prompt)
    return list(encoded["input_ids"])


def _common_prefix(first: Sequence[int], second: Sequence[int]) -> int:
    length = 0
    for a, b in zip(first, second, strict=False):
        if a != b:
            break
        length += 1
    return length


def _after_last(ids: Sequence[int], token: int | None, start: int, end: int) -> int:
    """The position just after the last `token` in ids[start:end]; `end` when it is not there."""
    for position in range(end - 1, start - 1, -1):
        if ids[position] == token:
            return position + 1
    return end


def assistant_labels(tokenizer: Any, messages: Sequence[dict[str, Any]]) -> dict[str, list[int]]:
    """The chat's token ids, and labels that are the ids on assistant turns and IGNORE elsewhere."""
    input_ids = _render(tokenizer, messages)
    labels = [IGNORE] * len(input_ids)
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        start = _common_prefix(input_ids, _render(tokenizer, messages[:index], generation_prompt=True))
        end = _common_prefix(input_ids, _render(tokenizer, messages[: index + 1]))
        end = _after_last(input_ids, tokenizer.eos_token_id, start, end)
        labels[start:end] = input_ids[start:end]
    return {"input_ids": input_ids, "labels": labels}


def build_dataset(rows: list[dict[str, Any]], tokenizer: Any, masking: Masking) -> Any:
    """A `datasets.Dataset` for SFTTrainer: conversational rows, or tokenized rows with their labels."""
    from datasets import Dataset

    if masking == "labels":
        return Dataset.from_list([assistant_labels(tokenizer, row["messages"]) for row in rows])
    return Dataset.from_list(rows)
