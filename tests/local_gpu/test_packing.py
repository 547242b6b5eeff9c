"""Packing in the `local` trainer: several examples in one row, none attending to another, the same loss.

trl's packing (best-fit decreasing) turns on its padding-free collator: a batch is one row of examples laid end
to end, with position ids restarting at 0 at each example and no attention mask; transformers then builds a
block-diagonal causal mask from the position ids (sdpa, eager) or runs its varlen kernels (flash attention).
These tests check that path on the tiny random Llama, on the CPU, with the attention implementation the
trainer gets there: no cross-contamination, the loss and gradients of an unpacked padded batch, the assistant-only
labels kept through trl's packing, the eval loss unchanged, and when `packing: auto` turns it on.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from finetune_core import Workspace
from finetune_core.domain import FineTuneStatus
from finetune_core.errors import InvalidInputError
from finetune_core.services import fine_tunes, jobs
from kits.tiny_model import add_chat_project, chat_messages

FAST = {"max_steps": 4, "per_device_batch_size": 4, "gradient_accumulation_steps": 1, "learning_rate": 5e-3,
        "eval_steps": 4, "save_steps": 4}


def _cpu() -> Any:
    from finetune_local_gpu.training.runtime import Runtime

    return Runtime("cpu", bf16=False, fp16=False, gradient_checkpointing=False)


def _model(folder: Path, attention: str | None = None) -> Any:
    """The tiny model as the trainer loads it (load_model); `attention` forces an implementation."""
    from finetune_local_gpu.training.model import load_model

    model = load_model(str(folder), "lora", _cpu())
    if attention is not None:
        model.set_attn_implementation(attention)
    return model.eval()


def _tokens(tokenizer: Any, index: int) -> list[int]:
    return list(tokenizer.apply_chat_template(chat_messages(index), tokenize=True, return_dict=True)["input_ids"])


@pytest.mark.parametrize("attention", [None, "eager"])  # None: what the trainer gets on the CPU (sdpa)
def test_packed_examples_do_not_attend_to_each_other(tiny_model_dir: Path, attention: str | None) -> None:
    import torch
    from finetune_local_gpu.training.model import load_tokenizer

    model = _model(tiny_model_dir, attention)
    assert model.config._attn_implementation == (attention or "sdpa")
    tokenizer = load_tokenizer(str(tiny_model_dir))
    a, b = _tokens(tokenizer, 3), _tokens(tokenizer, 14)
    with torch.no_grad():
        alone = model(input_ids=torch.tensor([b]), use_cache=False).logits[0]
        # the padding-free collator's row: A then B, positions restarting at 0 for B, no attention mask
        packed = model(input_ids=torch.tensor([a + b]), use_cache=False,
                       position_ids=torch.tensor([list(range(len(a))) + list(range(len(b)))])).logits[0, len(a):]
        # control: the same row with plain positions 0..n lets B attend to A (and shifts B's positions)
        plain = model(input_ids=torch.tensor([a + b]), use_cache=False).logits[0, len(a):]
        # and another A before B changes nothing in B's logits
        other = _tokens(tokenizer, 27)
        replaced = model(input_ids=torch.tensor([other + b]), use_cache=False,
                         position_ids=torch.tensor([list(range(len(other))) + list(range(len(b)))])
                         ).logits[0, len(other):]
    torch.testing.assert_close(packed, alone, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(replaced, alone, atol=1e-5, rtol=1e-5)
    assert (plain - alone).abs().max() > 1e-3  # the check above can fail


def _labelled(tokenizer: Any, indices: range) -> list[dict[str, list[int]]]:
    """Tokenized chats with labels on the assistant turns only (-100 elsewhere), as trl prepares them."""
    from finetune_local_gpu.training.data import IGNORE

    rows = []
    for index in indices:
        encoded = tokenizer.apply_chat_template(chat_messages(index), tokenize=True, return_dict=True,
                                                return_assistant_tokens_mask=True)
        ids = list(encoded["input_ids"])
        rows.append({"input_ids": ids, "labels": [token if bit else IGNORE
                                                  for token, bit in zip(ids, encoded["assistant_masks"], strict=True)]})
    return rows


def test_a_packed_batch_has_the_loss_and_gradients_of_the_same_examples_padded(tiny_model_dir: Path) -> None:
    import torch
    from datasets import Dataset
    from finetune_local_gpu.training.model import load_tokenizer
    from trl import pack_dataset
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    tokenizer = load_tokenizer(str(tiny_model_dir))
    examples = _labelled(tokenizer, range(7, 19))  # 12 chats of different lengths
    packed_rows = list(pack_dataset(Dataset.from_list(examples), 128, "bfd"))
    assert len(packed_rows) < len(examples) and all(len(row["input_ids"]) <= 128 for row in packed_rows)
    assert sorted(length for row in packed_rows for length in row["seq_lengths"]) == sorted(
        len(example["input_ids"]) for example in examples)
    padded = DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id)(examples)
    packed = DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id, padding_free=True)(packed_rows)
    assert "attention_mask" not in packed and packed["input_ids"].shape[0] == 1
    assert packed["input_ids"].shape[1] == sum(len(example["input_ids"]) for example in examples)  # no padding
    assert int((padded["labels"][:, 1:] != -100).sum()) == int((packed["labels"] != -100).sum())  # same targets

    def step(batch: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        model = _model(tiny_model_dir).train()  # fresh, the same weights; no dropout in the tiny Llama
        loss = model(**batch, use_cache=False).loss
        loss.backward()
        return float(loss.detach()), {name: p.grad for name, p in model.named_parameters() if p.grad is not None}

    padded_loss, padded_grads = step(padded)
    packed_loss, packed_grads = step(packed)
    assert math.isfinite(padded_loss)
    assert packed_loss == pytest.approx(padded_loss, rel=1e-5, abs=1e-6)
    assert padded_grads.keys() == packed_grads.keys()
    for name, grad in padded_grads.items():
        torch.testing.assert_close(packed_grads[name], grad, atol=1e-6, rtol=1e-4, msg=name)


@pytest.mark.parametrize("template", ["markers", "labels"])
def test_trl_packing_keeps_the_assistant_labels_and_the_eval_loss(tiny_model_dir: Path,
                                                                 tiny_plain_template_dir: Path, template: str,
                                                                 tmp_path: Path) -> None:
    """Through our sft_config and build_dataset: each packed example is the unpacked one, labels included; the
    eval examples stay unpacked and the eval loss is the one without packing."""
    from finetune_local_gpu.training.data import build_dataset, loss_masking
    from finetune_local_gpu.training.hyperparameters import parse_hyperparameters
    from finetune_local_gpu.training.model import load_tokenizer, resolve_packing, sft_config
    from trl import SFTTrainer

    folder = tiny_model_dir if template == "markers" else tiny_plain_template_dir
    rows = [{"messages": chat_messages(index)} for index in range(20)]
    hyperparameters = parse_hyperparameters({**FAST, "max_seq_length": 160, "packing": "auto"})
    prepared: dict[bool, Any] = {}
    eval_losses: dict[bool, float] = {}
    for packing in (False, True):
        tokenizer = load_tokenizer(str(folder))
        masking = loss_masking(tokenizer)
        assert masking == template
        model = _model(folder)
        assert resolve_packing(hyperparameters, model, masking) is True  # auto, on this model and masking
        trainer = SFTTrainer(model=model, processing_class=tokenizer,
                             args=sft_config(hyperparameters, _cpu(), tmp_path / str(packing), masking=masking,
                                             evaluate=True, packing=packing),
                             train_dataset=build_dataset(rows, tokenizer, masking),
                             eval_dataset=build_dataset(rows[:9], tokenizer, masking))
        assert trainer.padding_free is packing and len(trainer.eval_dataset) == 9  # eval never packed
        prepared[packing] = trainer.train_dataset
        eval_losses[packing] = trainer.evaluate()["eval_loss"]
    unpacked = sorted((row["input_ids"], row["labels"]) for row in prepared[False])
    pieces = []
    for row in prepared[True]:
        start = 0
        for length in row["seq_lengths"]:
            pieces.append((row["input_ids"][start:start + length], row["labels"][start:start + length]))
            start += length
        assert start == len(row["input_ids"]) <= 160
    assert len(prepared[True]) < len(prepared[False]) and sorted(pieces) == unpacked
    assert any(label != -100 for _, labels in unpacked for label in labels)
    assert any(label == -100 for _, labels in unpacked for label in labels)  # the prompts are masked
    assert eval_losses[True] == pytest.approx(eval_losses[False], rel=1e-5)


def _fake(attention: str, **config: Any) -> Any:
    return SimpleNamespace(config=SimpleNamespace(**{"_attn_implementation": attention, "num_attention_heads": 4,
                                                     "is_encoder_decoder": False, **config}))


def test_packing_auto_is_on_only_where_exact_and_an_explicit_true_elsewhere_is_refused(tiny_model_dir: Path) -> None:
    from finetune_local_gpu.training.hyperparameters import parse_hyperparameters
    from finetune_local_gpu.training.model import resolve_packing

    auto, on, off = (parse_hyperparameters({"packing": value}) for value in ("auto", True, False))
    assert parse_hyperparameters({}).packing is False  # off unless asked (see LocalHyperparameters)
    real = _model(tiny_model_dir)
    for model in (real, _model(tiny_model_dir, "eager"), _fake("flash_attention_2"), _fake("flash_attention_3")):
        for masking in ("markers", "trl-template", "labels"):
            assert resolve_packing(auto, model, masking) is True
            assert resolve_packing(on, model, masking) is True
            assert resolve_packing(off, model, masking) is False
    unsupported = {"flex_attention": _fake("flex_attention"), "encoder-decoder": _fake("sdpa", is_encoder_decoder=True),
                   "layers other than attention": _fake("sdpa", layer_types=["full_attention", "linear_attention"])}
    for reason, model in unsupported.items():
        assert resolve_packing(auto, model, "markers") is False
        assert resolve_packing(off, model, "markers") is False
        with pytest.raises(InvalidInputError, match=f"packing cannot be exact.*{reason}"):
            resolve_packing(on, model, "markers")
    with pytest.raises(InvalidInputError, match="packing"):
        parse_hyperparameters({"packing": "sometimes"})


def _train(ws: Workspace, base: Path, **changes: Any) -> Any:
    created = fine_tunes.create_fine_tune(ws, add_chat_project(ws), trainer="local", base_model=str(base),
                                          method="lora", hyperparameters={**FAST, **changes},
                                          options={"device": "cpu"})
    return fine_tunes.get_fine_tune(ws, created.id)


@pytest.mark.parametrize(("value", "resolved"), [("auto", True), (False, False)])
def test_a_training_records_whether_it_packed(finetune_workspace: Workspace, tiny_model_dir: Path,
                                              value: Any, resolved: bool) -> None:
    ws = finetune_workspace
    done = _train(ws, tiny_model_dir, packing=value)
    assert done.status is FineTuneStatus.COMPLETED, done.error_message
    config = json.loads(ws.files.local_path(f"fine_tunes/{done.id}/artifacts/training_config.json").read_text())
    assert config["packing"] is resolved and config["hyperparameters"]["packing"] == value
    losses = [event.data["train_loss"] for event in jobs.events(ws, done.job_id or "")
              if event.type == "log" and "step" in event.data]
    assert len(losses) == 4 and all(math.isfinite(loss) for loss in losses)
    assert math.isfinite(done.metrics["train_loss"]) and math.isfinite(done.metrics["eval_loss"])
