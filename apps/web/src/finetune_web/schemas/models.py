"""Models as dualqueryintelligence shows them: fine-tuned results, registered by a run or entered by hand."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from finetune_core.domain import TrainedModel
from finetune_core.services.trained_models import MANUAL
from pydantic import BaseModel, BeforeValidator, Field, WithJsonSchema

from finetune_web.pagination import ListArgs
from finetune_web.schemas.common import ID_MAX

SCORES = ("accuracy", "f1_score", "loss")  # dualqueryintelligence's metrics, strings there
# a score written as text: a decimal number, short enough to stay finite
NUMBER_TEXT = r"^-?(?:[0-9]{1,15}(?:\.[0-9]{0,15})?|\.[0-9]{1,15})(?:[eE][+-]?[0-9]{1,2})?$"


def _number_or_text(value: Any) -> Any:
    """"0.95" is the number 0.95 (dualqueryintelligence sends scores as text); other text is refused."""
    if not isinstance(value, str):
        return value
    if re.fullmatch(NUMBER_TEXT, value) is None:
        raise ValueError('a number, or a number written as text ("0.95")')
    return float(value)


Score = Annotated[float, BeforeValidator(_number_or_text),
                  WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "string", "pattern": NUMBER_TEXT}]})]


class ModelCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    base_model: str = Field(min_length=1, max_length=300)
    version: str = Field(min_length=1, max_length=32)
    accuracy: Score | None = Field(None, allow_inf_nan=False, description='a number (or a numeric string: "0.95")')
    f1_score: Score | None = Field(None, allow_inf_nan=False)
    loss: Score | None = Field(None, allow_inf_nan=False)
    status: str = Field("ready", min_length=1, max_length=16)
    dataset_id: str | None = Field(None, min_length=1, max_length=64, description="the project it was trained on")
    provider: str = Field(MANUAL, min_length=1, max_length=64,
                          description="where it runs: openai, mistral, together... (manual: nowhere known)")
    provider_model_id: str | None = Field(None, min_length=1, max_length=300,
                                          description="its id there: ft:gpt-4o-mini:org::abc")


class ModelListArgs(ListArgs):
    dataset_id: str | None = Field(None, max_length=ID_MAX, description="only the models of this dataset (its project)")


def _score(metrics: dict[str, Any], name: str) -> str | None:
    value = metrics.get(name)
    if value is None and name == "loss":
        value = metrics.get("train_loss")
    return None if value is None else str(value)


class ModelOut(BaseModel):
    id: str
    user_id: str | None
    name: str
    base_model: str
    version: str
    accuracy: str | None
    f1_score: str | None
    loss: str | None = Field(description="the given loss, else the final train loss")
    status: str
    dataset_id: str | None
    provider: str
    provider_model_id: str | None
    fine_tune_id: str | None = Field(description="the fine-tuning that registered it; null when entered by hand")
    metrics: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, model: TrainedModel) -> ModelOut:
        metrics = model.metrics
        return cls(id=model.id, user_id=model.owner_id, name=model.name, base_model=model.base_model,
                   version=model.version, accuracy=_score(metrics, "accuracy"), f1_score=_score(metrics, "f1_score"),
                   loss=_score(metrics, "loss"), status=model.status, dataset_id=model.project_id,
                   provider=model.provider, provider_model_id=model.provider_model_id,
                   fine_tune_id=model.fine_tune_id, metrics=model.metrics, created_at=model.created_at)


class DeploymentCreate(BaseModel):
    confirm_cost_per_hour: float | None = Field(
        None, ge=0, allow_inf_nan=False,
        description="the hourly cost you accept (at least the estimate); without it, 409 DEPLOYMENT_COST_UNCONFIRMED "
                    "answers with the estimate and nothing is started")
    hardware: str | None = Field(None, min_length=1, max_length=100,
                                 description="the provider's hardware id (Together) or accelerator type (Fireworks)")


class DeploymentOut(BaseModel):
    model_id: str
    state: str = Field(description="none, pending, ready, stopping, stopped or failed")
    deployment_id: str | None = None
    hardware: str | None = None
    cost_per_hour: float | None = None
    currency: str | None = None
    chat_model: str | None = Field(None, description="the model name chats ask the provider for")
    provider_state: str | None = None
    message: str | None = None
