"""Examples to export: a few shapes every format must handle."""

from __future__ import annotations

import os

import pytest
from finetune_core.domain import Example, Message

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def _example(*turns: tuple[str, str], **fields: object) -> Example:
    messages = [Message(role=role, content=content) for role, content in turns]  # type: ignore[arg-type]
    return Example(project_id="p", messages=messages, **fields)  # type: ignore[arg-type]


@pytest.fixture
def examples() -> list[Example]:
    """Single-turn, with system prompt, multi-turn, non-ASCII, and one invalid example."""
    return [
        _example(
            ("user", "What is the notice period?\n\nContract: 3 months for staff."),
            ("assistant", "The notice period is three months for staff."),
            source_id="src-1",
            chunk_id="chunk-1",
            evidence="3 months for staff",
            metadata={"source_name": "contract.pdf", "page_start": 2, "page_end": 3},
        ),
        _example(
            ("system", "Answer like a lawyer."),
            ("user", "Can the employer shorten it?"),
            ("assistant", "Only with the employee's written consent."),
            source_id="src-1",
            chunk_id="chunk-2",
        ),
        _example(
            ("user", "Qu'est-ce qu'un préavis ?"),
            ("assistant", "Le délai entre l’annonce et la fin du contrat — « préavis »."),
            ("user", "Et en 日本語?"),
            ("assistant", "予告期間です。"),
            source_id="src-2",
            metadata={"source_name": "guide.md"},
        ),
        _example(
            ("user", "Broken"),
            ("assistant", ""),
            is_valid=False,
            validation_errors=["empty_field"],
        ),
    ]
