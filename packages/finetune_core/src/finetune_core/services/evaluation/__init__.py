"""Proof that a fine-tune helped: two or more chat models asked about the project's own documents.

    result = evaluate(workspace, project_id, models=["<model id>", "embedded"], judge="openai:gpt-4o-mini")
    result.scores("knowledge", "<model id>").metrics["token_f1"]     # Interval(mean, low, high, n)

- `question_sets`: knowledge questions from the project's generator about the facts trained on, checked disjoint
  from the training examples; the eval split's held-out questions; abstention questions about invented entities.
- `scoring`: token F1, ROUGE-L, the key fact's exact match, abstention; bootstrap intervals; win/tie/loss.
- `asking`: the models' answers, and a pairwise judge asked in both orders.
- `report`: the markdown report and PNG chart, in the file store under `<project id>/evaluations/<id>/`.
- `run`: `evaluate`, the `evaluate` job (`start_evaluation`, `evaluate_job`), `list_evaluations`, `default_models`.
"""

from __future__ import annotations

from finetune_core.services.evaluation.results import EvaluationResult, Interval, ModelScores, Record, SetResult
from finetune_core.services.evaluation.run import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_QUESTIONS,
    EVALUATE_JOB,
    MAX_ANSWER_TOKENS,
    MAX_QUESTIONS,
    check_request,
    default_models,
    evaluate,
    evaluate_job,
    list_evaluations,
    start_evaluation,
)

__all__ = ["DEFAULT_MAX_TOKENS", "DEFAULT_QUESTIONS", "EVALUATE_JOB", "MAX_ANSWER_TOKENS", "MAX_QUESTIONS",
           "EvaluationResult", "Interval", "ModelScores", "Record", "SetResult", "check_request", "default_models",
           "evaluate", "evaluate_job", "list_evaluations", "start_evaluation"]
