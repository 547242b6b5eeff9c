"""Each format against its provider's documented rules, checked by a small validator per format."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from finetune_core.domain import Example, Message
from finetune_core.export import plugin
from finetune_core.export.base import Exporter, ExportOptions
from finetune_core.export.formats import (
    AlpacaExporter,
    AnthropicExporter,
    HFChatExporter,
    MistralExporter,
    OpenAIExporter,
    ShareGPTExporter,
)

Record = dict[str, Any]
SOURCE_KEYS = {"example_id", "source_id", "source_name", "chunk_id", "page_start", "page_end", "evidence"}


def alternates(roles: list[str], first: str, second: str) -> bool:
    """first/second alternating, starting with `first` and ending with `second`."""
    return bool(roles) and len(roles) % 2 == 0 and all(
        role == (first if i % 2 == 0 else second) for i, role in enumerate(roles)
    )


def check_chat_messages(messages: Any) -> None:
    """OpenAI and Mistral: role/content dicts, an optional leading system turn, then user/assistant pairs."""
    assert isinstance(messages, list) and messages
    for message in messages:
        assert set(message) == {"role", "content"}
        assert isinstance(message["content"], str) and message["content"].strip()
    roles = [message["role"] for message in messages]
    body = roles[1:] if roles[0] == "system" else roles
    assert alternates(body, "user", "assistant"), roles


def check_openai(record: Record) -> None:
    # only "messages" (tools/parallel_tool_calls are the other documented keys; we never emit them)
    assert set(record) == {"messages"}
    check_chat_messages(record["messages"])


def check_mistral(record: Record) -> None:
    assert set(record) == {"messages"}
    check_chat_messages(record["messages"])


def check_anthropic(record: Record) -> None:
    """Bedrock Claude: optional top-level `system` string; user/assistant alternating, assistant last."""
    assert set(record) <= {"system", "messages"}
    if "system" in record:
        assert isinstance(record["system"], str) and record["system"].strip()
    messages = record["messages"]
    for message in messages:
        assert set(message) == {"role", "content"}
        assert isinstance(message["content"], str) and message["content"].strip()
    assert alternates([message["role"] for message in messages], "user", "assistant")


def check_source(source: Any) -> None:
    assert isinstance(source, dict) and set(source) == SOURCE_KEYS


def check_alpaca(record: Record) -> None:
    assert set(record) - {"source"} == {"instruction", "input", "output"}
    assert all(isinstance(record[key], str) for key in ("instruction", "input", "output"))
    assert record["instruction"].strip() and record["output"].strip()
    if "source" in record:
        check_source(record["source"])


def check_sharegpt(record: Record) -> None:
    assert set(record) - {"source"} == {"conversations"}
    turns = record["conversations"]
    for turn in turns:
        assert set(turn) == {"from", "value"}
        assert isinstance(turn["value"], str) and turn["value"].strip()
    speakers = [turn["from"] for turn in turns]
    body = speakers[1:] if speakers[0] == "system" else speakers
    assert alternates(body, "human", "gpt"), speakers
    if "source" in record:
        check_source(record["source"])


def check_hf_chat(record: Record) -> None:
    assert set(record) - {"metadata"} == {"messages"}
    check_chat_messages(record["messages"])
    if "metadata" in record:
        check_source(record["metadata"])


CHECKS: dict[str, tuple[Exporter, Callable[[Record], None]]] = {
    "openai": (OpenAIExporter(), check_openai),
    "anthropic": (AnthropicExporter(), check_anthropic),
    "mistral": (MistralExporter(), check_mistral),
    "alpaca": (AlpacaExporter(), check_alpaca),
    "sharegpt": (ShareGPTExporter(), check_sharegpt),
    "hf-chat": (HFChatExporter(), check_hf_chat),
}

OPTION_SETS = [
    ExportOptions(),
    ExportOptions(system_prompt="You are a contracts assistant."),
    ExportOptions(include_metadata=False),
]


@pytest.mark.parametrize("options", OPTION_SETS, ids=["default", "system-prompt", "no-metadata"])
@pytest.mark.parametrize("name", sorted(CHECKS))
def test_every_record_follows_the_format_rules(
    name: str, options: ExportOptions, examples: list[Example]
) -> None:
    exporter, check = CHECKS[name]
    records = list(exporter.records(examples, options))
    assert len(records) == 3  # the invalid example is dropped
    for record in records:
        check(record)
        json.loads(json.dumps(record, ensure_ascii=False))


@pytest.mark.parametrize("name", ["openai", "anthropic", "mistral"])
def test_provider_formats_never_carry_metadata(name: str, examples: list[Example]) -> None:
    exporter, _ = CHECKS[name]
    for record in exporter.records(examples, ExportOptions(include_metadata=True)):
        assert set(record) <= {"messages", "system"}


@pytest.mark.parametrize(
    ("name", "key"), [("alpaca", "source"), ("sharegpt", "source"), ("hf-chat", "metadata")]
)
def test_open_formats_carry_the_source_reference_when_asked(
    name: str, key: str, examples: list[Example]
) -> None:
    exporter, _ = CHECKS[name]
    first = next(iter(exporter.records(examples, ExportOptions())))
    assert first[key] == {
        "example_id": examples[0].id,
        "source_id": "src-1",
        "source_name": "contract.pdf",
        "chunk_id": "chunk-1",
        "page_start": 2,
        "page_end": 3,
        "evidence": "3 months for staff",
    }
    bare = exporter.records(examples, ExportOptions(include_metadata=False))
    assert all(key not in record for record in bare)


def test_default_system_prompt_only_where_the_example_has_none(examples: list[Example]) -> None:
    options = ExportOptions(system_prompt="Default.")
    openai = [record["messages"][0] for record in OpenAIExporter().records(examples, options)]
    assert openai[0] == {"role": "system", "content": "Default."}
    assert openai[1] == {"role": "system", "content": "Answer like a lawyer."}
    anthropic = list(AnthropicExporter().records(examples, options))
    assert [record["system"] for record in anthropic] == ["Default.", "Answer like a lawyer.", "Default."]
    sharegpt = next(iter(ShareGPTExporter().records(examples, options)))
    assert sharegpt["conversations"][0] == {"from": "system", "value": "Default."}


def test_anthropic_omits_system_when_there_is_none(examples: list[Example]) -> None:
    records = list(AnthropicExporter().records(examples, ExportOptions()))
    assert "system" not in records[0]
    assert records[1]["system"] == "Answer like a lawyer."
    assert all(message["role"] != "system" for record in records for message in record["messages"])


def test_alpaca_uses_the_instruction_view(examples: list[Example]) -> None:
    first, _, multi_turn = AlpacaExporter().records(examples, ExportOptions(include_metadata=False))
    assert first == {
        "instruction": "What is the notice period?",
        "input": "Contract: 3 months for staff.",
        "output": "The notice period is three months for staff.",
    }
    assert multi_turn == {"instruction": "Qu'est-ce qu'un préavis ?", "input": "", "output": "予告期間です。"}


def test_multi_turn_conversations_are_kept_whole_in_chat_formats(examples: list[Example]) -> None:
    _, _, openai = OpenAIExporter().records(examples, ExportOptions())
    assert [m["role"] for m in openai["messages"]] == ["user", "assistant", "user", "assistant"]
    _, _, sharegpt = ShareGPTExporter().records(examples, ExportOptions())
    assert [t["from"] for t in sharegpt["conversations"]] == ["human", "gpt", "human", "gpt"]


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_records_are_lazy(name: str) -> None:
    exporter, _ = CHECKS[name]

    def endless() -> Iterator[Example]:
        messages = [Message(role="user", content="q"), Message(role="assistant", content="a")]
        for i in itertools.count():
            yield Example(id=str(i), project_id="p", messages=messages)

    assert len(list(itertools.islice(exporter.records(endless(), ExportOptions()), 5))) == 5


def test_plugin_registers_every_format() -> None:
    registered: list[Any] = []
    plugin.finetune_register_exporters(registered.append)
    assert sorted(exporter.name for exporter in registered) == sorted([*CHECKS, "openai-preference", "dpo"])
    for exporter in registered:
        assert exporter.file_extension == "jsonl" and exporter.description
