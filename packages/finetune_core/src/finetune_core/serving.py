"""Serving hosted fine-tunes: the `ModelHost` port (hook `finetune_register_model_hosts`).

A finished Together or Fireworks fine-tune is a model at the provider that answers only once it is
deployed on reserved hardware (Together's dedicated endpoint, Fireworks' deployment), which bills by
the hour while it runs. A `ModelHost` speaks one provider's deployment API: it prices the hardware
(`estimate`), starts the deployment (`start`), reads its state (`status`) and stops it (`stop`); once
`ready`, the deployment names the OpenAI-compatible server and the model name that chats call.

A host is registered under the provider name of the models it serves (`TrainedModel.provider`:
`together`, `fireworks`); `key_provider` names the key it calls with (the user's stored key).
The service that keeps the state and asks for the cost confirmation is `services/model_hosting.py`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, ClassVar, Protocol

from finetune_core.domain import TrainedModel

# the states of a deployment, whatever the provider calls them
PENDING = "pending"  # created or starting: not answering yet
READY = "ready"  # answering chats
STOPPING = "stopping"
STOPPED = "stopped"  # nothing runs, nothing is billed (stopped or deleted at the provider)
FAILED = "failed"
STATES = (PENDING, READY, STOPPING, STOPPED, FAILED)
RUNNING = (PENDING, READY, STOPPING)  # billed, or about to be


@dataclass(frozen=True)
class CostEstimate:
    """What a deployment would cost while it runs: the hardware chosen and its price per hour."""

    hardware: str
    cost_per_hour: float
    currency: str = "USD"
    source: str = "provider"  # "provider": the provider's API priced it; "price list": the host's own table

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Deployment:
    """A model's deployment as last seen: kept in the model's `metrics["deployment"]`."""

    host: str
    deployment_id: str
    state: str
    hardware: str
    cost_per_hour: float
    chat_model: str  # the model name that chat completions are asked for
    chat_base_url: str  # the OpenAI-compatible server ("https://api.together.xyz/v1")
    currency: str = "USD"
    provider_state: str | None = None  # the provider's own word ("STARTED", "READY")
    message: str | None = None  # the provider's error message, when failed
    extra: dict[str, Any] = field(default_factory=dict)  # what the host needs again (a Fireworks account)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, data: dict[str, Any]) -> Deployment:
        known = set(cls.__dataclass_fields__)
        return cls(**{key: value for key, value in data.items() if key in known})

    def moved(self, state: str, provider_state: str | None = None, message: str | None = None) -> Deployment:
        return replace(self, state=state, provider_state=provider_state or self.provider_state, message=message)


class ModelHost(Protocol):
    """One provider's deployments; every call gets the owner's key for `key_provider`."""

    name: str  # the provider of the models it serves
    label: str
    key_provider: ClassVar[str]

    def estimate(self, model: TrainedModel, *, api_key: str | None, hardware: str | None = None) -> CostEstimate:
        """The hardware a deployment would use (`hardware`, else the host's choice) and its price per hour."""
        ...

    def start(self, model: TrainedModel, *, api_key: str | None, estimate: CostEstimate,
              previous: Deployment | None = None) -> Deployment:
        """Create the deployment (or start `previous` again, where the provider keeps stopped ones)."""
        ...

    def status(self, model: TrainedModel, deployment: Deployment, *, api_key: str | None) -> Deployment:
        """The deployment as the provider sees it now."""
        ...

    def stop(self, model: TrainedModel, deployment: Deployment, *, api_key: str | None) -> Deployment:
        """Stop the deployment, so that it bills no more."""
        ...
