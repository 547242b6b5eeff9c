from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from finetune_core.curation.base import ValidationContext, Validator
from finetune_core.curation.validators import (
    DuplicateValidator,
    EmptyFieldValidator,
    EvidenceValidator,
    JsonValidator,
    MaxTokensValidator,
    RolesValidator,
    TooShortValidator,
    roles_in_order,
)
from finetune_core.domain import Chunk, Example

LONG_ANSWER = "A sufficiently long answer that clears the minimum."

Build = Callable[..., Example]
MakeContext = Callable[..., ValidationContext]


def flagged(
    validator: Validator, examples: Sequence[Example], context: ValidationContext
) -> list[tuple[str, str]]:
    return list(validator.validate(examples, context))


# too_short


def test_too_short_flags_a_short_answer(qa: Build, context: ValidationContext) -> None:
    short, long = qa("Why?", "Because."), qa("Why?", LONG_ANSWER)
    assert flagged(TooShortValidator(), [short, long], context) == [(short.id, "output_too_short")]


def test_too_short_measures_the_stripped_answer(qa: Build, make_context: MakeContext) -> None:
    example = qa("Why?", "   twelve chars   ")  # 12 characters once stripped
    assert flagged(TooShortValidator(), [example], make_context(min_output_chars=12)) == []
    assert flagged(TooShortValidator(), [example], make_context(min_output_chars=13)) == [
        (example.id, "output_too_short")
    ]


def test_too_short_leaves_empty_answers_to_empty_field(qa: Build, context: ValidationContext) -> None:
    assert flagged(TooShortValidator(), [qa("Why?", "  ")], context) == []


# max_tokens


def test_max_tokens_counts_every_message(qa: Build, make_context: MakeContext) -> None:
    example = qa("one two three", "four five six", system="seven eight")  # 8 words
    assert flagged(MaxTokensValidator(), [example], make_context(max_seq_length=16)) == []
    tight = make_context(max_seq_length=16)
    over = qa(" ".join(["w"] * 10), " ".join(["w"] * 7))  # 17 words
    assert flagged(MaxTokensValidator(), [example, over], tight) == [(over.id, "too_many_tokens")]


# empty_field


@pytest.mark.parametrize(
    "turns",
    [
        [("user", "Question?"), ("assistant", "")],
        [("user", "  \n"), ("assistant", LONG_ANSWER)],
        [("system", ""), ("user", "Question?"), ("assistant", LONG_ANSWER)],
        [("user", "Question?")],
        [("assistant", LONG_ANSWER)],
        [("system", "You help.")],
    ],
)
def test_empty_field_flags(
    turns: list[tuple[str, str]], conversation: Build, context: ValidationContext
) -> None:
    example = conversation(*turns)
    assert flagged(EmptyFieldValidator(), [example], context) == [(example.id, "empty_field")]


def test_empty_field_passes_complete_examples_and_leaves_unparsed_ones_to_json(
    qa: Build, conversation: Build, context: ValidationContext
) -> None:
    assert flagged(EmptyFieldValidator(), [qa("Q?", LONG_ANSWER, system="S"), conversation()], context) == []


# roles


@pytest.mark.parametrize(
    "roles",
    [
        ["user", "assistant"],
        ["system", "user", "assistant"],
        ["system", "user", "assistant", "user", "assistant"],
    ],
)
def test_roles_in_order_accepts(roles: list[str]) -> None:
    assert roles_in_order(roles)


@pytest.mark.parametrize(
    "roles",
    [
        ["assistant", "user"],
        ["user", "user", "assistant"],
        ["user", "assistant", "user"],
        ["user", "system", "assistant"],
        ["system", "system", "user", "assistant"],
        ["user", "assistant", "system"],
        ["system"],
        ["user"],
    ],
)
def test_roles_in_order_rejects(roles: list[str]) -> None:
    assert not roles_in_order(roles)


def test_roles_validator_flags_only_bad_orders(conversation: Build, context: ValidationContext) -> None:
    good = conversation(("user", "Q"), ("assistant", "A"))
    bad = conversation(("assistant", "A"), ("user", "Q"))
    assert flagged(RolesValidator(), [good, bad, conversation()], context) == [(bad.id, "invalid_roles")]


# json


def test_json_flags_drafts_that_failed_to_parse(
    qa: Build, conversation: Build, context: ValidationContext
) -> None:
    unparsed = conversation(metadata={"draft_errors": ["json_invalid"], "raw": "{not json"})
    partly = qa("Q?", LONG_ANSWER, metadata={"draft_errors": ["json_invalid"]})
    bare = conversation()
    fine = qa("Q?", LONG_ANSWER, metadata={"draft_errors": []})
    failed_request = conversation(metadata={"draft_errors": ["generation_failed"]})
    found = flagged(JsonValidator(), [unparsed, partly, bare, fine, failed_request], context)
    assert found == [(unparsed.id, "json_invalid"), (partly.id, "json_invalid"), (bare.id, "json_invalid")]


def test_json_ignores_stored_codes_so_a_fixed_example_is_judged_afresh(
    qa: Build, context: ValidationContext
) -> None:
    edited = qa("Q?", LONG_ANSWER, validation_errors=["json_invalid"], is_valid=False)
    assert flagged(JsonValidator(), [edited], context) == []


# evidence


@pytest.fixture
def chunk() -> Chunk:
    text = "The Treaty of Paris\nwas signed   in 1783, ending the war.\n\nCongress ratified it in 1784."
    return Chunk(project_id="p", source_id="s", chunk_index=0, content=text, token_count=10)


def test_evidence_found_verbatim_modulo_whitespace(
    qa: Build, chunk: Chunk, make_context: MakeContext
) -> None:
    quoted = qa("When?", LONG_ANSWER, chunk_id=chunk.id, evidence="Treaty of Paris was signed in 1783,")
    spread = qa("When?", LONG_ANSWER, chunk_id=chunk.id, evidence="  the war.\n Congress ratified ")
    assert flagged(EvidenceValidator(), [quoted, spread], make_context([chunk])) == []


@pytest.mark.parametrize(
    "evidence",
    ["The Treaty of Paris was signed in 1784", "treaty of paris", "signed in 1783 ending the war"],
)
def test_evidence_not_found(
    evidence: str, qa: Build, chunk: Chunk, make_context: MakeContext
) -> None:
    example = qa("When?", LONG_ANSWER, chunk_id=chunk.id, evidence=evidence)
    found = flagged(EvidenceValidator(), [example], make_context([chunk]))
    assert found == [(example.id, "evidence_not_found")]


def test_evidence_unknown_chunk_or_no_chunk_is_not_checked(
    qa: Build, chunk: Chunk, make_context: MakeContext
) -> None:
    elsewhere = qa("When?", LONG_ANSWER, chunk_id="not-loaded", evidence="made up")
    unchunked = qa("When?", LONG_ANSWER, evidence="made up")
    assert flagged(EvidenceValidator(), [elsewhere, unchunked], make_context([chunk])) == []


def test_evidence_missing_only_when_required(
    qa: Build, chunk: Chunk, make_context: MakeContext
) -> None:
    required = qa("When?", LONG_ANSWER, chunk_id=chunk.id, evidence=" ", metadata={"requires_evidence": True})
    optional = qa("When?", LONG_ANSWER, chunk_id=chunk.id)
    assert flagged(EvidenceValidator(), [required, optional], make_context([chunk])) == [
        (required.id, "evidence_missing")
    ]


# duplicate


def test_duplicate_keeps_the_first_and_flags_normalised_repeats(
    qa: Build, context: ValidationContext
) -> None:
    first = qa("What is RAG?", "Retrieval augmented generation.")
    same = qa("what is  RAG?", "Retrieval  Augmented generation.\n", system="Different system prompt")
    other = qa("What is RAG?", "Retrieval-augmented generation.")
    again = qa("WHAT IS RAG?", "retrieval augmented generation.")
    assert flagged(DuplicateValidator(), [first, same, other, again], context) == [
        (same.id, "duplicate"),
        (again.id, "duplicate"),
    ]


def test_duplicate_ignores_examples_without_a_dialogue(
    conversation: Build, context: ValidationContext
) -> None:
    assert flagged(DuplicateValidator(), [conversation(), conversation()], context) == []


def test_duplicate_respects_turn_roles(conversation: Build, context: ValidationContext) -> None:
    a = conversation(("user", "x"), ("assistant", "y"), ("user", "z"), ("assistant", "w"))
    b = conversation(("user", "x y"), ("assistant", "z w"))
    assert flagged(DuplicateValidator(), [a, b], context) == []


# all of them


ALL: list[Validator] = [
    TooShortValidator(),
    MaxTokensValidator(),
    EmptyFieldValidator(),
    RolesValidator(),
    JsonValidator(),
    EvidenceValidator(),
    DuplicateValidator(),
]


def test_validators_are_idempotent_and_pass_a_clean_example(
    qa: Build, conversation: Build, chunk: Chunk, make_context: MakeContext
) -> None:
    context = make_context([chunk])
    clean = qa("When was it signed?", "It was signed in 1783.", chunk_id=chunk.id, evidence="signed in 1783")
    messy = [clean, qa("When was it signed?", "It was signed in 1783."), conversation(("assistant", "x"))]
    for validator in ALL:
        first = flagged(validator, messy, context)
        assert flagged(validator, messy, context) == first
        assert clean.id not in {example_id for example_id, _ in first}, validator.name
