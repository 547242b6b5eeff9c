"""Agents, chats and their messages (foyergpt, dualqueryintelligence, crealia's assistant)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from finetune_core.domain.common import new_id, utcnow

ChatRole = Literal["user", "assistant", "system"]
QueryType = Literal["general", "analytics"]
LearnPolicy = Literal["rated", "all"]
MAX_MESSAGE_CHARS = 4000


class Agent(BaseModel):
    """A system prompt and a model that answer in chats; public agents are readable by every user."""

    id: str = Field(default_factory=new_id)
    owner_id: str | None = None
    name: str
    description: str | None = None
    system_prompt: str | None = None
    model: str | None = None  # a chat model reference ("embedded", "openai:gpt-4o-mini", a model id...)
    temperature: float = 0.7
    is_public: bool = False
    avatar_url: str | None = None
    learn_from_interaction: bool = False
    learn_policy: LearnPolicy = "rated"  # which exchanges become candidate examples: well rated ones, or all
    is_default: bool = False  # the assistant of crealia's /api/chat routes, one per owner
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Chat(BaseModel):
    """A conversation of its owner, with an agent (foyergpt), a model and a table (dualqueryintelligence), or both."""

    id: str = Field(default_factory=new_id)
    owner_id: str | None = None
    title: str = "New chat"
    agent_id: str | None = None  # kept when the agent is deleted: the history stays readable
    model_id: str | None = None  # answers with this model rather than the agent's
    dataset_id: str | None = None  # an uploaded table the chat's questions are computed over
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Citation(BaseModel):
    """A passage of an attached document an answer drew on."""

    document_id: str
    document_name: str
    chunk_id: str
    chunk_index: int
    page: int | None = None
    score: float
    excerpt: str


class ChatMessage(BaseModel):
    id: str = Field(default_factory=new_id)
    chat_id: str
    role: ChatRole
    content: str
    model: str | None = None  # the chat model that wrote an assistant message
    sources: list[Citation] = Field(default_factory=list)
    charts: list[dict[str, Any]] = Field(default_factory=list)
    query_type: QueryType | None = None
    reply_to: str | None = None  # the user message an assistant message answers
    rating: int | None = None  # 1-5, given by the chat's owner
    input_tokens: int | None = None
    output_tokens: int | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)
