"""GDPR (crealia): the erasure's confirmation, consent preferences, and their acknowledgements."""

from __future__ import annotations

from typing import Annotated, Literal

from finetune_core.domain import Consent
from finetune_core.services.gdpr import CONFIRMATION
from pydantic import BaseModel, Field, WithJsonSchema

# `necessary` is documented as true or absent; false is read, then refused with 400 NECESSARY_CONSENT_REQUIRED.
# `confirmation` is documented as any string on purpose: documented as its one value, a schema fuzzer sending valid
# bodies would erase the account it runs with.
Necessary = Annotated[bool | None, WithJsonSchema({"anyOf": [{"type": "boolean", "const": True}, {"type": "null"}]})]


class ErasureBody(BaseModel):
    confirmation: str = Field(max_length=100, description=f"exactly {CONFIRMATION} (any other text: 400 "
                                                          "CONFIRMATION_REQUIRED): the erasure cannot be undone")


class ConsentChoices(BaseModel):
    necessary: Literal[True] = Field(True, description="always true: the service cannot run without it")
    analytics: bool
    marketing: bool
    preferences: bool

    @classmethod
    def of(cls, consent: Consent) -> ConsentChoices:
        return cls(analytics=consent.analytics, marketing=consent.marketing, preferences=consent.preferences)


class ConsentOut(BaseModel):
    consent: ConsentChoices


class ConsentUpdate(BaseModel):
    """Any of the choices (absent: left as it is); `necessary` may be sent as true, false is refused (400)."""

    necessary: Necessary = Field(None, description="true only: false answers 400 NECESSARY_CONSENT_REQUIRED")
    analytics: bool | None = None
    marketing: bool | None = None
    preferences: bool | None = None


class GdprAck(BaseModel):
    success: Literal[True] = True
    message: str
