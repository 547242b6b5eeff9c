"""The domain: pydantic models with no framework imports, one module per concept, all exported here."""

from finetune_core.domain.accounts import AuthSession, ProviderKey, User
from finetune_core.domain.billing import (
    CheckoutSession,
    Consent,
    Payment,
    Plan,
    PlanLimits,
    Subscription,
    SubscriptionStatus,
)
from finetune_core.domain.common import new_id, utcnow
from finetune_core.domain.content import (
    PREVIEW_SPLIT,
    Chunk,
    Document,
    Example,
    ExampleDraft,
    Heading,
    Message,
    PageSpan,
    RecordSet,
    Source,
    SourceKind,
    SourceStatus,
    SourceType,
    Split,
    SplitGroup,
)
from finetune_core.domain.conversations import MAX_MESSAGE_CHARS, Agent, Chat, ChatMessage, Citation
from finetune_core.domain.issued_keys import IssuedKey
from finetune_core.domain.jobs import Job, JobEvent, JobStatus
from finetune_core.domain.projects import Project, ProjectConfig, ProjectStatus, SplitBy, TaskType
from finetune_core.domain.training import FineTune, FineTuneStatus, TrainedModel

__all__ = [
    "MAX_MESSAGE_CHARS",
    "PREVIEW_SPLIT",
    "Agent",
    "AuthSession",
    "Chat",
    "ChatMessage",
    "CheckoutSession",
    "Chunk",
    "Citation",
    "Consent",
    "Document",
    "Example",
    "ExampleDraft",
    "FineTune",
    "FineTuneStatus",
    "Heading",
    "IssuedKey",
    "Job",
    "JobEvent",
    "JobStatus",
    "Message",
    "PageSpan",
    "Payment",
    "Plan",
    "PlanLimits",
    "Project",
    "ProjectConfig",
    "ProjectStatus",
    "ProviderKey",
    "RecordSet",
    "Source",
    "SourceKind",
    "SourceStatus",
    "SourceType",
    "Split",
    "SplitBy",
    "SplitGroup",
    "Subscription",
    "SubscriptionStatus",
    "TaskType",
    "TrainedModel",
    "User",
    "new_id",
    "utcnow",
]
