"""The JSON values in what a model wrote, however broken its JSON is.

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


def read_values(raw: str, depth: int = 0) -> list[tuple[Any, bool]]:
    """Each JSON value in `raw`, with whether it was complete (one cut off mid-way is read in part)."""
    stripped = raw.strip()
    fenced = _FENCE.search(stripped)
    for candidate in (stripped, fenced.group(1).strip() if fenced else None):
        if candidate:
            try:
                value = json.loads(candidate)
            except ValueError:
                continue
            if isinstance(value, str) and depth == 0:
                return read_values(value, 1)  # JSON encoded twice
            return [(value, True)]
    return _scan(stripped)


def json_values(raw: str) -> list[Any]:
    """The JSON values found in a model's answer: whole, fenced, or among prose, repaired where slightly broken."""
    return [value for value, _ in read_values(raw)]
