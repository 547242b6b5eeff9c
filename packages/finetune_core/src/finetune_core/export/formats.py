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
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from finetune_core.domain import Example
from finetune_core.export.base import ExportOptions

Record = dict[str, Any]


def valid_only(examples: Iterable[Example]) -> Iterator[Example]:
    return (example for example in examples if example.is_valid)


def chat_messages(example: Example, options: ExportOptions) -> list[dict[str, str]]:
    """The example's messages as role/content dicts, with the default system prompt when it has none."""
    messages = [{"role": m.role, "content": m.content} for m in example.messages]
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
            messages = [
                {"role": m.role, "content": m.content} for m in example.messages if m.role != "system"
            ]
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

