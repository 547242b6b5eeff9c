"""Agents (foyergpt): a system prompt and a model of their owner, private or public.

Another user's private agent does not exist for the caller (NotFoundError); a public one is readable by all but
writable by its owner only (PermissionDeniedError, 403). Each owner has at most MAX_AGENTS, counted in the
transaction that adds one. Deleting an agent deletes its documents; its chats keep their history.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finetune_core.domain import Agent
from finetune_core.errors import ConflictError, NotFoundError, PermissionDeniedError
from finetune_core.services import chat_targets

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort

MAX_AGENTS = 50
EDITABLE = ("name", "description", "system_prompt", "model", "temperature", "is_public", "avatar_url",
            "learn_from_interaction", "learn_policy")
DEFAULT_ASSISTANT = {"name": "Assistant", "description": "the default assistant",
                     "system_prompt": "You are a helpful assistant. Answer briefly and truthfully."}


def create_agent(workspace: WorkspacePort, owner_id: str | None, *, name: str, **fields: Any) -> Agent:
    """A new agent of `owner_id`; its `model` is checked (404 MODEL_NOT_FOUND); 409 AGENT_LIMIT_REACHED at 50."""
    chat_targets.resolve(workspace, fields.get("model"), owner_id)
    agent = Agent(owner_id=owner_id, name=name, **{key: value for key, value in fields.items() if value is not None})
    with workspace.unit_of_work() as uow:
        if uow.agents.count_of(owner_id) >= MAX_AGENTS:
            raise ConflictError(f"you have {MAX_AGENTS} agents already, the most one user may have: delete one "
                                f"first", error_code="AGENT_LIMIT_REACHED", limit=MAX_AGENTS)
        return uow.agents.add(agent)


def readable_agent(workspace: WorkspacePort, agent_id: str, viewer_id: str | None) -> Agent:
    """The agent if `viewer_id` owns it or it is public (None: the local user, who sees all); else NotFoundError."""
    with workspace.unit_of_work() as uow:
        agent = uow.agents.get(agent_id)
    if viewer_id is not None and agent.owner_id != viewer_id and not agent.is_public:
        raise NotFoundError(f"agent '{agent_id}' not found", agent_id=agent_id)
    return agent


def owned_agent(workspace: WorkspacePort, agent_id: str, owner_id: str | None) -> Agent:
    """The agent if `owner_id` may change it: 404 when they cannot see it, 403 when it is another's public one."""
    agent = readable_agent(workspace, agent_id, owner_id)
    if owner_id is not None and agent.owner_id != owner_id:
        raise PermissionDeniedError(f"agent '{agent_id}' is another user's: it can be used, not changed",
                                    agent_id=agent_id)
    return agent


def public_agents(workspace: WorkspacePort, *, limit: int = 50, offset: int = 0) -> tuple[list[Agent], int]:
    with workspace.unit_of_work() as uow:
        return uow.agents.search(public=True, limit=limit, offset=offset)


def my_agents(workspace: WorkspacePort, owner_id: str | None, *, limit: int = 50, offset: int = 0
              ) -> tuple[list[Agent], int]:
    with workspace.unit_of_work() as uow:
        return uow.agents.search(owner_id=owner_id, limit=limit, offset=offset)


def update_agent(workspace: WorkspacePort, agent_id: str, owner_id: str | None, **changes: Any) -> Agent:
    """Change the given fields (a partial update: None leaves a field as it is)."""
    owned_agent(workspace, agent_id, owner_id)
    values = {key: value for key, value in changes.items() if key in EDITABLE and value is not None}
    if "model" in values:
        chat_targets.resolve(workspace, values["model"], owner_id)
    with workspace.unit_of_work() as uow:
        agent = uow.agents.get(agent_id)
        for key, value in values.items():
            setattr(agent, key, value)
        return uow.agents.save(Agent.model_validate(agent.model_dump()))


def delete_agent(workspace: WorkspacePort, agent_id: str, owner_id: str | None) -> None:
    """Delete the agent and its documents; its chats stay, with their history."""
    from finetune_core.services import attachments  # attachments checks agents: imported here, not at the top

    owned_agent(workspace, agent_id, owner_id)
    attachments.delete_documents_of(workspace, owner_id, "agent", agent_id)
    with workspace.unit_of_work() as uow:
        uow.agents.delete(agent_id)


def default_agent(workspace: WorkspacePort, owner_id: str | None) -> Agent:
    """The owner's default assistant (crealia's chat), made on first use."""
    with workspace.unit_of_work() as uow:
        found = uow.agents.default_of(owner_id)
        if found is not None:
            return found
        return uow.agents.add(Agent(owner_id=owner_id, is_default=True, **DEFAULT_ASSISTANT))
