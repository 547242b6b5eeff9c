"""What a local fine-tuning accepts: its hyperparameters (finetuneflow §8 names and defaults) and options.

Both are checked when the fine-tuning is created, so a typo or an impossible value fails with
InvalidInputError before anything is stored; the stored hyperparameters are the full set, defaults
filled in, so the run and its export say exactly what was used. Nothing here imports torch.

The option `method` is the training objective, as for the hosted trainers: `sft` (supervised, the default) or
`dpo` (direct preference optimization on the project's ranked preference pairs). It is not the request's own
`method` (lora, qlora, full), which says which weights train. `beta` (DPO's KL penalty) is a hyperparameter
of `dpo` only: refused with `sft`, and stored only for a `dpo` run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from finetune_core.errors import InvalidInputError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Auto = Literal["auto"]
StepsOrRatio = int | float  # an int >= 1 is a number of steps; a float in (0, 1) a fraction of all steps
DEVICE_PATTERN = r"^(cpu|cuda|mps|xpu|npu|hpu)$"
Objective = Literal["sft", "dpo"]
OBJECTIVES: tuple[str, ...] = ("sft", "dpo")
DPO_ONLY = ("beta",)  # hyperparameters only a `dpo` run takes


class LocalHyperparameters(BaseModel):
    """The hyperparameters of the `local` trainer; unknown names are refused."""

    model_config = ConfigDict(extra="forbid")

    num_epochs: float = Field(3, gt=0, le=1000)
    learning_rate: float = Field(2e-4, gt=0, le=1)
    per_device_batch_size: int = Field(4, ge=1, le=4096)
    gradient_accumulation_steps: int = Field(4, ge=1, le=4096)
    max_seq_length: int = Field(2048, ge=8, le=1_048_576)
    lora_r: int = Field(16, ge=1, le=4096)
    lora_alpha: int = Field(32, gt=0)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    lora_target_modules: str | list[str] = "all-linear"
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    weight_decay: float = Field(0.01, ge=0, le=10)
    seed: int = Field(42, ge=0, le=2**32 - 1)
    max_steps: int | None = Field(None, ge=1)  # set: train this many optimizer steps, whatever num_epochs says
    logging_steps: int = Field(1, ge=1)
    eval_steps: StepsOrRatio = Field(0.1, gt=0)
    save_steps: StepsOrRatio = Field(0.1, gt=0)
    save_total_limit: int = Field(2, ge=1)  # checkpoints kept on disk (the last ones)
    bf16: bool | Auto = "auto"  # auto: on a GPU that has it
    fp16: bool | Auto = "auto"  # auto: on a CUDA GPU without bf16
    gradient_checkpointing: bool | Auto = "auto"  # auto: on a GPU (memory), off on the CPU (speed)
    # Padding-free batches: each step's examples (the batches padded training would make) end to end in one row,
    # each attending only to itself (position ids restarting at 0 per example), nothing padded; on the CPU the prefix
    # all of a batch's examples share (a system prompt) is computed once (training/padding_free.py). The same steps
    # and loss as padded, less work; auto: on where that is exact (model.resolve_padding_free), else padded.
    padding_free: bool | Auto = "auto"
    # Packing: rows of up to max_seq_length tokens filled with as many whole examples as fit (best-fit decreasing),
    # padding-free within each row. A "row" of per_device_batch_size is then a packed sequence, so a step trains on
    # more examples than per_device_batch_size and an epoch has fewer, fuller steps: a small dataset packs into a
    # few rows and the same epochs become a handful of optimizer steps, hence off unless asked (true, or auto: on
    # where exact). On 2 CPU cores the embedded 135M model trained no faster per token packed than in
    # padding-free batches (fuller rows, no fewer tokens).
    packing: bool | Auto = False
    # dpo: how far the trained model may move from the reference (the base model, adapter disabled); trl's default
    beta: float = Field(0.1, gt=0, le=100)

    @model_validator(mode="after")
    def _coherent(self) -> LocalHyperparameters:
        for name in ("eval_steps", "save_steps"):
            value = getattr(self, name)
            if isinstance(value, float) and value.is_integer():
                setattr(self, name, int(value))
            elif isinstance(value, float) and value >= 1:
                raise ValueError(f"{name} is a whole number of steps or a fraction of all steps below 1")
        if self.bf16 is True and self.fp16 is True:
            raise ValueError("bf16 and fp16 cannot both be on")
        return self


class LocalOptions(BaseModel):
    """The options of the `local` trainer."""

    model_config = ConfigDict(extra="forbid")

    device: str | None = Field(None, pattern=DEVICE_PATTERN)  # None: cuda where available, else cpu
    resume_from: str | None = Field(None, min_length=1)  # a fine-tuning id whose last checkpoint to continue
    method: Objective = "sft"  # the training objective: supervised, or preference pairs (DPO)
    # CPU runs: torch's intra-op threads; None: the cores free when the run starts (training.threads), or
    # OMP_NUM_THREADS where the environment sets it
    cpu_threads: int | None = Field(None, ge=1, le=4096)
    ignore_memory_check: bool = False  # train even where the memory estimate exceeds the free memory (memory.py)


def _problems(exc: ValidationError) -> str:
    """One clause per field: "learning_rate: Input should be greater than 0"."""
    clauses: dict[str, list[str]] = {}
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "value"
        clauses.setdefault(name, []).append(error["msg"].removeprefix("Value error, "))
    return "; ".join(f"{name}: {' or '.join(messages)}" for name, messages in clauses.items())


def _parse(model: type[BaseModel], kind: str, values: Mapping[str, Any]) -> Any:
    unknown = sorted(set(values) - set(model.model_fields))
    if unknown:
        raise InvalidInputError(f"the Local trainer has no {kind} {', '.join(map(repr, unknown))} "
                                f"(accepted: {', '.join(model.model_fields)})", unknown=unknown)
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        raise InvalidInputError(f"invalid {kind}s for the Local trainer: {_problems(exc)}") from None


def parse_hyperparameters(values: Mapping[str, Any]) -> LocalHyperparameters:
    """`values` checked, defaults filled; InvalidInputError naming what is wrong."""
    checked: LocalHyperparameters = _parse(LocalHyperparameters, "hyperparameter", values)
    return checked


def parse_options(values: Mapping[str, Any]) -> LocalOptions:
    checked: LocalOptions = _parse(LocalOptions, "option", values)
    return checked


def check_objective(hyperparameters: Mapping[str, Any], parsed: LocalHyperparameters, objective: str) -> None:
    """InvalidInputError for what the objective cannot use: `beta` asked for `sft`, packing or padding_free
    asked for `dpo`."""
    if objective != "dpo":
        misplaced = sorted(name for name in DPO_ONLY if name in hyperparameters)
        if misplaced:
            raise InvalidInputError(f"the Local hyperparameters {', '.join(map(repr, misplaced))} are for the option "
                                    f"method='dpo' only (this fine-tuning is method='{objective}')",
                                    hyperparameters=misplaced)
    else:
        for name in ("packing", "padding_free"):
            if getattr(parsed, name) is True:
                raise InvalidInputError(f"{name} is for the option method='sft' only: a DPO run pads each pair (set "
                                        f"{name} to false or auto)", hyperparameter=name)


def stored_hyperparameters(parsed: LocalHyperparameters, objective: str) -> dict[str, Any]:
    """The full set to store, defaults filled; those of the other objective left out (no `beta` on `sft`)."""
    return parsed.model_dump(mode="json", exclude=set(DPO_ONLY) if objective != "dpo" else None)
