"""The unit of work: one transaction, and a repository per aggregate inside it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from finetune_core.storage.repositories import (
    AgentRepository,
    AuthSessionRepository,
    BillingEventRepository,
    ChatRepository,
    CheckoutSessionRepository,
    ChunkRepository,
    ConsentRepository,
    DocumentRepository,
    ExampleRepository,
    FineTuneRepository,
    IssuedKeyRepository,
    JobRepository,
    ModelRepository,
    PaymentRepository,
    ProjectRepository,
    ProviderKeyRepository,
    SourceRepository,
    SubscriptionRepository,
    UsageQueries,
    UserRepository,
)
from finetune_core.storage.repositories.forum import ForumRepository


class UnitOfWork:
    """What `Workspace.unit_of_work()` yields: committed when its block ends, rolled back if it raises.

    A new aggregate adds its repository here; services reach it as `uow.<aggregate>`.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.projects = ProjectRepository(session)
        self.sources = SourceRepository(session)
        self.documents = DocumentRepository(session)
        self.chunks = ChunkRepository(session)
        self.examples = ExampleRepository(session)
        self.jobs = JobRepository(session)
        self.fine_tunes = FineTuneRepository(session)
        self.models = ModelRepository(session)
        self.provider_keys = ProviderKeyRepository(session)
        self.users = UserRepository(session)
        self.auth_sessions = AuthSessionRepository(session)
        self.usage = UsageQueries(session)
        self.agents = AgentRepository(session)
        self.chats = ChatRepository(session)
        self.issued_keys = IssuedKeyRepository(session)
        self.subscriptions = SubscriptionRepository(session)
        self.checkout_sessions = CheckoutSessionRepository(session)
        self.payments = PaymentRepository(session)
        self.billing_events = BillingEventRepository(session)
        self.consents = ConsentRepository(session)
        self.forum = ForumRepository(session)
