"""The offline extractive generator: grounded, deterministic, rotating, in the chunk's language."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable

import pytest
from finetune_core.domain import ExampleDraft, TaskType
from finetune_core.generation.base import GenerationRequest
from finetune_core.generation.extractive import ExtractiveGenerator, extract_examples, source_label
from finetune_core.generation.plugin import finetune_register_generators

MakeRequest = Callable[..., GenerationRequest]
PASSAGE_NAMES = ["en-handbook", "en-article", "fr-handbook", "fr-article"]


def collapse(text: str) -> str:
    return " ".join(text.split())


def turns(draft: ExampleDraft) -> tuple[tuple[str, str], ...]:
    return tuple((m.role, m.content) for m in draft.messages)


def check_draft(draft: ExampleDraft, content: str, task_type: TaskType) -> None:
    """Every draft: verbatim evidence, answers built from the chunk, the right shape for its task."""
    assert draft.errors == []
    assert draft.evidence and draft.evidence in content
    assert draft.metadata["strategy"] in {"definition", "heading", "key_sentence"}
    roles = [m.role for m in draft.messages]
    answers = [m.content for m in draft.messages if m.role == "assistant"]
    if task_type is TaskType.PREFERENCE:  # the full answer and the same cut short, in either order
        full, short = sorted(draft.metadata["candidates"], key=len, reverse=True)
        assert answers == [draft.metadata["candidates"][0]] and full.startswith(short) and short != full
        answers = [full]
    if task_type is TaskType.REASONING:
        assert answers[0] in draft.metadata["reasoning"] and draft.messages[0].content in draft.metadata["reasoning"]
    assert collapse(draft.evidence) in collapse(" ".join(answers))
    for answer in answers:
        assert len(answer.split()) >= 6
        for sentence in re.split(r"(?<=[.!?])\s+", answer):
            assert collapse(sentence.removeprefix("- ")) in collapse(
                content
            )  # answers are cut from the chunk
    if task_type is TaskType.CONVERSATION:
        assert roles == ["user", "assistant", "user", "assistant"]
        assert answers[0] != answers[1]
    else:
        assert roles == ["user", "assistant"]
    if task_type is TaskType.SUMMARIZATION:
        _, _, passage = draft.messages[0].content.partition("\n\n")
        assert passage == content.strip()
        assert len(answers[0]) < len(passage)


@pytest.mark.parametrize("name", PASSAGE_NAMES)
@pytest.mark.parametrize("task_type", list(TaskType))
def test_drafts_are_grounded_for_every_task_type(
    make_request: MakeRequest, passages: dict[str, str], name: str, task_type: TaskType
) -> None:
    content = passages[name]
    produced = 0
    for round_ in range(4):
        drafts = extract_examples(make_request(content, task_type, round=round_, n_examples=5))
        assert len(drafts) <= 5
        for draft in drafts:
            check_draft(draft, content, task_type)
        produced += len(drafts)
    assert produced >= 2


@pytest.mark.parametrize("name", PASSAGE_NAMES)
@pytest.mark.parametrize("task_type", list(TaskType))
def test_rounds_rotate_without_repeating_an_example(
    make_request: MakeRequest, passages: dict[str, str], name: str, task_type: TaskType
) -> None:
    rounds = [
        extract_examples(make_request(passages[name], task_type, round=r, n_examples=3)) for r in range(20)
    ]
    seen = [turns(draft) for drafts in rounds for draft in drafts]
    assert len(seen) == len(set(seen))
    if len(rounds[1]) > 0:
        first_prompts = {d.messages[0].content for d in rounds[0]}
        assert first_prompts.isdisjoint({d.messages[0].content for d in rounds[1]})
    assert rounds[-5:] == [[]] * 5  # a chunk runs out instead of repeating itself


def test_later_rounds_pick_other_sentences_first(make_request: MakeRequest, passages: dict[str, str]) -> None:
    first = extract_examples(make_request(passages["en-handbook"], round=0, n_examples=3))
    second = extract_examples(make_request(passages["en-handbook"], round=1, n_examples=3))
    assert {d.evidence for d in first}.isdisjoint({d.evidence for d in second})


@pytest.mark.parametrize("task_type", list(TaskType))
def test_deterministic(make_request: MakeRequest, passages: dict[str, str], task_type: TaskType) -> None:
    request = make_request(passages["fr-handbook"], task_type, round=1)
    assert [d.model_dump() for d in extract_examples(request)] == [
        d.model_dump() for d in extract_examples(request.model_copy(deep=True))
    ]


def test_english_examples(make_request: MakeRequest, passages: dict[str, str]) -> None:
    content = passages["en-handbook"]
    qa = [turns(d) for r in range(3) for d in extract_examples(make_request(content, round=r))]
    assert (
        ("user", "What is annual leave?"),
        ("assistant", "Annual leave is the paid time off that every employee accrues during the year."),
    ) in qa
    questions = {q[0][1] for q in qa}
    assert {
        "What does a leave balance refer to?",
        'What does the section "Carry-over" explain?',
        "What must employees do?",
        "What should managers do?",
    } <= questions
    assert all(q.endswith("?") for q in questions)
    balance = next(t for t in qa if t[0][1] == "What does a leave balance refer to?")
    assert balance[1][1].endswith("It is shown on the payslip every month.")  # the sentence plus the next one

    instructions = {
        d.messages[0].content for d in extract_examples(make_request(content, TaskType.INSTRUCTION))
    }
    assert "Define annual leave." in instructions


def test_french_examples(make_request: MakeRequest, passages: dict[str, str]) -> None:
    content = passages["fr-handbook"]
    drafts = [d for r in range(3) for d in extract_examples(make_request(content, round=r))]
    questions = {d.messages[0].content for d in drafts}
    assert {
        "Que sont les congés payés ?",
        "Que désigne le solde de congés ?",
        "Que doit faire le salarié ?",
        "Que présente la section « Report des congés » ?",
    } <= questions
    assert all(d.metadata["language"] == "fr" for d in drafts)
    assert all(q.endswith(" ?") for q in questions)
    article = extract_examples(make_request(passages["fr-article"]))
    assert article[0].messages[0].content == "Qu'est-ce que l'apprentissage par renforcement ?"
    summary = extract_examples(make_request(content, TaskType.SUMMARIZATION))[0]
    assert summary.messages[0].content.startswith("Résumez le passage suivant.\n\n")
    dialogue = extract_examples(make_request(content, TaskType.CONVERSATION))[0]
    assert dialogue.messages[2].content in {"Pouvez-vous m'en dire plus ?"} or dialogue.messages[
        2
    ].content.endswith(" ?")


def test_strategies_come_in_priority_order(make_request: MakeRequest, passages: dict[str, str]) -> None:
    drafts = extract_examples(make_request(passages["en-handbook"], n_examples=10))
    assert [d.metadata["strategy"] for d in drafts] == ["definition"] * 2 + ["heading"] * 2 + [
        "key_sentence"
    ] * 6


def test_the_chunk_heading_names_a_section(make_request: MakeRequest, passages: dict[str, str]) -> None:
    drafts = extract_examples(
        make_request(passages["en-article"], heading="Guides > Retrieval", n_examples=10)
    )
    headings = [d for d in drafts if d.metadata["strategy"] == "heading"]
    assert [d.messages[0].content for d in headings] == ['What does the section "Retrieval" explain?']


def test_summaries_keep_key_sentences_in_order(make_request: MakeRequest, passages: dict[str, str]) -> None:
    content = passages["en-article"]
    drafts = extract_examples(make_request(content, TaskType.SUMMARIZATION, n_examples=5))
    assert [d.messages[0].content.split("\n\n")[0] for d in drafts] == [
        "Summarize the following passage.",
        "Summarize the following passage in one sentence.",
        "List the key points of the following passage.",
    ]
    summary = drafts[0].messages[1].content
    positions = [content.index(sentence) for sentence in summary.replace(". ", ".\n").splitlines()]
    assert positions == sorted(positions) and len(positions) == 3
    assert drafts[2].messages[1].content.startswith("- ")
    assert extract_examples(make_request(content, TaskType.SUMMARIZATION, round=1)) == []


@pytest.mark.parametrize(
    "content",
    ["", "Hello.", "Short note. See below.", "| a | b |\n| 1 | 2 |", "lowercase fragment without an end"],
    ids=["empty", "one_word", "two_short", "table", "fragment"],
)
@pytest.mark.parametrize("task_type", list(TaskType))
def test_a_tiny_chunk_gives_no_drafts_and_no_error(
    make_request: MakeRequest, content: str, task_type: TaskType
) -> None:
    result = asyncio.run(ExtractiveGenerator().generate_one(make_request(content, task_type)))
    assert result.key == "chunk-1:0" and result.error is None and result.drafts == []


def test_a_one_definition_chunk_gives_fewer_examples_not_duplicates(make_request: MakeRequest) -> None:
    content = "A token is the smallest unit of text that a language model reads."
    rounds = [extract_examples(make_request(content, round=r, n_examples=5)) for r in range(3)]
    assert [len(r) for r in rounds] == [1, 1, 0]
    assert rounds[0][0].messages[0].content == "What is a token?"
    assert rounds[1][0].messages[0].content == "What is meant by a token?"
    assert rounds[0][0].messages[1].content == rounds[0][0].evidence == content


def test_generate_runs_many_requests(make_request: MakeRequest, passages: dict[str, str]) -> None:
    requests = [
        make_request(passages[name], task, round=r).model_copy(update={"key": f"{name}:{task}:{r}"})
        for name in PASSAGE_NAMES
        for task in TaskType
        for r in range(2)
    ]

    async def collect() -> dict[str, int]:
        generator = ExtractiveGenerator()
        return {
            result.key: len(result.drafts) async for result in generator.generate(requests, concurrency=4)
        }

    counts = asyncio.run(collect())
    assert set(counts) == {r.key for r in requests}
    assert sum(counts.values()) > len(requests)


def test_fast_enough_for_bulk_generation(make_request: MakeRequest, passages: dict[str, str]) -> None:
    # distinct contents, so no analysis is reused; the bound is loose on purpose (about 1 ms a chunk here)
    requests = [
        make_request(
            passages[PASSAGE_NAMES[i % 4]] + f" Reference number {i} applies here.", list(TaskType)[i % 4]
        )
        for i in range(300)
    ]
    start = time.perf_counter()
    for request in requests:
        extract_examples(request)
    assert time.perf_counter() - start < 3.0


def test_plugin_registers_the_class() -> None:
    registered: list[object] = []
    finetune_register_generators(registered.append)
    assert registered == [ExtractiveGenerator]
    assert ExtractiveGenerator.name == "extractive"


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("employee_handbook.pdf", "employee handbook"),
        ("docs/guides/Onboarding Guide.docx", "Onboarding Guide"),
        ("https://example.com/help/faq/", "example.com/help/faq"),
        ("", None),
        (None, None),
    ],
)
def test_source_label(name: str | None, label: str | None) -> None:
    assert source_label(name) == label
