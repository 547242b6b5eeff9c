"""Loading the base model for a method, and the peft and trl configurations of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from finetune_core.errors import TrainingError

from finetune_local_gpu.training.data import Masking
from finetune_local_gpu.training.hyperparameters import LocalHyperparameters
from finetune_local_gpu.training.runtime import Runtime


def load_tokenizer(base_model: str) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(base_model)
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
        model = AutoModelForCausalLM.from_pretrained(base_model, **kwargs)
    except (OSError, ValueError) as exc:
        raise TrainingError(f"cannot load the base model {base_model}: {exc}") from exc
    if method == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(  # type: ignore[no-untyped-call]  # peft leaves it unannotated
            model, use_gradient_checkpointing=runtime.gradient_checkpointing)
    return model


def lora_config(hyperparameters: LocalHyperparameters) -> Any:
    """LoRA on every linear layer of the architecture (but the output head) unless told which modules."""
    from peft import LoraConfig

    return LoraConfig(r=hyperparameters.lora_r, lora_alpha=hyperparameters.lora_alpha,
                      lora_dropout=hyperparameters.lora_dropout, target_modules=hyperparameters.lora_target_modules,
                      bias="none", task_type="CAUSAL_LM")


def sft_config(hyperparameters: LocalHyperparameters, runtime: Runtime, output_dir: Path, *, masking: Masking,
               evaluate: bool) -> Any:
    from trl import SFTConfig

    hp = hyperparameters
    return SFTConfig(
        output_dir=str(output_dir), num_train_epochs=hp.num_epochs, max_steps=hp.max_steps or -1,
        per_device_train_batch_size=hp.per_device_batch_size, per_device_eval_batch_size=hp.per_device_batch_size,
        gradient_accumulation_steps=hp.gradient_accumulation_steps, learning_rate=hp.learning_rate,
        weight_decay=hp.weight_decay, warmup_steps=hp.warmup_ratio,  # below 1: a share of all steps
        logging_strategy="steps", logging_steps=hp.logging_steps,
        eval_strategy="steps" if evaluate else "no", eval_steps=hp.eval_steps,
        save_strategy="steps", save_steps=hp.save_steps, save_total_limit=hp.save_total_limit,
        seed=hp.seed, data_seed=hp.seed, use_cpu=runtime.device == "cpu", bf16=runtime.bf16, fp16=runtime.fp16,
        activation_checkpointing=runtime.gradient_checkpointing, max_length=hp.max_seq_length,
        assistant_only_loss=masking != "labels", report_to="none", disable_tqdm=True,
    )


def out_of_memory_advice(hyperparameters: LocalHyperparameters, method: str, runtime: Runtime) -> str:
    tips = ["lower per_device_batch_size", "raise gradient_accumulation_steps to keep the effective batch size"]
    if not runtime.gradient_checkpointing:
        tips.append("enable gradient checkpointing (gradient_checkpointing=true)")
    tips.append("lower max_seq_length")
    if method != "qlora":
        tips.append("or use method qlora (4-bit base weights)")
    return (f"CUDA out of memory at batch size {hyperparameters.per_device_batch_size} (sequences up to "
            f"{hyperparameters.max_seq_length} tokens, method {method}): {', '.join(tips)}")
