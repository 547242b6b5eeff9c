"""What an evaluation returns (and its job's result summary holds): per question set and model, each metric's mean
with its 95 % confidence interval, win/tie/loss against the first model, and the questions side by side."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from finetune_core.domain.common import utcnow

SetName = Literal["knowledge", "held_out", "abstention"]


class Interval(BaseModel):
    """A metric's mean over a set's questions and its 95 % confidence interval (seeded percentile bootstrap)."""

    mean: float
    low: float
    high: float
    n: int


class Record(BaseModel):
    """How often a model beat (`wins`), matched (`ties`) or lost to (`losses`) the first model, question by question."""

    wins: int = 0
    ties: int = 0
    losses: int = 0


class ModelScores(BaseModel):
    """One model's figures on one set: `metrics` by name (token_f1, rouge_l, exact_match; abstained), `versus_first`
    by how the comparison was made (the set's main metric; `judge`: pairwise, both orders agreeing)."""

    model: str  # the reference as given
    label: str  # the chat model that answered
    metrics: dict[str, Interval] = Field(default_factory=dict)
    versus_first: dict[str, Record] = Field(default_factory=dict)
    failed: int = 0  # questions the model could not be asked (after its retries): scored as empty answers


class Answered(BaseModel):
    """One question, its reference (none for the abstention set), and each model's answer with its scores."""

    question: str
    reference: str | None = None
    key_fact: str | None = None
    source: str | None = None
    answers: dict[str, str] = Field(default_factory=dict)  # by model reference
    scores: dict[str, dict[str, float]] = Field(default_factory=dict)  # by model reference, then metric


class SetResult(BaseModel):
    name: SetName
    main_metric: str
    models: list[ModelScores]
    questions: list[Answered]


class EvaluationResult(BaseModel):
    """Knowledge questions (new questions about the facts trained on, checked disjoint from the training examples),
    held-out questions (the eval split's, on documents the training never saw) and abstention questions (about
    invented facts), asked to each model."""

    id: str
    project_id: str
    models: list[str]  # references; the first is the one the others are compared with
    judge: str | None = None
    record_model_id: str | None = None  # the TrainedModel whose metrics took the first model's figures
    # training_chunks or all_chunks (see question_sets.KnowledgeSource); eval_split and held_out_examples: results
    # stored before the held-out set was a set of its own
    knowledge_source: Literal["training_chunks", "all_chunks", "eval_split", "held_out_examples"]
    candidates: int  # knowledge questions the generator gave
    dropped_near_duplicates: int  # of them, near-duplicates of a training example's question
    dropped_off_training: int = 0  # of them, about a passage no training example's evidence holds
    sets: list[SetResult]
    report_path: str  # in the workspace's file store
    chart_path: str
    created_at: datetime = Field(default_factory=utcnow)

    def scores(self, set_name: SetName, model: str) -> ModelScores:
        """One model's figures on one set (KeyError when it was not evaluated)."""
        found = next((item for item in self.sets if item.name == set_name), None)
        for scores in found.models if found is not None else []:
            if scores.model == model:
                return scores
        raise KeyError(model)
