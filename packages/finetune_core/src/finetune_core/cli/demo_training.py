"""`finetune demo --train`: the loop closed on this machine — a LoRA of the embedded model (SmolLM2-135M-Instruct)
trained on the demo's dataset, on the CPU; the fine-tune evaluated against its base on questions about the
documents; then both asked the same question of the training set."""

from __future__ import annotations

from typing import Any

from finetune_core.cli.common import run_job
from finetune_core.cli.training import follow_fine_tune
from finetune_core.domain import FineTuneStatus
from finetune_core.errors import TrainingError
from finetune_core.services import answering, chats, curation, evaluation, fine_tunes

EMBEDDED = "embedded"
# about a minute on two CPU cores: enough steps for the 135M model to take the documents' facts in
HYPERPARAMETERS: dict[str, Any] = {"max_steps": 32, "per_device_batch_size": 4, "gradient_accumulation_steps": 1,
                                   "learning_rate": 2e-3, "max_seq_length": 256, "lora_r": 16, "eval_steps": 32,
                                   "save_steps": 32}  # tuned unpacked, the local trainer's default
EVALUATION_QUESTIONS = 8  # each asked of both models, on the CPU, as are as many held-out ones
ABSTENTION_QUESTIONS = 3
ANSWER_TOKENS = 64  # the references are a sentence or two; a longer answer only costs time
TARGET = 32  # examples generated when training: few enough for the steps above to go over each four times


def train_and_compare(workspace: Any, project_id: str) -> dict[str, Any] | None:
    """Train, then ask the base and the fine-tune one question of the training set; None where the local trainer
    or the embedded model is not installed. TrainingError when the training did not complete."""
    if "local" not in workspace.plugins.trainers or EMBEDDED not in workspace.plugins.chat_models:
        return None
    started = fine_tunes.create_fine_tune(workspace, project_id, trainer="local", base_model=EMBEDDED,
                                          method="lora", hyperparameters=HYPERPARAMETERS, name="demo LoRA")
    ended = follow_fine_tune(started)
    if ended.status is not FineTuneStatus.COMPLETED or ended.model_id is None:
        raise TrainingError(f"the demo's fine-tuning ended {ended.status.value}: {ended.error_message or ''}",
                            fine_tune_id=ended.id)
    evaluated = run_job(evaluation.EVALUATE_JOB, project_id, "Evaluating", models=[ended.model_id, EMBEDDED],
                        questions=EVALUATION_QUESTIONS, abstention=ABSTENTION_QUESTIONS, max_tokens=ANSWER_TOKENS)
    example = curation.list_examples(workspace, project_id, split="train", is_valid=True, limit=1)[0][0]
    answers = {}
    for label, reference in (("base", EMBEDDED), ("fine-tune", ended.model_id)):
        chat = chats.create_chat(workspace, None, model_id=reference, title=f"demo {label}")
        answers[label] = answering.send_message(workspace, chat.id, None, example.question)[1].content
    return {"fine_tune_id": ended.id, "model_id": ended.model_id, "seconds": ended.metrics.get("train_runtime"),
            "train_loss": ended.metrics.get("train_loss"), "question": example.question,
            "reference": example.answer, "answers": answers,
            "evaluation": evaluation.EvaluationResult.model_validate(evaluated.result_summary)}
