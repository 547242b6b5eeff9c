"""Padding-free batches in the `local` trainer (the default), with the prefix the examples share computed once.

On the CPU the trainer switches the model to `packed_sdpa` (each example's attention alone) and lays a batch's
examples end to end; the prefix they all start with (here a system prompt) goes first, once. These tests check,
on the tiny random Llama: the same loss and gradients as the same examples padded, no example seeing another,
where a prefix may be shared, and what a training records.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from finetune_core import Workspace
from finetune_core.domain import FineTuneStatus
from finetune_core.errors import InvalidInputError
from finetune_core.services import fine_tunes
from kits.tiny_model import add_chat_project, chat_messages

SYSTEM = {"role": "system", "content": "You answer questions about colours in one short sentence."}
FAST = {"max_steps": 3, "per_device_batch_size": 4, "gradient_accumulation_steps": 1, "learning_rate": 5e-3,
        "eval_steps": 3, "save_steps": 3}


def _model(folder: Path, *, packed: bool) -> Any:
    from finetune_local_gpu.training.model import load_model
    from finetune_local_gpu.training.packed_attention import PACKED_SDPA, use_packed_sdpa
    from finetune_local_gpu.training.runtime import Runtime

    model = load_model(str(folder), "lora", Runtime("cpu", bf16=False, fp16=False, gradient_checkpointing=False))
    if packed:
        assert use_packed_sdpa(model) and model.config._attn_implementation == PACKED_SDPA
    return model


def _labelled(tokenizer: Any, indices: range) -> list[dict[str, list[int]]]:
    """Chats opening with the same system prompt, labels on the assistant turns only."""
    from finetune_local_gpu.training.data import IGNORE

    rows = []
    for index in indices:
        encoded = tokenizer.apply_chat_template([SYSTEM, *chat_messages(index)], tokenize=True, return_dict=True,
                                                return_assistant_tokens_mask=True)
        ids = list(encoded["input_ids"])
        rows.append({"input_ids": ids, "labels": [token if bit else IGNORE
                                                  for token, bit in zip(ids, encoded["assistant_masks"], strict=True)]})
    return rows


def test_a_padding_free_batch_sharing_its_prefix_has_the_loss_and_gradients_of_the_batch_padded(
        tiny_model_dir: Path) -> None:
    import torch
    from finetune_local_gpu.training.model import load_tokenizer
    from finetune_local_gpu.training.padding_free import SHARED_PREFIX, PaddingFreeCollator
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    tokenizer = load_tokenizer(str(tiny_model_dir))
    examples = _labelled(tokenizer, range(7, 13))  # 6 chats of different lengths
    padded = DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id)(examples)
    shared = PaddingFreeCollator(tokenizer.pad_token_id, share_prefix=True)(examples)
    prefix = shared[SHARED_PREFIX]
    system = len(tokenizer.apply_chat_template([SYSTEM], tokenize=True))
    assert prefix >= system  # at least the system prompt, laid out once
    assert shared["input_ids"].shape == (1, sum(len(e["input_ids"]) for e in examples) - prefix * (len(examples) - 1))
    assert int((padded["labels"][:, 1:] != -100).sum()) == int((shared["labels"] != -100).sum())  # same targets

    def step(model: Any, batch: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        model.train()  # no dropout in the tiny Llama
        loss = model(**batch, use_cache=False).loss
        loss.backward()
        return float(loss.detach()), {name: p.grad for name, p in model.named_parameters() if p.grad is not None}

    padded_loss, padded_grads = step(_model(tiny_model_dir, packed=False), padded)
    shared_loss, shared_grads = step(_model(tiny_model_dir, packed=True), shared)
    assert math.isfinite(padded_loss)
    assert shared_loss == pytest.approx(padded_loss, rel=1e-5, abs=1e-6)
    assert padded_grads.keys() == shared_grads.keys() and padded_grads
    for name, grad in padded_grads.items():
        torch.testing.assert_close(shared_grads[name], grad, atol=1e-6, rtol=1e-4, msg=name)


def test_an_example_after_the_shared_prefix_sees_the_prefix_and_itself_only(tiny_model_dir: Path) -> None:
    import torch
    from finetune_local_gpu.training.model import load_tokenizer
    from finetune_local_gpu.training.padding_free import SHARED_PREFIX, PaddingFreeCollator

    tokenizer = load_tokenizer(str(tiny_model_dir))
    model = _model(tiny_model_dir, packed=True).eval()
    collate = PaddingFreeCollator(tokenizer.pad_token_id, share_prefix=True)

    def last_example_logits(rows: list[dict[str, list[int]]]) -> Any:
        batch = collate(rows)
        inputs = {key: value for key, value in batch.items() if key != "labels"}
        with torch.no_grad():
            logits = model(**inputs, use_cache=False).logits[0]
        start = int(batch["cu_seq_lens_q"][-2])
        return logits[start:], batch[SHARED_PREFIX]

    [a, b, c, d] = _labelled(tokenizer, range(20, 24))
    with torch.no_grad():
        alone = model(input_ids=torch.tensor([d["input_ids"]]), use_cache=False).logits[0]
    together, prefix = last_example_logits([a, b, c, d])
    replaced, same_prefix = last_example_logits([c, a, b, d])  # other examples before it
    assert prefix == same_prefix > 0
    torch.testing.assert_close(together, alone[prefix:], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(replaced, alone[prefix:], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("ids", "labels", "expected"), [
    ([[1, 2, 3, 4, 5], [1, 2, 3, 6, 7]], [[-100] * 4 + [5], [-100] * 4 + [7]], 3),
    ([[1, 2, 3, 4, 5], [1, 2, 3, 6, 7]], [[-100, -100, 3, 4, 5], [-100] * 4 + [7]], 1),  # a label at 2: not shared
    ([[1, 2, 3], [1, 2, 3, 4]], [[-100] * 3, [-100] * 4], 2),  # each keeps a token of its own
    ([[1, 2, 3, 4]], [[-100] * 4], 0),  # one example shares with nobody
    ([[1, 2], [3, 2]], [[-100, 2], [-100, 2]], 0),
])
def test_what_may_be_shared(ids: list[list[int]], labels: list[list[int]], expected: int) -> None:
    from finetune_local_gpu.training.padding_free import shared_prefix_length

    assert shared_prefix_length(ids, labels) == expected


def _train(ws: Workspace, base: Path, **changes: Any) -> Any:
    created = fine_tunes.create_fine_tune(ws, add_chat_project(ws), trainer="local", base_model=str(base),
                                          method="lora", hyperparameters={**FAST, **changes},
                                          options={"device": "cpu"})
    return fine_tunes.get_fine_tune(ws, created.id)


@pytest.mark.parametrize(("value", "resolved", "attention"), [
    (None, True, "finetune_packed_sdpa"), (False, False, "sdpa")])
def test_a_training_is_padding_free_by_default_and_records_it(finetune_workspace: Workspace, tiny_model_dir: Path,
                                                            value: Any, resolved: bool, attention: str) -> None:
    ws = finetune_workspace
    done = _train(ws, tiny_model_dir, **({} if value is None else {"padding_free": value}))
    assert done.status is FineTuneStatus.COMPLETED, done.error_message
    config = json.loads(ws.files.local_path(f"fine_tunes/{done.id}/artifacts/training_config.json").read_text())
    assert config["padding_free"] is resolved and config["packing"] is False
    assert config["hyperparameters"]["padding_free"] == ("auto" if value is None else value)
    assert config["attention"] == attention
    assert math.isfinite(done.metrics["train_loss"]) and math.isfinite(done.metrics["eval_loss"])


def test_padding_free_asked_for_dpo_is_refused() -> None:
    from finetune_local_gpu.training.hyperparameters import check_objective, parse_hyperparameters

    asked = {"padding_free": True}
    with pytest.raises(InvalidInputError, match="padding_free is for the option method='sft' only"):
        check_objective(asked, parse_hyperparameters(asked), "dpo")
