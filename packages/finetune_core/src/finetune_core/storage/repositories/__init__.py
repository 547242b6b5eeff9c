"""One repository per aggregate, each the only code that maps its rows to domain models and back.

A repository works inside the unit of work's session (storage/unit_of_work.py) and never commits.
"""

from finetune_core.storage.repositories.agents import AgentRepository
from finetune_core.storage.repositories.auth_sessions import AuthSessionRepository
from finetune_core.storage.repositories.billing import (
    BillingEventRepository,
    CheckoutSessionRepository,
    ConsentRepository,
    PaymentRepository,
    SubscriptionRepository,
)
from finetune_core.storage.repositories.chats import ChatRepository
from finetune_core.storage.repositories.chunks import ChunkRepository
from finetune_core.storage.repositories.documents import DocumentRepository
from finetune_core.storage.repositories.examples import ExampleRepository
from finetune_core.storage.repositories.fine_tunes import FineTuneRepository
from finetune_core.storage.repositories.issued_keys import IssuedKeyRepository
from finetune_core.storage.repositories.jobs import JobRepository
from finetune_core.storage.repositories.models import ModelRepository
from finetune_core.storage.repositories.projects import ProjectRepository
from finetune_core.storage.repositories.provider_keys import ProviderKeyRepository
from finetune_core.storage.repositories.sources import SourceRepository
from finetune_core.storage.repositories.usage import UsageQueries
from finetune_core.storage.repositories.users import UserRepository

__all__ = [
    "AgentRepository",
    "AuthSessionRepository",
    "BillingEventRepository",
    "ChatRepository",
    "CheckoutSessionRepository",
    "ChunkRepository",
    "ConsentRepository",
    "DocumentRepository",
    "ExampleRepository",
    "FineTuneRepository",
    "IssuedKeyRepository",
    "JobRepository",
    "ModelRepository",
    "PaymentRepository",
    "ProjectRepository",
    "ProviderKeyRepository",
    "SourceRepository",
    "SubscriptionRepository",
    "UsageQueries",
    "UserRepository",
]
