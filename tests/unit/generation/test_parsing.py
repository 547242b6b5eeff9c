"""Model output in every broken shape seen in the wild, read into drafts without raising."""

from __future__ import annotations

import json

import pytest
from finetune_core.domain import ExampleDraft, TaskType
from finetune_core.generation.parsing import ground_evidence, parse_examples

TWO_QA = [("What is a token?", "A unit of text."), ("Why chunk?", "To fit it.")]


def qa_pairs(drafts: list[ExampleDraft]) -> list[tuple[str, str]]:
    pairs = []
    for draft in drafts:
        assert not draft.errors, draft
        assert [m.role for m in draft.messages] == ["user", "assistant"]
        pairs.append((draft.messages[0].content, draft.messages[1].content))
    return pairs


BROKEN_QA = {
    "valid": '{"examples": [{"question": "What is a token?", "answer": "A unit of text.", '
    '"evidence": "unit"}, {"question": "Why chunk?", "answer": "To fit it."}]}',
    "json_fence_and_prose": 'Here you go:\n```json\n{"examples": [{"question": "What is a token?", '
    '"answer": "A unit of text."}, {"question": "Why chunk?", "answer": "To fit it."}]}\n'
    "```\nLet me know if you need more!",
    "bare_list": '[{"question": "What is a token?", "answer": "A unit of text."}, '
    '{"question": "Why chunk?", "answer": "To fit it."}]',
    "trailing_commas": '{"examples": [{"question": "What is a token?", "answer": "A unit of text.",}, '
    '{"question": "Why chunk?", "answer": "To fit it.",},],}',
    "single_quotes": "{'examples': [{'question': 'What is a token?', 'answer': 'A unit of text.'}, "
    "{'question': 'Why chunk?', 'answer': 'To fit it.'}]}",
    "smart_quotes": "{“examples”: [{“question”: “What is a token?”, “answer”: “A unit of text.”}, "
    "{“question”: “Why chunk?”, “answer”: “To fit it.”}]}",
    "jsonl": '{"question": "What is a token?", "answer": "A unit of text."}\n'
    '{"question": "Why chunk?", "answer": "To fit it."}\n',
    "truncated": '{"examples": [{"question": "What is a token?", "answer": "A unit of text."}, '
    '{"question": "Why chunk?", "answer": "To fit it."}, {"question": "How long is a chu',
    "truncated_after_comma": '[{"question": "What is a token?", "answer": "A unit of text."}, '
    '{"question": "Why chunk?", "answer": "To fit it."},',
    "missing_commas": '{"examples": [{"question": "What is a token?"\n"answer": "A unit of text."}\n'
    '{"question": "Why chunk?"\n"answer": "To fit it."}]}',
    "bare_keys": '{examples: [{question: "What is a token?", answer: "A unit of text."}, '
    '{question: "Why chunk?", answer: "To fit it."}]}',
    "json_in_a_string": '"{\\"examples\\": [{\\"question\\": \\"What is a token?\\", \\"answer\\": '
    '\\"A unit of text.\\"}, {\\"question\\": \\"Why chunk?\\", \\"answer\\": '
    '\\"To fit it.\\"}]}"',
    "prose_with_braces_first": 'Sure {as requested}: [{"question": "What is a token?", "answer": '
    '"A unit of text."}, {"question": "Why chunk?", "answer": "To fit it."}]',
}


@pytest.mark.parametrize("raw", BROKEN_QA.values(), ids=BROKEN_QA.keys())
def test_broken_json_forms_are_recovered(raw: str) -> None:
    assert qa_pairs(parse_examples(raw, TaskType.QA)) == TWO_QA


def test_single_object_instead_of_a_list() -> None:
    raw = '{"question": "What is a token?", "answer": "A unit of text.", "evidence": "unit of text"}'
    [draft] = parse_examples(raw, TaskType.QA)
    assert qa_pairs([draft]) == TWO_QA[:1]
    assert draft.evidence == "unit of text"


def test_unescaped_newlines_and_inner_quotes_are_kept_in_the_text() -> None:
    raw = (
        '{"examples": [{"question": "What did \'it\' say?", "answer": "It said "no" to:\n- cash\n- gifts", '
        '"evidence": "no gifts"}]}'
    )
    [draft] = parse_examples(raw, TaskType.QA)
    assert draft.messages[1].content == 'It said "no" to:\n- cash\n- gifts'


def test_apostrophes_and_smart_quotes_inside_strings() -> None:
    raw = (
        "{'examples': [{'question': 'Qu'est-ce qu'un jeton ?', 'answer': 'C'est l’unité, dite « token ».'}]}"
    )
    assert qa_pairs(parse_examples(raw, TaskType.QA)) == [
        ("Qu'est-ce qu'un jeton ?", "C'est l’unité, dite « token ».")
    ]
    raw = "{“examples”: [{“question”: “What is “RAG”?”, “answer”: “It’s retrieval, then generation.”}]}"
    assert qa_pairs(parse_examples(raw, TaskType.QA)) == [
        ("What is “RAG”?", "It’s retrieval, then generation.")
    ]


def test_escapes_are_decoded() -> None:
    raw = '{"examples": [{"question": "Caf\\u00e9 \\ud83d\\ude00?", "answer": "Tab\\there, C:\\\\dir\\\\x."}'
    [draft] = parse_examples(raw + "]}", TaskType.QA)
    assert draft.messages[0].content == "Café 😀?"
    assert draft.messages[1].content == "Tab\there, C:\\dir\\x."


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "I'm sorry, I can't help with that.",
        "42",
        '"just a string"',
        "{}",
        '{"note": "nothing"}',
        '{"question": "What is a tok',
        "[1, 2, 3]",
        "null",
    ],
    ids=[
        "empty",
        "blank",
        "refusal",
        "number",
        "string",
        "empty_object",
        "unknown_keys",
        "cut_single",
        "numbers",
        "null",
    ],
)
def test_garbage_gives_one_json_invalid_draft_with_the_raw_text(raw: str) -> None:
    [draft] = parse_examples(raw, TaskType.QA)
    assert draft.errors == ["json_invalid"]
    assert draft.raw == raw
    assert draft.messages == []


def test_deeply_nested_garbage_does_not_raise() -> None:
    [draft] = parse_examples("[" * 5000, TaskType.QA)
    assert draft.errors == ["json_invalid"]


def test_an_explicitly_empty_list_gives_no_drafts() -> None:
    assert parse_examples('{"examples": []}', TaskType.QA) == []


def test_items_missing_required_fields_are_kept_with_empty_field() -> None:
    raw = (
        '{"examples": [{"question": "What is a token?", "answer": "  "}, {"answer": "Orphan answer."}, '
        '"a bare string", {"question": "Why chunk?", "answer": "To fit it."}]}'
    )
    drafts = parse_examples(raw, TaskType.QA)
    assert [d.errors for d in drafts] == [["empty_field"], ["empty_field"], ["empty_field"], []]
    assert [m.content for m in drafts[0].messages] == ["What is a token?"]
    assert drafts[1].raw is not None and "Orphan answer." in drafts[1].raw
    assert drafts[2].raw == "a bare string"


def test_instruction_items() -> None:
    raw = (
        '{"examples": [{"instruction": "Rewrite in plain English.", "input": "Leave accrues monthly.", '
        '"output": "You earn leave every month.", "evidence": "Leave accrues monthly."}, '
        '{"instruction": "List the leave types.", "input": "", "output": "Annual and sick leave."}, '
        '{"instruction": "No output here."}]}'
    )
    drafts = parse_examples(raw, TaskType.INSTRUCTION)
    assert drafts[0].messages[0].content == "Rewrite in plain English.\n\nLeave accrues monthly."
    assert drafts[0].messages[1].content == "You earn leave every month."
    assert drafts[0].evidence == "Leave accrues monthly."
    assert drafts[1].messages[0].content == "List the leave types."
    assert drafts[2].errors == ["empty_field"]


def test_conversation_items() -> None:
    raw = (
        '{"examples": [{"messages": [{"role": "system", "content": "no"}, '
        '{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}, '
        '{"role": "user", "content": "More?"}, '
        '{"role": "assistant", "content": "Sure."}], "evidence": "Hello"}, '
        '{"messages": [{"from": "human", "value": "Q?"}, {"from": "gpt", "value": "A."}]}, '
        '{"messages": [{"role": "assistant", "content": "Hi."}, {"role": "user", "content": "Oops."}]}, '
        '{"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "A."}]}, '
        '{"evidence": "no messages"}]}'
    )
    drafts = parse_examples(raw, TaskType.CONVERSATION)
    assert [m.role for m in drafts[0].messages] == ["user", "assistant", "user", "assistant"]
    assert drafts[0].errors == [] and drafts[0].evidence == "Hello"
    assert [(m.role, m.content) for m in drafts[1].messages] == [("user", "Q?"), ("assistant", "A.")]
    assert drafts[2].errors == ["invalid_roles"]
    assert drafts[3].errors == ["empty_field"]
    assert drafts[4].errors == ["empty_field"]


def test_a_conversation_given_as_a_bare_list_of_turns() -> None:
    raw = '[{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}]'
    [draft] = parse_examples(raw, TaskType.CONVERSATION)
    assert [(m.role, m.content) for m in draft.messages] == [("user", "Hi?"), ("assistant", "Hello.")]


def test_summaries_get_the_user_turn_built_by_us() -> None:
    passage = "Leave accrues monthly. Unused days expire in March."
    raw = (
        '{"examples": [{"summary": "Leave accrues monthly, expires in March.", "evidence": "Leave accrues"}]}'
    )
    [draft] = parse_examples(raw, TaskType.SUMMARIZATION, chunk_text=passage)
    assert draft.messages[0].content == f"Summarize the following passage.\n\n{passage}"
    assert draft.messages[1].content == "Leave accrues monthly, expires in March."
    [draft] = parse_examples(raw, TaskType.SUMMARIZATION, user_content_for_summary="Résumez.\n\nTexte.")
    assert draft.messages[0].content == "Résumez.\n\nTexte."
    [draft] = parse_examples(raw, TaskType.SUMMARIZATION)
    assert draft.errors == ["empty_field"] and [m.role for m in draft.messages] == ["assistant"]


def test_parsed_drafts_require_evidence() -> None:
    [draft] = parse_examples('{"question": "Q?", "answer": "A."}', TaskType.QA)
    assert draft.metadata == {"requires_evidence": True}


def test_loosely_quoted_evidence_is_replaced_by_the_exact_span() -> None:
    chunk = "Employees must submit requests\nat least 14 days before the “first day” of absence."
    quoted = '"Employees must submit requests at least 14 days before the "first day"..."'
    raw = json.dumps({"examples": [{"question": "When?", "answer": "14 days before.", "evidence": quoted}]})
    [draft] = parse_examples(raw, TaskType.QA, chunk_text=chunk)
    assert draft.evidence == "Employees must submit requests\nat least 14 days before the “first day”"
    assert draft.evidence in chunk


@pytest.mark.parametrize(
    ("evidence", "expected"),
    [
        ("must submit", "must submit"),  # already verbatim
        ("EMPLOYEES MUST  SUBMIT", "Employees must submit"),
        ("an invented quote that is not there", "an invented quote that is not there"),
        ("x", "x"),
    ],
)
def test_ground_evidence(evidence: str, expected: str) -> None:
    assert ground_evidence(evidence, "Employees must submit requests.") == expected
