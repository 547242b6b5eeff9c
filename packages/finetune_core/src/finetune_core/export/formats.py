"""Built-in export formats: one JSON record per valid example, streamed.

The provider formats (openai, anthropic, mistral) carry no metadata: their
fine-tuning APIs validate every line and an unknown key risks rejecting the
file, so `include_metadata` is ignored there. The open formats (alpaca,
sharegpt, hf-chat) carry the source reference under one extra key when
`include_metadata` is set; every row then has the same keys, null where unknown,
so column-oriented readers (`datasets`, pandas) infer one schema.

`ExportOptions.system_prompt` is used only for examples without a system turn
of their own. Exporters assume the examples passed validation (roles in order,
no empty turn); they drop invalid ones but do not repair structure.

Reasoning (`metadata["reasoning"]`, domain/task_fields.py): every format above writes it inline, before the
final answer, in the last assistant turn (Alpaca's `output`), as open reasoning models (DeepSeek-R1, Qwen3) are
trained on it: `<think>\n{reasoning}\n</think>\n\n{answer}`. An example without reasoning is written as before.

Preference pairs: `openai-preference` (OpenAI's preference/DPO fine-tuning file, which Together and Fireworks
read too) and `dpo` (TRL's conversational preference dataset) write one line per ranked pair: the prompt turns,
the chosen answer and the rejected one. They skip every example that is not a ranked, untied pair (other task
types, ties); unranked pairs never reach them (curation marks them invalid, `preference_unranked`). When nothing
is left to write they raise NoPreferencePairsError (409 `NO_PREFERENCE_PAIRS`) saying what they saw, leaving no
file.
The other formats write a ranked preference example as its question and chosen answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from finetune_core.domain import Example, TaskType
from finetune_core.domain.task_fields import MARGIN, is_preference, is_tie, preference_pair, reasoning_of
from finetune_core.errors import NoPreferencePairsError
from finetune_core.export.base import ExportOptions

Record = dict[str, Any]


def valid_only(examples: Iterable[Example]) -> Iterator[Example]:
    return (example for example in examples if example.is_valid)


def with_reasoning(answer: str, reasoning: str) -> str:
    """The answer as a reasoning model is trained to write it: its reasoning first, between think tags."""
    return f"<think>\n{reasoning}\n</think>\n\n{answer}" if reasoning else answer


def dialogue(example: Example) -> list[dict[str, str]]:
    """The example's messages as role/content dicts, the reasoning (if any) written into the last assistant turn."""
    messages = [{"role": m.role, "content": m.content} for m in example.messages]
    if reasoning := reasoning_of(example):
        last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
        if last is not None:
            messages[last]["content"] = with_reasoning(messages[last]["content"], reasoning)
    return messages


def chat_messages(example: Example, options: ExportOptions) -> list[dict[str, str]]:
    """The example's messages as role/content dicts, with the default system prompt when it has none."""
    messages = dialogue(example)
    if options.system_prompt and example.system is None:
        messages.insert(0, {"role": "system", "content": options.system_prompt})
    return messages


def source_reference(example: Example) -> Record:
    """Where the example comes from: enough to find the passage again."""
    return {
        "example_id": example.id,
        "source_id": example.source_id,
        "source_name": example.metadata.get("source_name"),
        "chunk_id": example.chunk_id,
        "page_start": example.metadata.get("page_start"),
        "page_end": example.metadata.get("page_end"),
        "evidence": example.evidence,
    }


class OpenAIExporter:
    """OpenAI chat fine-tuning: `{"messages": [...]}` and no other key."""

    name = "openai"
    description = "OpenAI chat fine-tuning JSONL ({\"messages\": [...]}), no metadata"
    file_extension = "jsonl"

    def records(self, examples: Iterable[Example], options: ExportOptions) -> Iterator[Record]:
        for example in valid_only(examples):
            yield {"messages": chat_messages(example, options)}


class MistralExporter(OpenAIExporter):
    """Mistral fine-tuning: the same `messages` shape; a leading system turn is allowed."""

    name = "mistral"
    description = "Mistral fine-tuning JSONL ({\"messages\": [...]}), no metadata"


class AnthropicExporter:
    """Claude fine-tuning on Amazon Bedrock: top-level `system` string, user/assistant `messages`."""

    name = "anthropic"
    description = "Claude (Amazon Bedrock) fine-tuning JSONL ({\"system\", \"messages\"}), no metadata"
    file_extension = "jsonl"

    def records(self, examples: Iterable[Example], options: ExportOptions) -> Iterator[Record]:
        for example in valid_only(examples):
            system = example.system or options.system_prompt
            messages = [message for message in dialogue(example) if message["role"] != "system"]
            yield {"system": system, "messages": messages} if system else {"messages": messages}


class AlpacaExporter:
    """Alpaca `instruction`/`input`/`output` (first user turn, last assistant turn).

    The format has no system prompt and no turns beyond one exchange; those are not exported.
    """

    name = "alpaca"
    description = "Alpaca JSONL (instruction, input, output) with a `source` reference"
    file_extension = "jsonl"

    def records(self, examples: Iterable[Example], options: ExportOptions) -> Iterator[Record]:
        for example in valid_only(examples):
            record: Record = dict(example.as_instruction())
            record["output"] = with_reasoning(record["output"], reasoning_of(example))
            if options.include_metadata:
                record["source"] = source_reference(example)
            yield record


_SHAREGPT_SPEAKERS = {"system": "system", "user": "human", "assistant": "gpt"}


class ShareGPTExporter:
    name = "sharegpt"
    description = "ShareGPT JSONL ({\"conversations\": [{\"from\", \"value\"}]}) with a `source` reference"
    file_extension = "jsonl"

    def records(self, examples: Iterable[Example], options: ExportOptions) -> Iterator[Record]:
        for example in valid_only(examples):
            turns = [
                {"from": _SHAREGPT_SPEAKERS[m["role"]], "value": m["content"]}
                for m in chat_messages(example, options)
            ]
            record: Record = {"conversations": turns}
            if options.include_metadata:
                record["source"] = source_reference(example)
            yield record


class HFChatExporter:
    """Hugging Face chat JSONL, as TRL's SFTTrainer and `apply_chat_template` read it."""

    name = "hf-chat"
    description = "Hugging Face chat JSONL ({\"messages\": [...]}) with a `metadata` source reference"
    file_extension = "jsonl"

    def records(self, examples: Iterable[Example], options: ExportOptions) -> Iterator[Record]:
        for example in valid_only(examples):
            record: Record = {"messages": chat_messages(example, options)}
            if options.include_metadata:
                record["metadata"] = source_reference(example)
            yield record


class _PreferenceExporter:
    """One line per ranked, untied pair (see the module doc); subclasses name the format and shape the line."""

    name: str
    description: str
    file_extension = "jsonl"
    task_types = frozenset({TaskType.PREFERENCE})

    def records(self, examples: Iterable[Example], options: ExportOptions) -> Iterator[Record]:
        seen = other = ties = written = 0
        for example in valid_only(examples):
            seen += 1
            pair = preference_pair(example)
            if pair is None:
                if not is_preference(example):
                    other += 1
                elif is_tie(example):
                    ties += 1
                continue
            prompt = chat_messages(example, options)
            last = max(i for i, message in enumerate(prompt) if message["role"] == "assistant")
            written += 1
            yield self.record(example, prompt[:last], *pair)
        if not written:
            raise NoPreferencePairsError(
                f"no ranked preference pair to export as {self.name}: of {seen} valid examples, {other} are not "
                f"preference examples and {ties} are ties (equal scores). Generate with task type 'preference', then "
                f"rank the pairs: `finetune judge` with a chat model, or `--chat-model grounding` offline; unranked "
                f"ones are invalid (preference_unranked) until then",
                format=self.name, valid=seen, not_preference=other, ties=ties)

    def record(self, example: Example, prompt: list[dict[str, str]], chosen: str, rejected: str) -> Record:
        raise NotImplementedError


class OpenAIPreferenceExporter(_PreferenceExporter):
    """OpenAI preference (DPO) fine-tuning: `input.messages`, one assistant message in each output; no other key."""

    name = "openai-preference"
    description = ("OpenAI preference/DPO fine-tuning JSONL ({\"input\": {\"messages\"}, \"preferred_output\", "
                   "\"non_preferred_output\"}), ranked pairs only; also read by Together and Fireworks")

    def record(self, example: Example, prompt: list[dict[str, str]], chosen: str, rejected: str) -> Record:
        return {"input": {"messages": prompt},
                "preferred_output": [{"role": "assistant", "content": chosen}],
                "non_preferred_output": [{"role": "assistant", "content": rejected}]}


class DPOExporter(_PreferenceExporter):
    """TRL's preference dataset, conversational: `prompt`, `chosen`, `rejected` message lists, and `margin`.

    TRL's DPOTrainer drops columns it does not use (`margin`); its RewardTrainer reads `margin` when present.
    """

    name = "dpo"
    description = ("TRL preference JSONL ({\"prompt\", \"chosen\", \"rejected\"} as messages, and \"margin\"), "
                   "ranked pairs only")

    def record(self, example: Example, prompt: list[dict[str, str]], chosen: str, rejected: str) -> Record:
        return {"prompt": prompt, "chosen": [{"role": "assistant", "content": chosen}],
                "rejected": [{"role": "assistant", "content": rejected}], "margin": example.metadata[MARGIN]}
