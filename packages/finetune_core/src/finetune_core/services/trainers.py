"""Which trainers can take a fine-tuning now: open to new jobs, and with the key they need among the owner's.

    for choice in trainers.availability(workspace, owner_id):    # CLI `finetune trainers`, GET /api/fine-tunings
        print(choice.name, choice.available, choice.reason)

A trainer closed to new jobs (its provider deprecated fine-tuning) or missing its key is listed with the reason,
so a refusal can name the trainers that would take the same dataset instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from finetune_core.errors import FineTuningUnavailableError
from finetune_core.services.keys import resolve_key

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort
    from finetune_core.training import Trainer


class TrainerChoice(BaseModel):
    name: str
    label: str
    methods: list[str]
    needs_key: str | None  # the provider whose key it needs (None: it runs here)
    available: bool
    reason: str | None = None  # why it is not available


def _choice(workspace: WorkspacePort, trainer: type[Trainer], owner_id: str | None) -> TrainerChoice:
    reason = trainer.closed_to_new_jobs
    if reason is None and trainer.key_provider is not None \
            and resolve_key(workspace, trainer.key_provider, owner_id=owner_id) is None:
        reason = f"no {trainer.label or trainer.name} API key"
    return TrainerChoice(name=trainer.name, label=trainer.label or trainer.name, methods=list(trainer.methods),
                         needs_key=trainer.key_provider, available=reason is None, reason=reason)


def availability(workspace: WorkspacePort, owner_id: str | None) -> list[TrainerChoice]:
    """Every registered trainer, whether it can take a job now for this owner, and why not."""
    return [_choice(workspace, trainer, owner_id) for trainer in workspace.plugins.trainers]


def refuse(workspace: WorkspacePort, trainer: type[Trainer], owner_id: str | None, reason: str) -> None:
    """Raise the 409 for a provider that takes no new job, naming the trainers that would take this dataset."""
    others = [choice.name for choice in availability(workspace, owner_id)
              if choice.available and choice.name != trainer.name]
    raise FineTuningUnavailableError(
        f"{trainer.label or trainer.name} takes no new fine-tuning job: {reason}"
        + (f"; the same dataset can go to {', '.join(others)}" if others else ""),
        trainer=trainer.name, reason=reason, alternatives=others)
