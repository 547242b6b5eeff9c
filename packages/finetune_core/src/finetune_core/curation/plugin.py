"""Built-in curation plugin, discovered through the `finetune` entry point like any other."""

from __future__ import annotations

from finetune_core.curation.near_duplicates import NearDuplicateValidator
from finetune_core.curation.validators import (
    DuplicateValidator,
    EmptyFieldValidator,
    EvidenceValidator,
    JsonValidator,
    MaxTokensValidator,
    RolesValidator,
    TooShortValidator,
)
from finetune_core.hookspecs import Register, hookimpl


@hookimpl
def finetune_register_validators(register: Register) -> None:
    for validator in (
        JsonValidator(),
        EmptyFieldValidator(),
        RolesValidator(),
        TooShortValidator(),
        MaxTokensValidator(),
        EvidenceValidator(),
        DuplicateValidator(),
        NearDuplicateValidator(),
    ):
        register(validator)
