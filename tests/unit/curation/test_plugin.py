from __future__ import annotations

from typing import Any

from finetune_core.curation import plugin


def test_registers_every_builtin_validator_once() -> None:
    registered: list[Any] = []
    plugin.finetune_register_validators(registered.append)
    names = [validator.name for validator in registered]
    assert sorted(names) == sorted(
        ["json", "empty_field", "roles", "too_short", "max_tokens", "evidence", "duplicate", "near_duplicate",
         "judge_threshold", "preference"]
    )
    assert all(callable(validator.validate) for validator in registered)
