"""Which chat model answers: a reference as agents and chats name it, resolved to a registered chat model.

    None or ""            the workspace's default chat model (`Settings.default_chat_model`: "embedded", the
                          local-GPU plugin's SmolLM2-135M-Instruct, offline and keyless)
    "openai"              a registered chat model with its own default model
    "openai:gpt-4o-mini"  a registered chat model and the model it asks for
    "openai-compatible:llama3@http://host:11434/v1"
                          ... and the server it asks (checked like every model server a user names:
                          services/model_access.py; an account's is checked as a web client's)
    "<model id>"          one of the owner's models (services/trained_models.py): a provider's fine-tune through
                          that provider's chat model, a local adapter through the embedded model with the adapter,
                          a model whose provider is a keyless chat model ("embedded") and no provider_model_id
                          through that chat model's own model, a Together/Fireworks fine-tune through its
                          deployment once ready (services/model_hosting.py; before: 409 MODEL_NOT_DEPLOYED)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finetune_core.chat.base import ChatModel, ChatSettings
from finetune_core.errors import NotFoundError
from finetune_core.services.chat_target import ChatTarget as ChatTarget
from finetune_core.services.keys import resolve_key
from finetune_core.services.model_access import Origin, check_model_url

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort

LOCAL_PROVIDER = "local"
EMBEDDED = "embedded"  # the local-GPU plugin's chat model, which serves local adapters of its weights


def resolve(workspace: WorkspacePort, reference: str | None, owner_id: str | None) -> ChatTarget:
    """The chat model `reference` names for `owner_id`; NotFoundError (404 MODEL_NOT_FOUND) when none does."""
    reference = (reference or "").strip() or workspace.settings.default_chat_model
    registered = workspace.plugins.chat_models
    name, _, model = reference.partition(":")
    if name in registered:
        model, _, base_url = model.partition("@")
        if base_url:
            # the local single user (no owner) names any server, an account's user one the operator allows
            check_model_url(workspace.settings, base_url, Origin.LOCAL if owner_id is None else Origin.REMOTE)
        return ChatTarget(name, model or None, base_url=base_url or None)
    trained = _owned_trained_model(workspace, reference, owner_id)
    if trained is not None:
        if trained.provider == LOCAL_PROVIDER and trained.artifact_path:
            adapter = workspace.files.root / trained.artifact_path
            # the embedded chat model serves adapters of its own weights (trained with base_model "embedded")
            return ChatTarget(EMBEDDED, None, {"adapter": str(adapter), "base_model": trained.base_model})
        if trained.provider in workspace.plugins.model_hosts:  # Together/Fireworks: once deployed
            from finetune_core.services import model_hosting

            return model_hosting.chat_target(workspace, trained, owner_id)
        if trained.provider in registered and trained.provider_model_id:
            return ChatTarget(trained.provider, trained.provider_model_id)
        if trained.provider in registered and registered.get(trained.provider).key_provider is None:
            return ChatTarget(trained.provider)  # a keyless chat model's own model ("embedded": SmolLM2 itself)
    known = ", ".join(sorted(registered.names())) or "none installed"
    raise NotFoundError(f"no chat model '{reference}': name a registered chat model ({known}), optionally "
                        f"with ':model', or one of your models' ids", error_code="MODEL_NOT_FOUND", model=reference)


def _owned_trained_model(workspace: WorkspacePort, model_id: str, owner_id: str | None) -> Any:
    with workspace.unit_of_work() as uow:
        try:
            found = uow.models.get(model_id)
        except NotFoundError:
            return None
    return found if owner_id is None or found.owner_id == owner_id else None


def build(workspace: WorkspacePort, target: ChatTarget, owner_id: str | None, **settings: Any) -> ChatModel:
    """The chat model instance, with the owner's provider key where it needs one."""
    model_type: type[ChatModel] = workspace.plugins.chat_models.get(target.registry_name)
    values: dict[str, Any] = {"model": target.model, **settings}
    if target.base_url:
        values["base_url"] = target.base_url
    if target.extra:
        values["extra"] = {**target.extra, **values.get("extra", {})}
    key_provider = target.key_provider or model_type.key_provider
    if key_provider:
        values["api_key"] = resolve_key(workspace, key_provider, owner_id=owner_id)
    return model_type(ChatSettings.model_validate(values))
