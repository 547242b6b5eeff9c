"""Read examples out of what a model wrote, however broken its JSON is.

Strict `json.loads` is tried first; on failure a small lenient reader scans the text for JSON
values and accepts code fences, prose around them, single and smart quotes, trailing or missing
commas, raw newlines inside strings, bare keys, JSONL and output cut off mid-value (the items
completed before the cut are kept, the cut one is dropped). No dependency is needed for this:
`json-repair` would close a cut item instead of dropping it, which keeps half-written answers.
"""

from __future__ import annotations

import json
import re
from typing import Any

from finetune_core.domain import ExampleDraft, Message, TaskType
from finetune_core.domain.models import Role
from finetune_core.generation.prompts import summary_user_content

_OPENERS: dict[str, str] = {'"': '"', "'": "'", "“": "”\"“", "‘": "’'‘", "«": "»"}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "/": "/", "\\": "\\", '"': '"', "'": "'"}
_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_LITERALS: dict[str, Any] = {"true": True, "false": False, "null": None, "True": True, "False": False,
                             "None": None}
_START = re.compile(r"[{\[]")
_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n(.*?)(?:```|\Z)", re.DOTALL)


class _Reader:
    """A forgiving recursive-descent JSON reader; every method returns (value, complete)."""

    def __init__(self, text: str, start: int) -> None:
        self.s = text
        self.i = start
        self.n = len(text)

    def skip_space(self) -> bool:
        """Skip whitespace and // comments; True when a newline was crossed."""
        newline = False
        while self.i < self.n:
            c = self.s[self.i]
            if c.isspace():
                newline = newline or c == "\n"
                self.i += 1
            elif self.s.startswith("//", self.i):
                end = self.s.find("\n", self.i)
                self.i = self.n if end < 0 else end
            else:
                break
        return newline

    def value(self, depth: int = 0) -> tuple[Any, bool]:
        self.skip_space()
        if self.i >= self.n or depth > 64:
            return None, False
        c = self.s[self.i]
        if c == "{":
            return self.object(depth)
        if c == "[":
            return self.array(depth)
        if c in _OPENERS:
            return self.string()
        return self.literal()

    def object(self, depth: int) -> tuple[dict[str, Any], bool]:
        self.i += 1
        result: dict[str, Any] = {}
        while True:
            before = self.i
            self.skip_space()
            while self.i < self.n and self.s[self.i] == ",":
                self.i += 1
                self.skip_space()
            if self.i >= self.n:
                return result, False
            c = self.s[self.i]
            if c == "}":
                self.i += 1
                return result, True
            if c == "]":  # mismatched closer: end the object and let the enclosing array take it
                return result, True
            if c in _OPENERS:
                key, ok = self.string()
            else:
                key, ok = self.bare(":,}")
            if not ok:
                return result, False
            self.skip_space()
            if self.i < self.n and self.s[self.i] in ":=":
                self.i += 1
            item, ok = self.value(depth + 1)
            result[str(key)] = item
            if not ok:
                return result, False
            if self.i == before:
                self.i += 1

    def array(self, depth: int) -> tuple[list[Any], bool]:
        self.i += 1
        result: list[Any] = []
        while True:
            before = self.i
            self.skip_space()
            while self.i < self.n and self.s[self.i] == ",":
                self.i += 1
                self.skip_space()
            if self.i >= self.n:
                return result, False
            c = self.s[self.i]
            if c in "]}":
                self.i += 1
                return result, True
            item, ok = self.value(depth + 1)
            if not ok:
                return result, False  # the item cut off by truncation is dropped
            result.append(item)
            if self.i == before:
                self.i += 1

    def string(self) -> tuple[str, bool]:
        closers = _OPENERS[self.s[self.i]]
        self.i += 1
        out: list[str] = []
        while self.i < self.n:
            c = self.s[self.i]
            if c == "\\":
                if self.i + 1 >= self.n:
                    break
                out.append(self.escape())
                continue
            self.i += 1
            if c in closers and self.closes():
                return "".join(out), True
            out.append(c)
        return "".join(out), False

    def closes(self) -> bool:
        """Whether the quote just read ends the string: what follows must be structural.

        This lets unescaped inner quotes (He said "no") and apostrophes in single-quoted
        strings through, and still ends a string before a missing comma at a line break.
        """
        j = self.i
        newline = False
        while j < self.n and self.s[j].isspace():
            newline = newline or self.s[j] == "\n"
            j += 1
        if j >= self.n or self.s[j] in ",:}]":
            return True
        return newline and (self.s[j] in _OPENERS or self.s[j] in "{[")

    def escape(self) -> str:
        nxt = self.s[self.i + 1]
        if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", self.s[self.i + 2 : self.i + 6]):
            code = int(self.s[self.i + 2 : self.i + 6], 16)
            self.i += 6
            low = self.s[self.i + 2 : self.i + 6]
            if 0xD800 <= code < 0xDC00 and self.s.startswith("\\u", self.i) and re.fullmatch(
                r"[dD][c-fC-F][0-9a-fA-F]{2}", low
            ):
                self.i += 6
                return chr(0x10000 + ((code - 0xD800) << 10) + (int(low, 16) - 0xDC00))
            return chr(code)
        self.i += 2
        return _ESCAPES.get(nxt, "\\" + nxt)  # unknown escapes (C:\Users) are kept as written

    def literal(self) -> tuple[Any, bool]:
        match = _NUMBER.match(self.s, self.i)
        if match:
            end = match.end()
            if end >= self.n or self.s[end] in ",}] \t\r\n":
                self.i = end
                text = match.group()
                return (float(text) if any(ch in text for ch in ".eE") else int(text)), True
        word, ok = self.bare(",}]\n")
        if word in _LITERALS:
            return _LITERALS[word], ok
        return word, ok

    def bare(self, stops: str) -> tuple[str, bool]:
        start = self.i
        while self.i < self.n and self.s[self.i] not in stops:
            self.i += 1
        if self.i == start and self.i < self.n and self.s[self.i] == ":":
            self.i += 1
        return self.s[start : self.i].strip(), self.i < self.n


def _scan(text: str) -> list[tuple[Any, bool]]:
    """Every JSON object or array in `text`, in order: prose between them is skipped."""
    found: list[tuple[Any, bool]] = []
    position = 0
    while True:
        match = _START.search(text, position)
        if match is None:
            return found
        reader = _Reader(text, match.start())
        found.append(reader.value())
        position = max(reader.i, match.start() + 1)


def _values(raw: str, depth: int = 0) -> list[tuple[Any, bool]]:
    stripped = raw.strip()
    fenced = _FENCE.search(stripped)
    for candidate in (stripped, fenced.group(1).strip() if fenced else None):
        if candidate:
            try:
                value = json.loads(candidate)
            except ValueError:
                continue
            if isinstance(value, str) and depth == 0:
                return _values(value, 1)  # JSON encoded twice
            return [(value, True)]
    return _scan(stripped)


def json_values(raw: str) -> list[Any]:
    """The JSON values found in a model's answer: whole, fenced, or among prose, repaired where slightly broken."""
    return [value for value, _ in _values(raw)]


_KNOWN_FIELDS = frozenset({
    "question", "q", "answer", "a", "prompt", "response", "instruction", "task", "input", "output",
    "summary", "evidence", "messages", "conversation", "turns",
})


def _is_turn(item: Any) -> bool:
    return isinstance(item, dict) and bool({"role", "from"} & item.keys())


def _items(values: list[tuple[Any, bool]], task_type: TaskType) -> list[Any] | None:
    """The example items found, or None when no value looked like examples at all."""
    items: list[Any] = []
    found = False
    for value, complete in values:
        if isinstance(value, dict):
            key = next((k for k in ("examples", "data", "items", "results") if k in value), None)
            if key is not None and isinstance(value[key], list | dict):
                found = True
                items.extend(value[key] if isinstance(value[key], list) else [value[key]])
            elif complete and _KNOWN_FIELDS & {str(k).strip().lower() for k in value}:
                found = True  # a single example object; other objects (prose in braces) are skipped
                items.append(value)
        elif isinstance(value, list) and any(isinstance(x, dict) for x in value):
            found = True
            if task_type is TaskType.CONVERSATION and all(_is_turn(x) for x in value):
                items.append({"messages": value})  # one conversation given as a bare list of turns
            else:
                items.extend(value)
    return items if found else None


def _field(item: dict[str, Any], *names: str) -> str:
    for name in names:
        value = item.get(name)
        if value is None:
            continue
        if isinstance(value, list):
            return "\n".join(_text(v) for v in value).strip()
        return _text(value).strip()
    return ""


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


_USER_ROLES = {"user", "human", "client", "customer", "utilisateur", "usuario"}
_ASSISTANT_ROLES = {"assistant", "gpt", "bot", "ai", "model", "chatbot", "assistant_response"}


def _turns(item: dict[str, Any]) -> tuple[list[Message], list[str]]:
    raw_turns = item.get("messages") or item.get("conversation") or item.get("turns") or []
    if not isinstance(raw_turns, list):
        return [], ["empty_field"]
    messages: list[Message] = []
    errors: list[str] = []
    for turn in raw_turns:
        if not isinstance(turn, dict):
            errors.append("empty_field")
            continue
        role_name = _field(turn, "role", "from", "speaker").lower()
        if role_name == "system":
            continue  # the core adds the project's system prompt itself
        role: Role | None = (
            "user" if role_name in _USER_ROLES else "assistant" if role_name in _ASSISTANT_ROLES else None
        )
        if role is None:
            errors.append("invalid_roles")
            continue
        content = _field(turn, "content", "value", "text")
        if not content:
            errors.append("empty_field")  # kept, so the turn order is still checked
        messages.append(Message(role=role, content=content))
    if not messages:
        return [], ["empty_field"]
    expected = ["user" if index % 2 == 0 else "assistant" for index in range(len(messages))]
    if [m.role for m in messages] != expected or messages[-1].role != "assistant":
        errors.append("invalid_roles")
    return messages, sorted(set(errors))


def _draft(item: Any, task_type: TaskType, summary_user: str | None) -> ExampleDraft:
    if not isinstance(item, dict):
        return ExampleDraft(errors=["empty_field"], raw=_text(item))
    item = {str(k).strip().lower(): v for k, v in item.items()}
    evidence = _field(item, "evidence", "quote", "citation", "source_quote") or None
    messages: list[Message] = []
    errors: list[str] = []

    def pair(user: str, assistant: str) -> None:
        if user:
            messages.append(Message(role="user", content=user))
        if assistant:
            messages.append(Message(role="assistant", content=assistant))
        if not (user and assistant):
            errors.append("empty_field")

    if task_type is TaskType.QA:
        pair(_field(item, "question", "q", "prompt"), _field(item, "answer", "a", "response", "output"))
    elif task_type is TaskType.INSTRUCTION:
        instruction = _field(item, "instruction", "task", "prompt")
        extra = _field(item, "input", "context")
        user = f"{instruction}\n\n{extra}" if instruction and extra else instruction
        pair(user, _field(item, "output", "response", "answer"))
    elif task_type is TaskType.CONVERSATION:
        messages, errors = _turns(item)
    else:
        pair(summary_user or "", _field(item, "summary", "output", "answer"))
    raw = json.dumps(item, ensure_ascii=False) if errors else None
    # the prompts ask for evidence, so the evidence validator may flag a draft without it
    return ExampleDraft(messages=messages, evidence=evidence, errors=errors, raw=raw,
                        metadata={"requires_evidence": True})


_QUOTES = str.maketrans({"“": '"', "”": '"', "«": '"', "»": '"', "‘": "'", "’": "'", "–": "-", "—": "-"})


def _loose(text: str) -> tuple[str, list[int]]:
    """`text` with runs of whitespace collapsed and quotes unified, and where each char came from."""
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text.translate(_QUOTES)):
        if char.isspace():
            if chars and chars[-1] == " ":
                continue
            char = " "
        chars.append(char.lower())
        origin.append(index)
    return "".join(chars), origin


def ground_evidence(evidence: str, chunk_text: str) -> str:
    """The span of `chunk_text` that `evidence` quotes loosely (spacing, quotes, case), else `evidence`."""
    if evidence in chunk_text:
        return evidence
    needle, _ = _loose(evidence.strip().strip("\"'“”«» ").strip(".… ").strip())
    if len(needle) < 8:
        return evidence
    haystack, origin = _loose(chunk_text)
    start = haystack.find(needle)
    if start < 0:
        return evidence
    return chunk_text[origin[start] : origin[start + len(needle) - 1] + 1]


def parse_examples(
    raw: str,
    task_type: TaskType,
    *,
    chunk_text: str | None = None,
    user_content_for_summary: str | None = None,
) -> list[ExampleDraft]:
    """Drafts in the canonical messages form (no system turn); never raises.

    Items missing a required field are kept with errors ["empty_field"]; text with no examples
    at all gives one draft with errors ["json_invalid"] and the text in `raw`. Summaries get the
    user turn `user_content_for_summary`, or `summary_user_content(chunk_text)` when only the
    passage is given (with neither, the draft lacks its user turn and is flagged "empty_field").
    With `chunk_text`, evidence quoted loosely is replaced by the exact span.
    """
    try:
        items = _items(_values(raw or ""), task_type)
    except RecursionError:
        items = None
    if items is None:
        return [ExampleDraft(errors=["json_invalid"], raw=raw)]
    summary_user = user_content_for_summary
    if summary_user is None and chunk_text is not None:
        summary_user = summary_user_content(chunk_text)
    drafts = [_draft(item, task_type, summary_user) for item in items]
    if chunk_text is not None:
        for draft in drafts:
            if draft.evidence:
                draft.evidence = ground_evidence(draft.evidence, chunk_text)
    return drafts
