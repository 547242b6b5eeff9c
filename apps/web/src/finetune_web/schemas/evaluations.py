"""An evaluation of chat models on a project's documents: the request, and the list of evaluation jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from finetune_core.domain import Job, JobStatus
from finetune_core.services.evaluation import DEFAULT_MAX_TOKENS, DEFAULT_QUESTIONS, MAX_ANSWER_TOKENS, MAX_QUESTIONS
from pydantic import BaseModel, Field

from finetune_web.pagination import ListArgs, Page

REFERENCE_MAX = 500
Reference = Annotated[str, Field(min_length=1, max_length=REFERENCE_MAX)]


class EvaluateBody(BaseModel):
    models: list[Reference] | None = Field(
        None, min_length=2, max_length=6, description="chat model references, as agents name them (a model id, "
        "`embedded`, `openai:gpt-4o-mini`, `openai-compatible:llama3@http://host/v1`); the first is compared with the "
        "others. Default: the project's latest finished fine-tune's model and its base")
    judge: Reference | None = Field(None, description="a chat model comparing each pair of answers, in both orders")
    questions: int = Field(DEFAULT_QUESTIONS, ge=1, le=MAX_QUESTIONS, description="knowledge questions to ask")
    abstention: int = Field(5, ge=0, le=100, description="questions about invented facts, which a good model declines")
    max_tokens: int = Field(DEFAULT_MAX_TOKENS, ge=1, le=MAX_ANSWER_TOKENS,
                            description="the most tokens of each answer (the held-out set's questions come too)")
    model_id: str | None = Field(None, min_length=1, max_length=64,
                                 description="the model whose metrics take the first model's figures (default: the "
                                             "first model, when it is one of yours)")


class EvaluationListArgs(ListArgs):
    pass


class EvaluationOut(BaseModel):
    """One evaluation job; `result` is the evaluation once it succeeded (sets, models, intervals, questions)."""

    job_id: str
    status: JobStatus
    progress_pct: float
    params: dict[str, Any]
    result: dict[str, Any] | None
    error_message: str | None
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, job: Job) -> EvaluationOut:
        succeeded = job.status is JobStatus.SUCCESS
        return cls(job_id=job.id, status=job.status, progress_pct=job.progress_pct, params=job.params,
                   result=job.result_summary if succeeded else None, error_message=job.error_message,
                   created_at=job.created_at, finished_at=job.finished_at)


EvaluationPage = Page[EvaluationOut]
