"""Built-in curation plugin, discovered through the `finetune` entry point like any other."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from finetune_core.curation.validators import (
    DuplicateValidator,
    EmptyFieldValidator,
    EvidenceValidator,
    JsonValidator,
    JudgeThresholdValidator,
    MaxTokensValidator,
    PreferenceValidator,
    RolesValidator,
    TooShortValidator,
)
from finetune_core.domain import Example
from finetune_core.hookspecs import Register, hookimpl

if TYPE_CHECKING:
    from finetune_core.curation.base import ValidationContext


class _NearDuplicates:
    """Defers importing datasketch (and scipy, ~0.7 s) until a dataset is actually validated."""

    name = "near_duplicate"

    def validate(self, examples: Sequence[Example], context: ValidationContext) -> Iterator[tuple[str, str]]:
        from finetune_core.curation.near_duplicates import NearDuplicateValidator

        return NearDuplicateValidator().validate(examples, context)


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
        _NearDuplicates(),
        JudgeThresholdValidator(),
        PreferenceValidator(),
    ):
        register(validator)
