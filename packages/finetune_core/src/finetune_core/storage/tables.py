"""SQLAlchemy 2 rows, kept apart from the pydantic domain; `repository` converts between them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

JsonDict = dict[str, Any]


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite would hand back naive datetimes)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if dialect.name != "sqlite" else value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {JsonDict: JSON, list[Any]: JSON, datetime: UtcDateTime}  # noqa: RUF012


class ProjectRow(Base):
    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    task_type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32), index=True)
    config: Mapped[JsonDict]
    base_model_id: Mapped[str | None] = mapped_column(String(300))
    model_info: Mapped[JsonDict | None]
    owner_id: Mapped[str | None] = mapped_column(String(36), index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SourceRow(Base):
    __tablename__ = "sources"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(32))
    mime_type: Mapped[str | None] = mapped_column(String(200))
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    url: Mapped[str | None] = mapped_column(Text)
    storage_key: Mapped[str | None] = mapped_column(String(500))
    sha256: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32), index=True)
    error_message: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[JsonDict] = mapped_column("metadata", JSON)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class DocumentRow(Base):
    """The loaded Document of a source, so chunking can be rerun without reloading."""

    __tablename__ = "documents"

    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True)
    body: Mapped[JsonDict]


class ChunkRow(Base):
    __tablename__ = "chunks"
    __table_args__ = (UniqueConstraint("source_id", "chunk_index", name="uq_chunks_source_index"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    chunk_index: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)
    token_count: Mapped[int] = mapped_column(Integer)
    char_start: Mapped[int] = mapped_column(Integer)
    char_end: Mapped[int] = mapped_column(Integer)
    page_start: Mapped[int | None] = mapped_column(Integer)
    page_end: Mapped[int | None] = mapped_column(Integer)
    heading: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[JsonDict] = mapped_column("metadata", JSON)
    created_at: Mapped[datetime]


class ExampleRow(Base):
    __tablename__ = "examples"
    __table_args__ = (
        # exactly-once storage of generated examples: a resumed request cannot store twice
        UniqueConstraint("project_id", "request_key", "position", name="uq_examples_request_position"),
        # token_count too: the dataset's statistics are one GROUP BY read off this index alone
        Index("ix_examples_project_split_valid", "project_id", "split", "is_valid", "token_count"),
        # the order of every examples listing: a page deep in a large project is read off the index, not sorted
        Index("ix_examples_project_order", "project_id", "created_at", "request_key", "position", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    source_id: Mapped[str | None] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    chunk_id: Mapped[str | None] = mapped_column(ForeignKey("chunks.id", ondelete="SET NULL"))
    request_key: Mapped[str | None] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer, default=0)
    messages: Mapped[list[Any]]
    evidence: Mapped[str | None] = mapped_column(Text)
    split: Mapped[str] = mapped_column(String(16))
    is_valid: Mapped[bool] = mapped_column(Boolean)
    validation_errors: Mapped[list[Any]]
    token_count: Mapped[int] = mapped_column(Integer, default=0)
    generator: Mapped[str | None] = mapped_column(String(100))
    judge_score: Mapped[float | None] = mapped_column(Float)
    judge_reason: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[JsonDict] = mapped_column("metadata", JSON)
    created_at: Mapped[datetime]


class JobRow(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(String(64), index=True)
    queue: Mapped[str] = mapped_column(String(32), default="default", server_default="default")
    status: Mapped[str] = mapped_column(String(16), index=True)
    progress_pct: Mapped[float] = mapped_column(Float, default=0.0)
    params: Mapped[JsonDict]
    result_summary: Mapped[JsonDict]
    error_message: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]


class JobEventRow(Base):
    __tablename__ = "job_events"
    __table_args__ = (UniqueConstraint("job_id", "seq", name="uq_job_events_job_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(32))
    data: Mapped[JsonDict]
    created_at: Mapped[datetime]


class FineTuneRow(Base):
    __tablename__ = "fine_tunes"
    __table_args__ = (Index("ix_fine_tunes_project_status", "project_id", "status"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[str | None] = mapped_column(String(36), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    trainer: Mapped[str] = mapped_column(String(64))
    method: Mapped[str | None] = mapped_column(String(32))
    base_model: Mapped[str] = mapped_column(String(300))
    hyperparameters: Mapped[JsonDict]
    options: Mapped[JsonDict]
    status: Mapped[str] = mapped_column(String(16))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    metrics: Mapped[JsonDict]
    external_id: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[JsonDict]
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), index=True)
    model_id: Mapped[str | None] = mapped_column(String(36))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]


class TrainedModelRow(Base):
    __tablename__ = "models"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner_id: Mapped[str | None] = mapped_column(String(36), index=True)
    project_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"), index=True)
    # one model per fine-tune: a resumed run that registers again finds the first one
    fine_tune_id: Mapped[str | None] = mapped_column(ForeignKey("fine_tunes.id", ondelete="SET NULL"), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    base_model: Mapped[str] = mapped_column(String(300))
    provider: Mapped[str] = mapped_column(String(64))
    provider_model_id: Mapped[str | None] = mapped_column(String(300))
    artifact_path: Mapped[str | None] = mapped_column(String(500))
    version: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    metrics: Mapped[JsonDict]
    created_at: Mapped[datetime]


class ProviderKeyRow(Base):
    """A provider API key, encrypted (Fernet) with the workspace secret; `masked` is what reads show."""

    __tablename__ = "provider_keys"
    # owner "" is the local single user: NULLs would not collide in a unique index
    __table_args__ = (UniqueConstraint("owner_id", "provider", name="uq_provider_keys_owner_provider"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(36))
    provider: Mapped[str] = mapped_column(String(64))
    encrypted_key: Mapped[str] = mapped_column(Text)
    masked: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    trigramme: Mapped[str | None] = mapped_column(String(8), unique=True)  # NULLs never collide
    password_hash: Mapped[str] = mapped_column(String(255))  # "" for the local user: no password opens it
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    has_completed_onboarding: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]
    deletion_requested_at: Mapped[datetime | None]


class AuthSessionRow(Base):
    """A sign-in and its token family; `refresh_jti` is the id of the only refresh token it still accepts."""

    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    refresh_jti: Mapped[str] = mapped_column(String(36))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(32))


class AgentRow(Base):
    __tablename__ = "agents"
    __table_args__ = (Index("ix_agents_public", "is_public", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner_id: Mapped[str | None] = mapped_column(String(36), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    system_prompt: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(300))
    temperature: Mapped[float] = mapped_column(Float)
    is_public: Mapped[bool] = mapped_column(Boolean)
    avatar_url: Mapped[str | None] = mapped_column(String(2000))
    learn_from_interaction: Mapped[bool] = mapped_column(Boolean)
    learn_policy: Mapped[str] = mapped_column(String(16))
    is_default: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ChatRow(Base):
    __tablename__ = "chats"
    __table_args__ = (Index("ix_chats_owner_updated", "owner_id", "updated_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner_id: Mapped[str | None] = mapped_column(String(36))
    title: Mapped[str] = mapped_column(String(300))
    agent_id: Mapped[str | None] = mapped_column(String(36), index=True)  # no foreign key: the history outlives it
    model_id: Mapped[str | None] = mapped_column(String(300))
    dataset_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ChatMessageRow(Base):
    __tablename__ = "chat_messages"
    __table_args__ = (Index("ix_chat_messages_chat_order", "chat_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    chat_id: Mapped[str] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(300))
    sources: Mapped[list[Any]]
    charts: Mapped[list[Any]]
    query_type: Mapped[str | None] = mapped_column(String(16))
    reply_to: Mapped[str | None] = mapped_column(String(36))
    rating: Mapped[int | None] = mapped_column(Integer)
    input_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    metadata_: Mapped[JsonDict] = mapped_column("metadata", JSON)
    created_at: Mapped[datetime]


class IssuedKeyRow(Base):
    __tablename__ = "issued_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner_id: Mapped[str | None] = mapped_column(String(36), index=True)
    model_id: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 hex of the secret, never the secret
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    requests: Mapped[int] = mapped_column(Integer)
    input_tokens: Mapped[int] = mapped_column(Integer)
    output_tokens: Mapped[int] = mapped_column(Integer)
    rate_limit_per_minute: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[datetime | None]
    window_count: Mapped[int] = mapped_column(Integer)

