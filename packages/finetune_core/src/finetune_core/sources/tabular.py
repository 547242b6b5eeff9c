"""Dataset uploads (CSV, JSONL, JSON): rows mapped onto chat messages by their column set."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from finetune_core.domain import ExampleDraft, Message, RecordSet, SourceKind, SourceType
from finetune_core.domain.content import Role
from finetune_core.errors import SourceLoadError
from finetune_core.sources.base import FileLoader, LoadOptions
from finetune_core.sources.sniff import CSV, JSON, JSONL, csv_delimiter
from finetune_core.sources.text import decode_or_fail

PREVIEW_ROWS = 5
EMPTY_FIELD = "empty_field"
INVALID_MESSAGES = "invalid_messages"
CSV_FIELD_LIMIT = 64 * 1024 * 1024
JSON_LIST_KEYS = ("data", "examples", "records", "rows", "items")

Row = dict[str, Any]
_ROLES: dict[str, Role] = {
    "system": "system",
    "user": "user",
    "human": "user",
    "prompt": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "model": "assistant",
    "bot": "assistant",
    "chatgpt": "assistant",
}


@dataclass(frozen=True)
class ColumnSet:
    """A recognised column set: the columns it needs and how one row becomes a draft."""

    name: str
    required: tuple[str, ...]
    build: Callable[[Row, dict[str, str]], ExampleDraft]


def _text(row: Row, columns: dict[str, str], name: str) -> str:
    key = columns.get(name)
    value = row.get(key) if key is not None else None
    if value is None:
        return ""
    return value.strip() if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _draft(turns: list[tuple[Role, str]], row: Row, columns: dict[str, str], *, evidence: str | None = None
           ) -> ExampleDraft:
    system = _text(row, columns, "system")
    messages = [Message(role="system", content=system)] if system else []
    messages += [Message(role=role, content=content) for role, content in turns]
    errors = [EMPTY_FIELD] if any(not content for _, content in turns) else []
    return ExampleDraft(messages=messages, evidence=evidence or None, errors=errors)


def _pair(user: str, assistant: str) -> Callable[[Row, dict[str, str]], ExampleDraft]:
    def build(row: Row, columns: dict[str, str]) -> ExampleDraft:
        return _draft([("user", _text(row, columns, user)), ("assistant", _text(row, columns, assistant))],
                      row, columns)

    return build


def _instruction(row: Row, columns: dict[str, str]) -> ExampleDraft:
    instruction, input_ = _text(row, columns, "instruction"), _text(row, columns, "input")
    user = f"{instruction}\n\n{input_}" if instruction and input_ else instruction
    return _draft([("user", user), ("assistant", _text(row, columns, "output"))], row, columns)


def _question(row: Row, columns: dict[str, str]) -> ExampleDraft:
    question, context = _text(row, columns, "question"), _text(row, columns, "context")
    user = f"{question}\n\n{context}" if question and context else question
    turns: list[tuple[Role, str]] = [("user", user), ("assistant", _text(row, columns, "answer"))]
    return _draft(turns, row, columns, evidence=context)


def _turns(value: Any) -> list[tuple[Role, str]] | None:
    """(role, content) pairs from a list of {role, content} or {from, value} objects; None when malformed."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not isinstance(value, list) or not value:
        return None
    turns: list[tuple[Role, str]] = []
    for item in value:
        if not isinstance(item, dict):
            return None
        lowered = {str(key).lower(): val for key, val in item.items()}
        role = _ROLES.get(str(lowered.get("role", lowered.get("from", ""))).strip().lower())
        content = lowered.get("content", lowered.get("value"))
        if role is None or not (content is None or isinstance(content, str)):
            return None
        turns.append((role, (content or "").strip()))
    return turns


def _conversation(column: str) -> Callable[[Row, dict[str, str]], ExampleDraft]:
    def build(row: Row, columns: dict[str, str]) -> ExampleDraft:
        turns = _turns(row.get(columns[column]))
        if turns is None:
            raw = json.dumps(row, ensure_ascii=False, default=str)
            return ExampleDraft(errors=[INVALID_MESSAGES], raw=raw)
        system = _text(row, columns, "system")
        if system and not any(role == "system" for role, _ in turns):
            turns.insert(0, ("system", system))
        messages = [Message(role=role, content=content) for role, content in turns]
        return ExampleDraft(messages=messages, errors=[EMPTY_FIELD] if any(not c for _, c in turns) else [])

    return build


COLUMN_SETS = (
    ColumnSet("messages", ("messages",), _conversation("messages")),
    ColumnSet("sharegpt", ("conversations",), _conversation("conversations")),
    ColumnSet("instruction/input/output", ("instruction", "output"), _instruction),
    ColumnSet("prompt/completion", ("prompt", "completion"), _pair("prompt", "completion")),
    ColumnSet("question/answer", ("question", "answer"), _question),
    ColumnSet("input/output", ("input", "output"), _pair("input", "output")),
)
ACCEPTED = "messages | conversations (ShareGPT) | instruction, input, output | prompt, completion | " \
           "question, answer (+ context) | input, output; each may add a system column"


def _read_csv(text: str) -> tuple[list[str], list[Row]]:
    if csv.field_size_limit() < CSV_FIELD_LIMIT:
        csv.field_size_limit(CSV_FIELD_LIMIT)  # the default 128 KB is too small for long documents in a cell
    reader = csv.reader(io.StringIO(text), delimiter=csv_delimiter(text) or ",")
    try:
        header = next(reader, [])
        columns = [name.strip() for name in header]
        rows = [dict(zip(columns, cells, strict=False)) for cells in reader if any(c.strip() for c in cells)]
    except csv.Error as exc:
        raise SourceLoadError(f"the CSV file could not be parsed: {exc}") from None
    return columns, rows


def _object_rows(items: list[Any], where: Callable[[int], str]) -> tuple[list[str], list[Row]]:
    columns: dict[str, None] = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise SourceLoadError(f"{where(index)} is not a JSON object")
        columns.update(dict.fromkeys(str(key) for key in item))
    return list(columns), items


def _read_jsonl(text: str) -> tuple[list[str], list[Row]]:
    items: list[Any] = []
    lines: list[int] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
        except ValueError as exc:
            raise SourceLoadError(f"line {number} of the JSONL file is not valid JSON ({exc})") from None
        lines.append(number)
    return _object_rows(items, lambda index: f"line {lines[index]}")


def _read_json(text: str) -> tuple[list[str], list[Row]]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SourceLoadError(f"the JSON file is not valid JSON ({exc})") from None
    if isinstance(data, dict):
        key = next((k for k in data if k.lower() in JSON_LIST_KEYS and isinstance(data[k], list)), None)
        if key is None:
            raise SourceLoadError('the JSON file must hold a list of objects, or {"data": [...]}')
        data = data[key]
    if not isinstance(data, list):
        raise SourceLoadError('the JSON file must hold a list of objects, or {"data": [...]}')
    return _object_rows(data, lambda index: f"item {index + 1}")


def _column_set(columns: list[str]) -> tuple[ColumnSet, dict[str, str]]:
    lowered: dict[str, str] = {}
    for column in columns:
        lowered.setdefault(column.strip().lower(), column)
    for column_set in COLUMN_SETS:
        if all(name in lowered for name in column_set.required):
            return column_set, lowered
    found = ", ".join(columns) or "none"
    raise SourceLoadError(
        f"unrecognised columns ({found}); a dataset needs one of these column sets: {ACCEPTED}",
        columns=columns,
    )


TABLE = "table"  # the mapping of a file kept as a plain table (LoadOptions.tables)


def _record_set(columns: list[str], rows: list[Row], options: LoadOptions) -> RecordSet:
    if not rows:
        raise SourceLoadError("the dataset has no rows")
    preview = [dict(row) for row in rows[:PREVIEW_ROWS]]
    try:
        column_set, lookup = _column_set(columns)
    except SourceLoadError:
        if not options.tables:
            raise
        return RecordSet(columns=columns, mapping=TABLE, records=[], row_count=len(rows), preview=preview)
    records = [column_set.build(row, lookup) for row in rows]
    return RecordSet(columns=columns, mapping=column_set.name, records=records, row_count=len(records),
                     preview=preview)


def load_csv(data: bytes, options: LoadOptions) -> RecordSet:
    return _record_set(*_read_csv(decode_or_fail(data, "CSV file")), options)


def load_jsonl(data: bytes, options: LoadOptions) -> RecordSet:
    return _record_set(*_read_jsonl(decode_or_fail(data, "JSONL file")), options)


def load_json(data: bytes, options: LoadOptions) -> RecordSet:
    return _record_set(*_read_json(decode_or_fail(data, "JSON file")), options)


csv_loader = FileLoader(name="csv", source_type=SourceType.CSV, mime_types=(CSV,), load=load_csv,
                        kind=SourceKind.DATASET_UPLOAD)
jsonl_loader = FileLoader(name="jsonl", source_type=SourceType.JSONL, mime_types=(JSONL,), load=load_jsonl,
                          kind=SourceKind.DATASET_UPLOAD)
json_loader = FileLoader(name="json", source_type=SourceType.JSON, mime_types=(JSON,), load=load_json,
                         kind=SourceKind.DATASET_UPLOAD)
