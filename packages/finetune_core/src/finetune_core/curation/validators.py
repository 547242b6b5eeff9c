"""Built-in validators: each flags examples with one snake_case error code.

Validators are pure functions of an example's content (messages, evidence,
metadata, chunk), never of stored `validation_errors`, so running them again
gives the same codes. Each problem is reported by one validator where
practical: an empty answer is `empty_field`, not also `output_too_short`; an
example with no messages is `json_invalid` (or its draft's own error) only.

Reasoning and preference examples (domain/task_fields.py): a blank reasoning is `empty_field`; the tokens of the
reasoning count toward `max_seq_length`. A preference example is compared (duplicates, near duplicates) by its
question and its two candidates, whichever was chosen, so ranking it does not change those verdicts; its length is
checked on its longer candidate until ranked, then on the chosen answer; `preference` flags the pair itself.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence

from finetune_core.curation.base import ValidationContext
from finetune_core.domain import Chunk, Example
from finetune_core.domain.task_fields import (
    CANDIDATES,
    REASONING,
    REJECTED,
    candidates_of,
    is_preference,
    is_ranked,
    reasoning_of,
)

_WHITESPACE = re.compile(r"\s+")


def collapse_whitespace(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def normalize_text(text: str) -> str:
    """Case-, width- and whitespace-insensitive form used to compare examples."""
    return collapse_whitespace(unicodedata.normalize("NFKC", text).casefold())


def dialogue_turns(example: Example) -> list[tuple[str, str]]:
    """(role, normalised content) of the user and assistant turns; system prompts are ignored. A preference
    example gives its user turns then its two candidates in a fixed order, whichever is the assistant turn."""
    if is_preference(example):
        users = [("user", normalize_text(m.content)) for m in example.messages if m.role == "user"]
        return users + [("assistant", text) for text in sorted(normalize_text(c) for c in candidates_of(example))]
    return [(m.role, normalize_text(m.content)) for m in example.messages if m.role != "system"]


def comparable_text(example: Example) -> str:
    """The text near-duplicate detection compares: the dialogue as `dialogue_turns` orders it."""
    return " ".join(content for _, content in dialogue_turns(example))


def checked_answer(example: Example) -> str:
    """The answer a length check reads: the last assistant turn; an unranked preference example's longer
    candidate (the assistant turn is a placeholder until ranked)."""
    if is_preference(example) and not is_ranked(example):
        return max(candidates_of(example), key=len, default="")
    return example.answer


def dedupe_key(example: Example) -> bytes | None:
    """A digest of the normalised dialogue; None when there is no user or no assistant text."""
    turns = dialogue_turns(example)
    if not any(r == "user" and c for r, c in turns) or not any(r == "assistant" and c for r, c in turns):
        return None
    joined = "\x1e".join(f"{role}\x1f{content}" for role, content in turns)
    return hashlib.sha256(joined.encode("utf-8")).digest()


class TooShortValidator:
    """The answer (last assistant turn, stripped) is shorter than `min_output_chars`."""

    name = "too_short"
    code = "output_too_short"

    def validate(self, examples: Sequence[Example], context: ValidationContext) -> Iterator[tuple[str, str]]:
        minimum = context.config.min_output_chars
        for example in examples:
            answer = checked_answer(example).strip()
            # an empty answer is `empty_field`'s to report
            if answer and len(answer) < minimum:
                yield example.id, self.code


class MaxTokensValidator:
    """All message contents together count more tokens than `max_seq_length`: with the reasoning, and with the
    longer candidate of a preference example in place of its answer (each of its sequences must fit).

    Chat-template tokens are not counted: they depend on the model, not the data.
    """

    name = "max_tokens"
    code = "too_many_tokens"

    def validate(self, examples: Sequence[Example], context: ValidationContext) -> Iterator[tuple[str, str]]:
        limit = context.config.max_seq_length
        count = context.tokenizer.count
        for example in examples:
            total = sum(count(m.content) for m in example.messages)
            if reasoning := reasoning_of(example):
                total += count(reasoning)
            if is_preference(example):
                total += max((count(text) for text in candidates_of(example)), default=0) - count(example.answer)
            if total > limit:
                yield example.id, self.code


class EmptyFieldValidator:
    """A message with blank content, or no user turn, or no assistant turn, or a blank reasoning (when the example
    has that field)."""

    name = "empty_field"
    code = "empty_field"

    def validate(self, examples: Sequence[Example], context: ValidationContext) -> Iterator[tuple[str, str]]:
        for example in examples:
            if not example.messages:
                continue  # nothing was parsed: `json` or the draft's own error says why
            roles = {m.role for m in example.messages}
            blank = any(not m.content.strip() for m in example.messages)
            blank = blank or (REASONING in example.metadata and not reasoning_of(example))
            if blank or "user" not in roles or "assistant" not in roles:
                yield example.id, self.code


def roles_in_order(roles: Sequence[str]) -> bool:
    """An optional leading system turn, then user/assistant alternating, ending with assistant."""
    body = roles[1:] if roles and roles[0] == "system" else roles
    if not body or len(body) % 2:
        return False
    return all(role == ("user" if i % 2 == 0 else "assistant") for i, role in enumerate(body))


class RolesValidator:
    name = "roles"
    code = "invalid_roles"

    def validate(self, examples: Sequence[Example], context: ValidationContext) -> Iterator[tuple[str, str]]:
        for example in examples:
            # no messages at all is a parse failure, reported by `json`
            if example.messages and not roles_in_order([m.role for m in example.messages]):
                yield example.id, self.code


class JsonValidator:
    """The example came from model output that could not be parsed.

    Signs: `json_invalid` among the draft errors (kept in `metadata["draft_errors"]`),
    or no messages at all with no draft error saying why (a failed request has its
    own code). Stored `validation_errors` are not read, so an edited example is
    judged afresh and re-validation is idempotent.
    """

    name = "json"
    code = "json_invalid"

    def validate(self, examples: Sequence[Example], context: ValidationContext) -> Iterator[tuple[str, str]]:
        for example in examples:
            draft_errors = example.metadata.get("draft_errors") or []
            if self.code in draft_errors or (not example.messages and not draft_errors):
                yield example.id, self.code


def normalize_evidence(text: str) -> str:
    return collapse_whitespace(unicodedata.normalize("NFC", text))


class _NormalizedChunks:
    """Chunk contents with whitespace collapsed, computed once per chunk and kept for a while."""

    def __init__(self, chunks: Mapping[str, Chunk], size: int = 256) -> None:
        self._chunks = chunks
        self._size = size
        self._cache: OrderedDict[str, str] = OrderedDict()

    def get(self, chunk_id: str) -> str | None:
        if chunk_id in self._cache:
            self._cache.move_to_end(chunk_id)
            return self._cache[chunk_id]
        chunk = self._chunks.get(chunk_id)
        if chunk is None:
            return None
        text = normalize_evidence(chunk.content)
        self._cache[chunk_id] = text
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return text


class EvidenceValidator:
    """The evidence must be a verbatim quote of its chunk, whitespace aside.

    Examples whose chunk is not in the context are skipped (nothing to check
    against); an example without evidence is flagged only when its metadata says
    `requires_evidence`.
    """

    name = "evidence"
    not_found = "evidence_not_found"
    missing = "evidence_missing"

    def validate(self, examples: Sequence[Example], context: ValidationContext) -> Iterator[tuple[str, str]]:
        chunks = _NormalizedChunks(context.chunks)
        for example in examples:
            evidence = normalize_evidence(example.evidence or "")
            if not evidence:
                if example.metadata.get("requires_evidence") is True:
                    yield example.id, self.missing
                continue
            if example.chunk_id is None:
                continue
            content = chunks.get(example.chunk_id)
            if content is not None and evidence not in content:
                yield example.id, self.not_found


class DuplicateValidator:
    """Same normalised user and assistant turns as an earlier example; the first one stays valid."""

    name = "duplicate"
    code = "duplicate"

    def validate(self, examples: Sequence[Example], context: ValidationContext) -> Iterator[tuple[str, str]]:
        seen: set[bytes] = set()
        for example in examples:
            key = dedupe_key(example)
            if key is None:
                continue
            if key in seen:
                yield example.id, self.code
            else:
                seen.add(key)


class JudgeThresholdValidator:
    """A judged example whose score is under the project's `judge_threshold` (see services/judging)."""

    name = "judge_threshold"
    code = "judge_below_threshold"

    def validate(self, examples: Sequence[Example], context: ValidationContext) -> Iterator[tuple[str, str]]:
        threshold = context.config.judge_threshold
        if threshold is None:
            return
        for example in examples:
            if example.judge_score is not None and example.judge_score < threshold:
                yield example.id, self.code


class PreferenceValidator:
    """A preference example's pair: two answers, neither blank, not the same text, and ranked.

    `preference_incomplete`: not two candidates, or one blank (a rejected answer given blank, too);
    `preference_identical`: the two are the same text once case and spacing are set aside (nothing to prefer);
    `preference_unranked`: a good pair not ranked yet (services/judging.py ranks it), so no export writes it.
    One code per example, in that order. Ties are valid: the preference exporters leave them out.
    """

    name = "preference"
    incomplete = "preference_incomplete"
    identical = "preference_identical"
    unranked = "preference_unranked"

    def validate(self, examples: Sequence[Example], context: ValidationContext) -> Iterator[tuple[str, str]]:
        for example in examples:
            if not is_preference(example) or not example.messages:
                continue  # no messages: a parse failure, `json`'s to report
            texts = candidates_of(example)
            malformed = CANDIDATES in example.metadata and not isinstance(example.metadata[CANDIDATES], list)
            rejected = example.metadata.get(REJECTED)
            if malformed or len(texts) != 2 or not all(text.strip() for text in texts) or (
                REJECTED in example.metadata and not (isinstance(rejected, str) and rejected.strip())
            ):
                yield example.id, self.incomplete
            elif normalize_text(texts[0]) == normalize_text(texts[1]):
                yield example.id, self.identical
            elif not is_ranked(example):
                yield example.id, self.unranked
