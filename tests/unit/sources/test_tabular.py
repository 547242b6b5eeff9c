"""Dataset uploads: each recognised column set becomes chat messages; bad rows are kept and flagged."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from finetune_core.domain import ExampleDraft, RecordSet
from finetune_core.errors import SourceLoadError
from finetune_core.sources.base import LoadOptions
from finetune_core.sources.tabular import load_csv, load_json, load_jsonl

OPTIONS = LoadOptions()


def _jsonl(rows: Sequence[object]) -> bytes:
    return "\n".join(json.dumps(row, ensure_ascii=False) for row in rows).encode()


def _turns(draft: ExampleDraft) -> list[tuple[str, str]]:
    return [(message.role, message.content) for message in draft.messages]


@pytest.mark.parametrize(
    ("row", "mapping", "turns"),
    [
        (
            {"prompt": "Define leaven.", "completion": "Starter built for one bake."},
            "prompt/completion",
            [("user", "Define leaven."), ("assistant", "Starter built for one bake.")],
        ),
        (
            {"instruction": "Translate to French.", "input": "sourdough", "output": "levain"},
            "instruction/input/output",
            [("user", "Translate to French.\n\nsourdough"), ("assistant", "levain")],
        ),
        (
            {"instruction": "Name a flour.", "input": "", "output": "Rye."},
            "instruction/input/output",
            [("user", "Name a flour."), ("assistant", "Rye.")],
        ),
        (
            {"question": "What is hooch?", "answer": "Alcohol from hungry yeast."},
            "question/answer",
            [("user", "What is hooch?"), ("assistant", "Alcohol from hungry yeast.")],
        ),
        (
            {"input": "2 + 2", "output": "4"},
            "input/output",
            [("user", "2 + 2"), ("assistant", "4")],
        ),
        (
            {"System": "You are a baker.", "Question": "Best flour?", "ANSWER": "Bread flour."},
            "question/answer",
            [("system", "You are a baker."), ("user", "Best flour?"), ("assistant", "Bread flour.")],
        ),
    ],
)
def test_column_sets_in_every_format(row: dict[str, str], mapping: str, turns: list[tuple[str, str]]) -> None:
    header = list(row)
    csv_data = (",".join(header) + "\n" + ",".join(f'"{row[c]}"' for c in header) + "\n").encode()
    loaded = [
        load_csv(csv_data, OPTIONS),
        load_jsonl(_jsonl([row]), OPTIONS),
        load_json(json.dumps([row]).encode(), OPTIONS),
        load_json(json.dumps({"data": [row]}).encode(), OPTIONS),
    ]
    for records in loaded:
        assert records.mapping == mapping
        assert records.columns == header
        assert records.row_count == 1
        assert _turns(records.records[0]) == turns
        assert records.records[0].errors == []


def test_question_with_context_goes_into_the_user_turn() -> None:
    row = {"question": "How long?", "context": "Bulk takes 4-6 h.", "answer": "4-6 h"}
    records = load_jsonl(_jsonl([row]), OPTIONS)
    draft = records.records[0]
    assert _turns(draft) == [("user", "How long?\n\nBulk takes 4-6 h."), ("assistant", "4-6 h")]
    assert draft.evidence == "Bulk takes 4-6 h."


def test_messages_column() -> None:
    rows = [
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                      {"role": "assistant", "content": "Hello"}]},
        {"messages": [{"role": "user", "content": "Again"}, {"role": "assistant", "content": "Sure"}],
         "system": "Added system"},
    ]
    records = load_jsonl(_jsonl(rows), OPTIONS)
    assert records.mapping == "messages"
    assert _turns(records.records[0]) == [("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello")]
    assert _turns(records.records[1]) == [("system", "Added system"), ("user", "Again"),
                                          ("assistant", "Sure")]


def test_sharegpt_conversations() -> None:
    turns = [{"from": "system", "value": "Baker"}, {"from": "human", "value": "Why rest dough?"},
             {"from": "gpt", "value": "To relax gluten."}]
    rows = [{"conversations": turns}]
    records = load_json(json.dumps(rows).encode(), OPTIONS)
    assert records.mapping == "sharegpt"
    assert _turns(records.records[0]) == [("system", "Baker"), ("user", "Why rest dough?"),
                                          ("assistant", "To relax gluten.")]


def test_either_key_style_in_either_column() -> None:
    rows = [{"conversations": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]}]
    assert _turns(load_jsonl(_jsonl(rows), OPTIONS).records[0]) == [("user", "Q"), ("assistant", "A")]
    rows = [{"messages": [{"from": "human", "value": "Q"}, {"from": "model", "value": "A"}]}]
    assert _turns(load_jsonl(_jsonl(rows), OPTIONS).records[0]) == [("user", "Q"), ("assistant", "A")]


def test_messages_as_json_text_in_a_csv_cell() -> None:
    cell = json.dumps([{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}])
    data = ("messages\n" + '"' + cell.replace('"', '""') + '"\n').encode()
    assert _turns(load_csv(data, OPTIONS).records[0]) == [("user", "Q"), ("assistant", "A")]


def test_malformed_messages_are_kept_and_flagged() -> None:
    rows = [{"messages": [{"role": "wizard", "content": "?"}]}, {"messages": "not json"},
            {"messages": [{"role": "user", "content": "ok"}, {"role": "assistant", "content": "fine"}]}]
    records = load_jsonl(_jsonl(rows), OPTIONS)
    assert [draft.errors for draft in records.records] == [["invalid_messages"], ["invalid_messages"], []]
    assert records.records[0].raw is not None


def test_rows_with_empty_required_fields_are_kept_with_an_error() -> None:
    data = b"question,answer\nWhat is rye?,A grain.\nWhat is spelt?,\n,Orphan answer\n"
    records = load_csv(data, OPTIONS)
    assert records.row_count == 3
    assert [draft.errors for draft in records.records] == [[], ["empty_field"], ["empty_field"]]
    assert _turns(records.records[1]) == [("user", "What is spelt?"), ("assistant", "")]
    empty_turn = load_jsonl(_jsonl([{"messages": [{"role": "user", "content": " "},
                                                  {"role": "assistant", "content": "x"}]}]), OPTIONS)
    assert empty_turn.records[0].errors == ["empty_field"]


def test_unrecognised_columns_list_the_accepted_sets() -> None:
    with pytest.raises(SourceLoadError) as caught:
        load_csv(b"title,body\nA,B\nC,D\n", OPTIONS)
    message = caught.value.message
    assert "unrecognised columns (title, body)" in message
    for accepted in ("messages", "conversations", "instruction, input, output", "prompt, completion",
                     "question, answer", "input, output"):
        assert accepted in message


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_other_csv_delimiters(delimiter: str) -> None:
    data = f"question{delimiter}answer\nQ1{delimiter}A, with a comma\nQ2{delimiter}A2\n".encode()
    records = load_csv(data, OPTIONS)
    assert _turns(records.records[0]) == [("user", "Q1"), ("assistant", "A, with a comma")]


def test_csv_with_bom_quotes_and_multiline_cells() -> None:
    data = '\ufeffquestion,answer\n"Steps?","Mix.\nRest.\nBake."\n'.encode()
    records = load_csv(data, OPTIONS)
    assert records.columns == ["question", "answer"]
    assert records.records[0].messages[1].content == "Mix.\nRest.\nBake."


def test_preview_is_the_first_five_rows() -> None:
    rows = [{"prompt": f"p{i}", "completion": f"c{i}", "score": i} for i in range(12)]
    records = load_jsonl(_jsonl(rows), OPTIONS)
    assert records.row_count == 12
    assert records.preview == rows[:5]
    assert records.columns == ["prompt", "completion", "score"]


@pytest.mark.parametrize(
    ("loader", "data", "message"),
    [
        (load_jsonl, b'{"prompt": "a", "completion": "b"}\n{broken\n', "line 2 of the JSONL file"),
        (load_jsonl, b'{"prompt": "a", "completion": "b"}\n\n[1, 2]\n', "line 3 is not a JSON object"),
        (load_json, b'{"prompt": "a"', "not valid JSON"),
        (load_json, b'{"name": "not a list"}', "list of objects"),
        (load_json, b'"just a string"', "list of objects"),
        (load_json, b"[1, 2, 3]", "item 1 is not a JSON object"),
        (load_json, b"[]", "no rows"),
        (load_csv, b"question,answer\n", "no rows"),
        (load_csv, b"", "empty"),
        (load_jsonl, b"\x00\x01\x02", "not readable text"),
    ],
)
def test_bad_datasets(loader: Any, data: bytes, message: str) -> None:
    with pytest.raises(SourceLoadError, match=message):
        loader(data, OPTIONS)


def test_sample_faq(samples_dir: Path) -> None:
    records: RecordSet = load_csv((samples_dir / "sourdough-faq.csv").read_bytes(), OPTIONS)
    assert records.mapping == "question/answer"
    assert records.row_count == 10
    assert all(not draft.errors for draft in records.records)
    assert records.records[1].messages[0].content == "What is hydration in bread baking?"
    assert len(records.preview) == 5
