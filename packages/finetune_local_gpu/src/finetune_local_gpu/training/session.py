"""One local training run, from the exported dataset to the registered adapter.

    preparing: check the device (QLoRA: the 4-bit probe, on this host), read the train/eval chats (`sft`) or
               ranked preference pairs (`dpo`: none in the train split ends the run here, before any model),
               load the tokenizer and the model, decide padding-free batches and packing (auto: where they are
               exact for the model and masking; never for `dpo`; on the CPU each example's attention computed
               alone, `packed_attention`), save training_config.json (with the objective and both decided)
    training:  trl's SFTTrainer, or DPOTrainer for the option method=dpo (`preference`), with peft LoRA on every
               linear layer (none for `full`), seeded; resumed from the last checkpoint of this run when a
               previous attempt died, else from the `resume_from` fine-tuning's last checkpoint when asked (one
               of the same base model, method and objective)
    completed: the adapter (or model) saved under final/, metrics.json written, the model registered
Before the model loads, a run whose memory estimate exceeds the device's free memory is refused (`memory`), and a
CPU run sets torch's threads to the cores free then (`threads`, restored after); both are in the `runtime` event.
A CUDA out-of-memory ends the run with a TrainingError that says what to change.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from finetune_core.domain import FineTuneStatus, utcnow
from finetune_core.errors import JobCancelledError, TrainingError
from finetune_core.training import TrainingRun
from transformers import set_seed
from transformers.trainer_callback import PrinterCallback
from trl import SFTTrainer

from finetune_local_gpu.training.artifacts import (
    RunFiles,
    artifacts_key,
    history_from_log,
    library_versions,
    perplexity,
    preference_metrics,
    write_json,
)
from finetune_local_gpu.training.callbacks import RunReporter, reported_steps
from finetune_local_gpu.training.data import Masking, build_dataset, ensure_chat_template, loss_masking, read_chats
from finetune_local_gpu.training.hyperparameters import LocalHyperparameters, LocalOptions, stored_hyperparameters
from finetune_local_gpu.training.memory import check_memory, longest_sequence
from finetune_local_gpu.training.model import (
    load_model,
    load_tokenizer,
    lora_config,
    out_of_memory_advice,
    resolve_packing,
    resolve_padding_free,
    sft_config,
)
from finetune_local_gpu.training.packed_attention import PACKED_SDPA, use_packed_sdpa
from finetune_local_gpu.training.padding_free import PaddingFreeCollator
from finetune_local_gpu.training.preference import dpo_trainer, preference_pairs
from finetune_local_gpu.training.runtime import Runtime, require_4bit, resolve_runtime
from finetune_local_gpu.training.threads import cpu_threads

DATASET_FORMAT = "openai"  # {"messages": [...]} per line
PREFERENCE_LOSS = "completion"  # what `assistant_only_loss` records for DPO: the chosen and rejected answers' tokens


def run_training(run: TrainingRun, hyperparameters: LocalHyperparameters, options: LocalOptions) -> None:
    """Train (or resume) the run to its end; see the module doc."""
    files = RunFiles(run.artifacts_dir())
    if run.fine_tune.model_id is not None and files.final.is_dir():
        return  # an attempt that died after registering the model: nothing left to do
    method = run.fine_tune.method or "lora"
    runtime = resolve_runtime(hyperparameters, options.device)
    if method == "qlora":
        require_4bit(runtime.device)  # again here: the worker may not be the host that accepted the request
    run.set_status(FineTuneStatus.PREPARING)
    try:
        with long_lived_objects_frozen(), cpu_threads(runtime.device, options.cpu_threads) as threads:
            _train(run, files, method, hyperparameters, options, runtime, threads or {})
    except torch.cuda.OutOfMemoryError as exc:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        raise TrainingError(out_of_memory_advice(hyperparameters, method, runtime, options.method)) from exc


def _resume_point(run: TrainingRun, files: RunFiles, options: LocalOptions) -> Path | None:
    own = files.last_checkpoint()
    if own is not None or options.resume_from is None:
        return own
    source = run.other_fine_tune(options.resume_from)
    theirs = (source.base_model, source.method, source.options.get("method", "sft"))
    if theirs != (run.fine_tune.base_model, run.fine_tune.method, options.method):
        raise TrainingError(f"cannot resume from fine-tuning {source.id}: it trained {theirs[0]} with {theirs[1]} "
                            f"({theirs[2]}), this one {run.fine_tune.base_model} with {run.fine_tune.method} "
                            f"({options.method})")
    checkpoint = RunFiles(run.workspace.files.local_path(artifacts_key(source.id))).last_checkpoint()
    if checkpoint is None:
        raise TrainingError(f"fine-tuning {source.id} left no checkpoint to resume from")
    return checkpoint


def _write_training_config(run: TrainingRun, files: RunFiles, method: str, hyperparameters: LocalHyperparameters,
                           runtime: Runtime, *, objective: str, masking: str, packing: bool, padding_free: bool,
                           default_template: bool, attention: str | None, examples: dict[str, int],
                           resume: Path | None) -> None:
    write_json(files.training_config, {
        "fine_tune_id": run.fine_tune.id, "method": method, "objective": objective,
        "base_model": run.fine_tune.base_model,
        "hyperparameters": stored_hyperparameters(hyperparameters, objective), "runtime": runtime.as_dict(),
        "seed": hyperparameters.seed, "assistant_only_loss": masking, "default_chat_template": default_template,
        "packing": packing,  # `packing` resolved: whether examples were packed in this run
        "padding_free": padding_free,  # `padding_free` resolved (true with packing)
        "attention": attention,  # the attention implementation trained with (packed_sdpa: packing on the CPU)
        "dataset": examples, "resumed_from": str(resume.relative_to(run.workspace.files.root)) if resume else None,
        "libraries": library_versions(), "written_at": utcnow().isoformat(),
    })


def _train(run: TrainingRun, files: RunFiles, method: str, hyperparameters: LocalHyperparameters,
           options: LocalOptions, runtime: Runtime, threads: dict[str, Any]) -> None:
    objective = options.method
    if objective == "dpo":
        train_rows, eval_rows = preference_pairs(run, "train"), preference_pairs(run, "eval")
    else:
        train_rows = read_chats(run.dataset_file("train", DATASET_FORMAT))
        if not train_rows:
            raise TrainingError("the project has no valid train examples")
        eval_rows = read_chats(run.dataset_file("eval", DATASET_FORMAT))
    resume = _resume_point(run, files, options)
    set_seed(hyperparameters.seed)
    tokenizer = load_tokenizer(run.fine_tune.base_model)
    default_template = ensure_chat_template(tokenizer)
    memory = None if options.ignore_memory_check else check_memory(
        base_model=run.fine_tune.base_model, method=method, objective=objective, hyperparameters=hyperparameters,
        runtime=runtime, seq_len=longest_sequence(tokenizer, train_rows, hyperparameters.max_seq_length))
    run.event("runtime", **runtime.as_dict(), **threads, **(memory or {}))
    model = load_model(run.fine_tune.base_model, method, runtime)
    masking: Masking | None = None  # DPO: trl scores the chosen and rejected answers' tokens only
    packing = padding_free = False  # DPO pads each pair (trl has no padding-free DPO)
    if objective != "dpo":
        masking = loss_masking(tokenizer)
        packing = resolve_packing(hyperparameters, model, masking)  # needs the loaded model's attention
        padding_free = resolve_padding_free(hyperparameters, model, masking, packing=packing)
        if padding_free and runtime.device == "cpu":
            use_packed_sdpa(model)  # each packed example's attention alone, where that is exact (packed_attention)
    _write_training_config(run, files, method, hyperparameters, runtime, objective=objective,
                           masking=masking or PREFERENCE_LOSS, packing=packing, padding_free=padding_free,
                           default_template=default_template,
                           attention=getattr(model.config, "_attn_implementation", None),
                           resume=resume, examples={"train_examples": len(train_rows), "eval_examples": len(eval_rows)})
    reporter = RunReporter(run, reported_steps(run), objective)
    if masking is None:
        trainer = dpo_trainer(model, tokenizer, base_model=run.fine_tune.base_model, method=method,
                              hyperparameters=hyperparameters, runtime=runtime, output_dir=files.root,
                              train=train_rows, evaluation=eval_rows, callbacks=[reporter])
    else:
        trainer = _sft_trainer(model, tokenizer, method, hyperparameters, runtime, files, reporter,
                               masking=masking, packing=packing, padding_free=padding_free, train_rows=train_rows,
                               eval_rows=eval_rows)
    trainer.remove_callback(PrinterCallback)  # the events are the log; no dict printed per step
    run.check_cancel()  # a cancel asked while the model was loading
    what = f"{len(train_rows)} preference pairs (DPO)" if objective == "dpo" else f"{len(train_rows)} examples"
    run.set_status(FineTuneStatus.TRAINING, f"training {method} on {what}"
                                            + ("" if eval_rows else " with no eval examples (no eval loss)")
                                            + (f", resumed from {resume.name}" if resume else ""))
    started = time.monotonic()
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    if reporter.cancelled:
        raise JobCancelledError("the fine-tuning was cancelled", fine_tune_id=run.fine_tune.id)
    trainer.save_model(str(files.final))
    history = history_from_log(trainer.state.log_history, objective)
    final = _final_metrics(run, trainer.state, history, time.monotonic() - started, objective)
    write_json(files.metrics, {**history, "final": final})
    run.report(progress=100.0, **final)
    run.register_model(artifact_path=f"{artifacts_key(run.fine_tune.id)}/final", metrics=final)


def _sft_trainer(model: Any, tokenizer: Any, method: str, hyperparameters: LocalHyperparameters, runtime: Runtime,
                 files: RunFiles, reporter: RunReporter, *, masking: Masking, packing: bool, padding_free: bool,
                 train_rows: list[dict[str, Any]], eval_rows: list[dict[str, Any]]) -> Any:
    train_dataset = build_dataset(train_rows, tokenizer, masking)
    eval_dataset = build_dataset(eval_rows, tokenizer, masking) if eval_rows else None
    collator = None  # trl's: padded batches, or padding-free rows with packing
    if padding_free and not packing:
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        collator = PaddingFreeCollator(pad, share_prefix=model.config._attn_implementation == PACKED_SDPA)
    return SFTTrainer(
        model=model, args=sft_config(hyperparameters, runtime, files.root, masking=masking,
                                     evaluate=eval_dataset is not None, packing=packing),
        train_dataset=train_dataset, eval_dataset=eval_dataset, processing_class=tokenizer, data_collator=collator,
        peft_config=None if method == "full" else lora_config(hyperparameters), callbacks=[reporter])


@contextmanager
def long_lived_objects_frozen() -> Iterator[None]:
    """Keep the objects that exist before a training out of the garbage collector's scans while it runs.

    Loading the model, building the trainer and the training loop allocate fast enough to trigger full
    collections, and each one walks every object of the process: with the core, its plugins, SQLAlchemy
    and pydantic loaded that is some 600,000. On a small model those scans made the loop ~15 % slower
    than a bare trl script, and the model's loading twice as slow. The objects are long-lived anyway
    (modules, settings, the workspace); they are handed back to the collector after.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _final_metrics(run: TrainingRun, state: Any, history: dict[str, list[dict[str, Any]]],
                   attempt_seconds: float, objective: str = "sft") -> dict[str, Any]:
    last_train = history["train"][-1] if history["train"] else {}
    last_eval = history["eval"][-1] if history["eval"] else {}
    started_at = run.fine_tune.started_at  # the first attempt's start: a resumed run counts all of its time
    duration = (utcnow() - started_at).total_seconds() if started_at else attempt_seconds
    final: dict[str, Any] = {"step": state.global_step, "total_steps": state.max_steps,
                             "epoch": round(float(state.epoch or 0.0), 4), "train_loss": last_train.get("train_loss"),
                             "duration_seconds": round(duration, 3), "attempt_seconds": round(attempt_seconds, 3)}
    final.update(preference_metrics(last_train))
    if last_eval:
        final.update(eval_loss=last_eval["eval_loss"], valid_loss=last_eval["eval_loss"])
        final.update(preference_metrics(last_eval, "eval_") if objective == "dpo"
                     else {"perplexity": perplexity(last_eval["eval_loss"])})
    return final
