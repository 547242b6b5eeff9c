"""Read examples out of what a model wrote, however broken its JSON is.

The JSON values come from `lenient_json` (strict `json.loads` first, then a forgiving reader that
keeps the items completed before a cut); this module turns them into drafts of the project's task
type, and grounds their evidence in the passage.

Reasoning items ({"question", "reasoning", "answer"}) keep the answer as the assistant turn and the reasoning in
`metadata["reasoning"]`; an answer that carries its reasoning inline as `<think>...</think>` is split the same way.
Preference items ({"question", "answer_a", "answer_b"}) keep both answers, in the order given, in
`metadata["candidates"]`, the first standing in the assistant turn until the example is ranked
(domain/task_fields.py); a model that labels them "chosen"/"rejected" gives two candidates all the same, since
the ranking comes from scoring the texts, never from where they were written.
"""

from __future__ import annotations

import json
import re
from typing import Any

from finetune_core.domain import ExampleDraft, Message, TaskType
from finetune_core.domain.content import Role
from finetune_core.domain.task_fields import CANDIDATES, REASONING
from finetune_core.generation.lenient_json import json_values, read_values
from finetune_core.generation.prompts import summary_user_content

__all__ = ["ground_evidence", "json_values", "parse_examples"]  # json_values: from `lenient_json`


_KNOWN_FIELDS = frozenset({
    "question", "q", "answer", "a", "prompt", "response", "instruction", "task", "input", "output",
    "summary", "evidence", "messages", "conversation", "turns", "reasoning", "answer_a", "answer_b",
})
_REASONING_FIELDS = ("reasoning", "thinking", "thoughts", "thought", "rationale", "chain_of_thought", "explanation")
_CANDIDATE_FIELDS = (("answer_a", "response_a", "answer1", "answer_1", "chosen"),
                     ("answer_b", "response_b", "answer2", "answer_2", "rejected"))
_THINK = re.compile(r"^\s*<think(?:ing)?>(.*?)</think(?:ing)?>\s*(.*)$", re.DOTALL | re.IGNORECASE)


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

    metadata: dict[str, Any] = {}

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
    elif task_type is TaskType.REASONING:
        answer, reasoning = _field(item, "answer", "a", "response", "output"), _field(item, *_REASONING_FIELDS)
        if not reasoning and (inline := _THINK.match(answer)):
            reasoning, answer = inline.group(1).strip(), inline.group(2).strip()
        pair(_field(item, "question", "q", "prompt", "instruction"), answer)
        metadata[REASONING] = reasoning
        if not reasoning:
            errors.append("empty_field")
    elif task_type is TaskType.PREFERENCE:
        answers = item.get("answers")
        listed = [_text(a).strip() for a in answers] if isinstance(answers, list) else []
        first, second = (_field(item, *names) or (listed[i] if i < len(listed) else "")
                         for i, names in enumerate(_CANDIDATE_FIELDS))
        pair(_field(item, "question", "q", "prompt", "instruction"), first)
        metadata[CANDIDATES] = [first, second]
        if first and not second:
            errors.append("empty_field")
    else:
        pair(summary_user or "", _field(item, "summary", "output", "answer"))
    errors = sorted(set(errors))
    raw = json.dumps(item, ensure_ascii=False) if errors else None
    # the prompts ask for evidence, so the evidence validator may flag a draft without it
    return ExampleDraft(messages=messages, evidence=evidence, errors=errors, raw=raw,
                        metadata={**metadata, "requires_evidence": True})


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
        items = _items(read_values(raw or ""), task_type)
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
