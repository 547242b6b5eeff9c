"""Deploying a hosted fine-tune on request, with the user's confirmation of its hourly cost, and stopping it.

    deploy(model, confirm_cost_per_hour=None)   409 DEPLOYMENT_COST_UNCONFIRMED with the estimate
                                                (hardware, cost_per_hour, currency): nothing is created
    deploy(model, confirm_cost_per_hour>=cost)  the deployment is created once (a deployment already running
                                                or starting is returned as is, not created again)
    deployment(model)                           the state, asked of the provider while it is not settled
    undeploy(model)                             stopped at the provider (no more billing)

The state lives in the model's `metrics["deployment"]` (no table of its own). Chats reach a deployed model
through `chat_target` (called by services/chat_targets.py): the provider's OpenAI-compatible server with the
deployment's model name and the owner's key for that provider; before it is ready, 409 MODEL_NOT_DEPLOYED.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finetune_core.domain import TrainedModel
from finetune_core.errors import ConflictError, MissingApiKeyError, NotSupportedError
from finetune_core.services import trained_models
from finetune_core.services.keys import resolve_key
from finetune_core.serving import PENDING, READY, RUNNING, STOPPED, STOPPING, Deployment, ModelHost

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort
    from finetune_core.services.chat_target import ChatTarget

KEY = "deployment"  # in TrainedModel.metrics
CHAT_MODEL = "openai-compatible"  # the chat model that calls a deployment: both providers speak Chat Completions


def hosted(workspace: WorkspacePort, model: TrainedModel) -> bool:
    """Whether an installed host deploys this model's provider."""
    return model.provider in workspace.plugins.model_hosts


def stored(model: TrainedModel) -> Deployment | None:
    data = model.metrics.get(KEY)
    return Deployment.of(data) if isinstance(data, dict) and data.get("deployment_id") else None


def describe(model: TrainedModel, deployment: Deployment | None) -> dict[str, Any]:
    """What routes and the CLI show: the state (`none` when never deployed) and the deployment's details."""
    if deployment is None:
        return {"model_id": model.id, "state": "none", "deployment_id": None, "hardware": None,
                "cost_per_hour": None, "currency": None, "chat_model": None, "provider_state": None, "message": None}
    data = deployment.as_dict()
    data.pop("extra", None)
    data.pop("chat_base_url", None)
    data.pop("host", None)
    return {"model_id": model.id, **data}


def deployment(workspace: WorkspacePort, model_id: str, owner_id: str | None) -> dict[str, Any]:
    """The model's deployment, refreshed from the provider while it is starting or stopping (`none`: no host)."""
    model = trained_models.owned_model(workspace, model_id, owner_id)  # 404 for another user's model
    if not hosted(workspace, model):
        return describe(model, None)
    return describe(model, _refresh(workspace, model, workspace.plugins.model_hosts.get(model.provider)))


def deploy(workspace: WorkspacePort, model_id: str, owner_id: str | None, *,
           confirm_cost_per_hour: float | None = None, hardware: str | None = None) -> dict[str, Any]:
    """Start the model's deployment once its estimated hourly cost is confirmed (see the module doc)."""
    model, host = _model_and_host(workspace, model_id, owner_id)
    current = _refresh(workspace, model, host)
    if current is not None and current.state in (PENDING, READY):
        return describe(model, current)  # already running or starting: never a second one
    if not model.provider_model_id:
        raise ConflictError(f"model '{model.id}' has no {host.label} model id to deploy", model_id=model.id)
    api_key = _key(workspace, host, owner_id)
    estimate = host.estimate(model, api_key=api_key, hardware=hardware)
    if confirm_cost_per_hour is None or confirm_cost_per_hour < estimate.cost_per_hour:
        confirm = f"{estimate.cost_per_hour:.2f}"
        raise ConflictError(
            f"deploying '{model.name}' on {host.label} ({estimate.hardware}) costs about {confirm} "
            f"{estimate.currency} per hour while it runs: confirm with confirm_cost_per_hour={confirm} "
            f"(CLI: finetune models deploy {model.id} --confirm-cost {confirm})",
            error_code="DEPLOYMENT_COST_UNCONFIRMED", model_id=model.id, confirmed=confirm_cost_per_hour,
            **estimate.as_dict())
    started = host.start(model, api_key=api_key, estimate=estimate, previous=current)
    return describe(model, _save(workspace, model, started))


def undeploy(workspace: WorkspacePort, model_id: str, owner_id: str | None) -> dict[str, Any]:
    """Stop the model's deployment (nothing to do when there is none, no host, or it is stopped)."""
    model = trained_models.owned_model(workspace, model_id, owner_id)
    current = stored(model)
    if current is None or current.state not in RUNNING or not hosted(workspace, model):
        return describe(model, current)
    host: ModelHost = workspace.plugins.model_hosts.get(model.provider)
    stopped = host.stop(model, current, api_key=_key(workspace, host, owner_id))
    return describe(model, _save(workspace, model, stopped))


def chat_target(workspace: WorkspacePort, model: TrainedModel, owner_id: str | None) -> ChatTarget:
    """The chat target of a deployed model; 409 MODEL_NOT_DEPLOYED until its deployment is ready."""
    from finetune_core.services.chat_target import ChatTarget

    host: ModelHost = workspace.plugins.model_hosts.get(model.provider)
    current = stored(model)
    if current is not None and current.state == PENDING:
        current = _refresh(workspace, model, host, owner_id=owner_id)
    if current is None or current.state != READY:
        state = current.state if current is not None else "none"
        raise ConflictError(
            f"model '{model.name}' is not deployed on {host.label} (deployment: {state}): deploy it with "
            f"POST /api/models/{model.id}/deployment or `finetune models deploy {model.id}`, then wait until it "
            f"is ready", error_code="MODEL_NOT_DEPLOYED", model_id=model.id, deployment_state=state)
    return ChatTarget(CHAT_MODEL, current.chat_model, base_url=current.chat_base_url, key_provider=host.key_provider)


# --- helpers ---------------------------------------------------------------------------------------
def _model_and_host(workspace: WorkspacePort, model_id: str, owner_id: str | None) -> tuple[TrainedModel, ModelHost]:
    model = trained_models.owned_model(workspace, model_id, owner_id)  # 404 for another user's model
    hosts = workspace.plugins.model_hosts
    if model.provider not in hosts:
        known = ", ".join(hosts.names()) or "none installed"
        raise NotSupportedError(f"models of provider '{model.provider}' cannot be deployed here (hosts: {known})",
                                model_id=model.id, provider=model.provider)
    return model, hosts.get(model.provider)


def _key(workspace: WorkspacePort, host: ModelHost, owner_id: str | None) -> str:
    key = resolve_key(workspace, host.key_provider, owner_id=owner_id)
    if key is None:
        raise MissingApiKeyError(f"no {host.label} API key: store one (finetune keys set {host.key_provider}, or "
                                 f"PUT /api/keys/{host.key_provider})", provider=host.key_provider)
    return key


def _refresh(workspace: WorkspacePort, model: TrainedModel, host: ModelHost, *,
             owner_id: str | None = None) -> Deployment | None:
    current = stored(model)
    if current is None or current.state not in (PENDING, STOPPING):
        return current
    seen = host.status(model, current, api_key=_key(workspace, host, owner_id or model.owner_id))
    return _save(workspace, model, seen) if seen != current else current


def _save(workspace: WorkspacePort, model: TrainedModel, deployment: Deployment) -> Deployment:
    with workspace.unit_of_work() as uow:
        fresh = uow.models.get(model.id)
        metrics = {**fresh.metrics, KEY: deployment.as_dict()}
        uow.models.set_metrics(model.id, metrics)
    model.metrics = metrics
    return deployment


__all__ = ["CHAT_MODEL", "KEY", "STOPPED", "chat_target", "deploy", "deployment", "describe", "hosted", "stored",
           "undeploy"]
