"""The `local` trainer: LoRA, QLoRA or full fine-tuning on this machine with transformers, peft and trl.

The option `method` picks the objective: `sft` (the default: trl's SFTTrainer on the project's chats; a
preference project's ranked examples are their prompt and CHOSEN answer, as the chat exports write them) or
`dpo` (trl's DPOTrainer on the project's ranked preference pairs, the rows of the `dpo` export). A `dpo`
fine-tuning of a project without one ranked pair in its train split is refused when it is created
(`NO_PREFERENCE_PAIRS`, by the core for every trainer), and again by the run before the model is loaded.

Light on import (plugin loading imports this module on every `finetune` command): torch and the
Hugging Face libraries are imported by `check` for QLoRA's probe and by `train`, never here.
"""

from __future__ import annotations

from typing import ClassVar

from finetune_core.domain import FineTuneStatus
from finetune_core.errors import InvalidInputError
from finetune_core.training import FineTuneRequest, Trainer, TrainingRun

from finetune_local_gpu.training.hyperparameters import (
    OBJECTIVES,
    check_objective,
    parse_hyperparameters,
    parse_options,
    stored_hyperparameters,
)


class LocalTrainer(Trainer):
    """Fine-tunes a local folder or Hugging Face model on the project's train split, evaluating on its eval split."""

    name: ClassVar[str] = "local"
    label: ClassVar[str] = "Local"
    methods: ClassVar[tuple[str, ...]] = ("lora", "qlora", "full")
    default_method: ClassVar[str | None] = "lora"
    queue: ClassVar[str] = "gpu"
    key_provider: ClassVar[str | None] = None
    export_format: ClassVar[str] = "openai"  # {"messages": [...]} per line: what the chat template renders

    @classmethod
    def check(cls, request: FineTuneRequest) -> FineTuneRequest:
        """Hyperparameters and options checked (defaults filled); QLoRA refused where 4-bit cannot run."""
        if request.method in OBJECTIVES:
            raise InvalidInputError(f"the {cls.label} trainer has no method '{request.method}' (accepted: "
                                    f"{', '.join(cls.methods)}); SFT or DPO is chosen with the option `method` "
                                    f"(--option method={request.method})", method=request.method)
        request = super().check(request)
        hyperparameters = parse_hyperparameters(request.hyperparameters)
        options = parse_options(request.options)
        check_objective(request.hyperparameters, hyperparameters, options.method)
        if request.method == "qlora":
            from finetune_local_gpu.training.runtime import require_4bit

            require_4bit(options.device)
        return request.model_copy(update={"hyperparameters": stored_hyperparameters(hyperparameters, options.method),
                                          "options": options.model_dump(exclude_none=True)})

    def train(self, run: TrainingRun) -> None:
        run.set_status(FineTuneStatus.PREPARING)  # before the seconds of importing torch and trl
        from finetune_local_gpu.training.session import run_training

        run_training(run, parse_hyperparameters(run.fine_tune.hyperparameters), parse_options(self.options))
