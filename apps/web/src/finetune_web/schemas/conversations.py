"""Agents, chats and messages as foyergpt, dualqueryintelligence and crealia's assistant chat show them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from finetune_core.domain import MAX_MESSAGE_CHARS, Agent, Chat, ChatMessage, Citation
from pydantic import BaseModel, Field

from finetune_web.pagination import ListArgs, Page
from finetune_web.schemas.common import ID_MAX

NAME_MAX = 200
PROMPT_MAX = 20_000
MODEL_MAX = 600


class AgentCreate(BaseModel):
    name: str = Field(min_length=1, max_length=NAME_MAX)
    description: str | None = Field(None, max_length=2000)
    system_prompt: str | None = Field(None, max_length=PROMPT_MAX)
    model: str | None = Field(None, min_length=1, max_length=MODEL_MAX, description=(
        'a registered chat model ("embedded", the default; "openai:gpt-4o-mini"; '
        '"openai-compatible:llama3@http://host:11434/v1") or one of your models\' ids'))
    temperature: float | None = Field(None, ge=0, le=2)
    is_public: bool | None = None
    avatar_url: str | None = Field(None, max_length=2000)
    learn_from_interaction: bool | None = None
    learn_policy: Literal["rated", "all"] | None = Field(
        None, description="which exchanges become examples: those rated 4 or 5 (rated, the default), or all")


class AgentUpdate(AgentCreate):
    name: str | None = Field(None, min_length=1, max_length=NAME_MAX)  # type: ignore[assignment]


class OwnerOut(BaseModel):
    id: str | None
    trigramme: str | None = None


class AgentOut(BaseModel):
    id: str
    name: str
    description: str | None
    system_prompt: str | None
    model: str | None
    temperature: float
    is_public: bool
    avatar_url: str | None
    learn_from_interaction: bool
    learn_policy: str
    owner_id: str | None
    owner: OwnerOut
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, agent: Agent, trigramme: str | None = None) -> AgentOut:
        values = agent.model_dump(exclude={"is_default"})
        return cls(**values, owner=OwnerOut(id=agent.owner_id, trigramme=trigramme))


class AgentPage(Page[AgentOut]):
    agents: list[AgentOut] = Field(description="the same items, under foyergpt's name")


class AgentRef(BaseModel):
    id: str
    name: str
    avatar_url: str | None


class ChatCreate(BaseModel):
    title: str | None = Field(None, max_length=300)
    agent_id: str | None = Field(None, min_length=1, max_length=ID_MAX)
    model_id: str | None = Field(None, min_length=1, max_length=MODEL_MAX,
                                 description="answer with this model rather than the agent's")
    dataset_id: str | None = Field(None, min_length=1, max_length=ID_MAX,
                                   description="an uploaded table: questions about it are computed over it")


class ChatUpdate(ChatCreate):
    pass


class ChatListArgs(ListArgs):
    agent_id: str | None = Field(None, min_length=1, max_length=ID_MAX)


class CitationOut(BaseModel):
    document_id: str
    document_name: str
    chunk_id: str
    chunk_index: int
    page: int | None
    score: float
    excerpt: str

    @classmethod
    def of(cls, citation: Citation) -> CitationOut:
        return cls(**citation.model_dump())


class MessageOut(BaseModel):
    id: str
    chat_id: str
    role: str
    content: str
    model: str | None
    llm_model: str | None = Field(description="foyergpt's name of `model`")
    sources: list[CitationOut]
    charts: list[dict[str, Any]] | None
    query_type: str | None
    reply_to: str | None
    rating: int | None
    created_at: datetime
    timestamp: datetime = Field(description="dualqueryintelligence's name of `created_at`")

    @classmethod
    def of(cls, message: ChatMessage) -> MessageOut:
        return cls(id=message.id, chat_id=message.chat_id, role=message.role, content=message.content,
                   model=message.model, llm_model=message.model,
                   sources=[CitationOut.of(citation) for citation in message.sources],
                   charts=message.charts or None, query_type=message.query_type, reply_to=message.reply_to,
                   rating=message.rating, created_at=message.created_at, timestamp=message.created_at)


class MessagePage(Page[MessageOut]):
    messages: list[MessageOut] = Field(description="the same items, under foyergpt's name")


class ChatOut(BaseModel):
    id: str
    title: str
    owner_id: str | None
    user_id: str | None = Field(description="the owner, as the seeds name it")
    agent_id: str | None
    agent: AgentRef | None = Field(description="null when the chat has no agent, or its agent was deleted")
    model_id: str | None
    dataset_id: str | None
    created_at: datetime
    updated_at: datetime
    last_updated: datetime = Field(description="dualqueryintelligence's name of `updated_at`")
    last_message_at: datetime = Field(description="foyergpt's name of `updated_at`")

    @classmethod
    def of(cls, chat: Chat, agent: Agent | None = None) -> ChatOut:
        ref = AgentRef(id=agent.id, name=agent.name, avatar_url=agent.avatar_url) if agent else None
        return cls(**chat.model_dump(), user_id=chat.owner_id, agent=ref, last_updated=chat.updated_at,
                   last_message_at=chat.updated_at)


class ChatDetail(ChatOut):
    messages: list[MessageOut]


class ChatPage(Page[ChatOut]):
    chats: list[ChatOut] = Field(description="the same items, under foyergpt's name")


class MessageCreate(BaseModel):
    chat_id: str = Field(min_length=1, max_length=ID_MAX)
    content: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    role: Literal["user", "assistant", "system"] | None = Field(None, description=(
        "dualqueryintelligence: store this message as given, no model called; without it (foyergpt) the "
        "message is answered"))
    query_type: Literal["general", "analytics"] | None = None
    charts: list[dict[str, Any]] | dict[str, Any] | None = None
    files: list[Annotated[str, Field(min_length=1, max_length=ID_MAX)]] | None = Field(
        None, max_length=50, description="foyergpt: ids of documents already attached (accepted, not needed: an answer "
                                         "draws on every document of the chat and its agent)")


class MessageExchange(BaseModel):
    user_message: MessageOut
    assistant_message: MessageOut


class MessagePosted(BaseModel):
    """foyergpt's answer (`user_message`, `assistant_message`), or dualqueryintelligence's: the stored message's
    own fields, when the body had a `role`."""

    user_message: MessageOut | None = None
    assistant_message: MessageOut | None = None
    id: str | None = None
    chat_id: str | None = None
    role: str | None = None
    content: str | None = None
    query_type: str | None = None
    charts: list[dict[str, Any]] | None = None
    created_at: datetime | None = None
    timestamp: datetime | None = None


STREAM_MESSAGE_MAX = 600  # percent-encoded (up to 12 bytes a character), it fits the 8190-byte request line


class StreamArgs(BaseModel):
    message: str = Field(min_length=1, max_length=STREAM_MESSAGE_MAX, description=(
        "the question, in the query string: 600 characters at most (POST /api/messages takes 4,000)"))


class FeedbackBody(BaseModel):
    rating: int = Field(ge=1, le=5, description="1 to 5; 4 and 5 make the exchange an example of a learning agent")


class AssistantSessionCreate(BaseModel):
    title: str | None = Field(None, max_length=300)


class AssistantSessionCreated(BaseModel):
    session_id: str
    message: str
    chat: ChatOut


class AssistantSessionMessage(BaseModel):
    session_id: str = Field(min_length=1, max_length=ID_MAX)
    message: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)


class AssistantSessionReply(BaseModel):
    message_id: str
    content: str
    timestamp: datetime
    user_message_id: str
    sources: list[CitationOut]


class HistoryArgs(BaseModel):
    session_id: str = Field(min_length=1, max_length=ID_MAX)


class HistoryOut(BaseModel):
    session_id: str
    messages: list[MessageOut]


class AssistantSessionOut(BaseModel):
    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    message_count: int
    is_active: bool


class AssistantSessionList(BaseModel):
    sessions: list[AssistantSessionOut]
