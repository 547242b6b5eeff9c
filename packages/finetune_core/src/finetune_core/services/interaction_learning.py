"""Learning from interaction (foyergpt's `learn_from_interaction`): finished exchanges with an agent become
candidate examples in a dataset of the agent's owner.

Each agent that learns gets a project of its owner ("Learned from <agent>", `config.purpose = "interaction"`,
`config.agent_id`), made on its first example. An exchange joins it when the agent learns and
- its policy is `all`: as soon as it is stored;
- its policy is `rated` (the default): when the answer is rated 4 or 5.
The example is the exchange in `messages` form (the agent's prompt as system message), with the chat as its
source (`metadata.chat_id`, `message_id`) and `metadata.review = "pending"`; the project is then curated, so it
goes through the same validators and split as generated examples. Only exchanges in the agent owner's own chats
are learned: another user's would need that user's consent, which this version does not record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from finetune_core.chunking.tokenizers import get_tokenizer
from finetune_core.domain import Agent, ChatMessage, Example, Message, Project
from finetune_core.errors import NotFoundError
from finetune_core.services import chats, projects
from finetune_core.services.curation import curate_project

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort

PURPOSE = "interaction"
GENERATOR = "interaction"
WELL_RATED = 4
REQUEST_PREFIX = "chat:"


def rate_answer(workspace: WorkspacePort, message_id: str, owner_id: str | None, rating: int) -> ChatMessage:
    """Rate an answer 1-5; a well-rated answer of a learning agent becomes a candidate example."""
    rated = chats.rate_message(workspace, message_id, owner_id, rating)
    if rating >= WELL_RATED:
        learn(workspace, rated, policy="rated")
    return rated


def learn(workspace: WorkspacePort, answer: ChatMessage, *, policy: str) -> Example | None:
    """Add the exchange `answer` ends as a candidate example when its agent learns under `policy`; else None."""
    with workspace.unit_of_work() as uow:
        chat = uow.chats.get(answer.chat_id)
        try:
            agent = uow.agents.get(chat.agent_id) if chat.agent_id else None
        except NotFoundError:
            agent = None
        question = uow.chats.message(answer.reply_to) if answer.reply_to else None
    if (agent is None or question is None or not agent.learn_from_interaction or agent.learn_policy != policy
            or chat.owner_id != agent.owner_id):
        return None
    project = _learning_project(workspace, agent)
    messages = ([Message(role="system", content=agent.system_prompt)] if agent.system_prompt else []) + [
        Message(role="user", content=question.content), Message(role="assistant", content=answer.content)]
    tokenizer = get_tokenizer(project.config.tokenizer)
    example = Example(
        project_id=project.id, request_key=f"{REQUEST_PREFIX}{answer.id}", messages=messages, generator=GENERATOR,
        token_count=tokenizer.count("\n".join(message.content for message in messages)),
        metadata={"chat_id": chat.id, "message_id": answer.id, "agent_id": agent.id, "rating": answer.rating,
                  "review": "pending", "requires_evidence": False, "draft_errors": []})
    with workspace.unit_of_work() as uow:
        if uow.examples.add([example]) == 0:
            return None  # learned already (a second rating of the same answer)
    curate_project(workspace, project.id)
    return example


def _learning_project(workspace: WorkspacePort, agent: Agent) -> Project:
    with workspace.unit_of_work() as uow:
        owned, _ = uow.projects.search(owner_id=agent.owner_id, limit=None)
    for project in sorted(owned, key=lambda project: project.created_at):
        extra = project.config.model_extra or {}
        if extra.get("purpose") == PURPOSE and extra.get("agent_id") == agent.id:
            return project
    return projects.create_project(workspace, f"Learned from {agent.name}"[:200], task_type="conversation",
                                   description=f"exchanges with the agent {agent.name}, to review",
                                   config={"purpose": PURPOSE, "agent_id": agent.id}, owner_id=agent.owner_id)
