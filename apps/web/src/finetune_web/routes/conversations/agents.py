"""Agents (foyergpt): public ones for all to read, the caller's own to change."""

from __future__ import annotations

import contextlib
from typing import Any

from finetune_core.domain import Agent
from finetune_core.errors import NotFoundError
from finetune_core.services import agents, users
from flask.views import MethodView

from finetune_web.current import caller, workspace
from finetune_web.openapi import ApiBlueprint
from finetune_web.pagination import ListArgs, page
from finetune_web.schemas.bridge import schema_for
from finetune_web.schemas.conversations import AgentCreate, AgentOut, AgentPage, AgentUpdate

blp = ApiBlueprint("agents", __name__, url_prefix="/api/agents",
                   description="Agents (foyergpt): a system prompt and a model that answer in chats")


def agent_out(agent: Agent) -> AgentOut:
    trigramme = None
    if agent.owner_id is not None:
        with contextlib.suppress(NotFoundError):  # an owner deleted since
            trigramme = users.get_user(workspace(), agent.owner_id).trigramme
    return AgentOut.of(agent, trigramme)


def agent_page(found: list[Agent], total: int, args: ListArgs) -> dict[str, Any]:
    items = [agent_out(agent) for agent in found]
    return page(items, total, args, agents=items)


@blp.route("")
class Agents(MethodView):
    @blp.arguments(schema_for(ListArgs), location="query")
    @blp.response(200, schema_for(AgentPage))
    def get(self, args: ListArgs) -> dict[str, Any]:
        """The public agents, newest first"""
        found, total = agents.public_agents(workspace(), limit=args.limit, offset=args.offset)
        return agent_page(found, total, args)

    @blp.arguments(schema_for(AgentCreate))
    @blp.response(201, schema_for(AgentOut))
    def post(self, body: AgentCreate) -> AgentOut:
        """Create an agent (50 a user: 409 AGENT_LIMIT_REACHED; 404 MODEL_NOT_FOUND for a model nobody serves)"""
        agent = agents.create_agent(workspace(), caller().owner_id, **body.model_dump())
        return agent_out(agent)


@blp.route("/my")
class MyAgents(MethodView):
    @blp.arguments(schema_for(ListArgs), location="query")
    @blp.response(200, schema_for(AgentPage))
    def get(self, args: ListArgs) -> dict[str, Any]:
        """The caller's agents, newest first"""
        found, total = agents.my_agents(workspace(), caller().owner_id, limit=args.limit, offset=args.offset)
        return agent_page(found, total, args)


@blp.route("/<agent_id>")
class AgentItem(MethodView):
    @blp.response(200, schema_for(AgentOut))
    def get(self, agent_id: str) -> AgentOut:
        """One agent: the caller's, or a public one"""
        return agent_out(agents.readable_agent(workspace(), agent_id, caller().owner_id))

    @blp.arguments(schema_for(AgentUpdate))
    @blp.response(200, schema_for(AgentOut))
    def put(self, body: AgentUpdate, agent_id: str) -> AgentOut:
        """Change an agent partially (its owner only: 403 for another user's public agent)"""
        return agent_out(agents.update_agent(workspace(), agent_id, caller().owner_id,
                                             **body.model_dump(exclude_unset=True)))

    patch = put

    @blp.response(204)
    def delete(self, agent_id: str) -> None:
        """Delete an agent and its documents (its owner only); its chats keep their history"""
        agents.delete_agent(workspace(), agent_id, caller().owner_id)
