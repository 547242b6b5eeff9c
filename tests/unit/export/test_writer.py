from __future__ import annotations

import itertools
import json
import os
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from datasets import load_dataset
from finetune_core.domain import Example, Message
from finetune_core.export.base import ExportOptions
from finetune_core.export.formats import AlpacaExporter, HFChatExporter, OpenAIExporter, ShareGPTExporter
from finetune_core.export.writer import iter_export_lines, write_export


def test_writes_one_json_line_per_valid_example(tmp_path: Path, examples: list[Example]) -> None:
    path = tmp_path / "train.jsonl"
    result = write_export(OpenAIExporter(), examples, path, ExportOptions())
    data = path.read_bytes()
    assert (result.path, result.count, result.bytes) == (path, 3, len(data))
    lines = data.decode("utf-8").splitlines()
    assert len(lines) == 3
    assert json.loads(lines[2])["messages"][3]["content"] == "予告期間です。"
    assert "予告期間" in lines[2]  # UTF-8, not \u escapes
    assert [p.name for p in tmp_path.iterdir()] == ["train.jsonl"]


def test_iter_export_lines_matches_the_file(tmp_path: Path, examples: list[Example]) -> None:
    path = tmp_path / "out.jsonl"
    write_export(HFChatExporter(), examples, path, ExportOptions())
    assert b"".join(iter_export_lines(HFChatExporter(), examples, ExportOptions())) == path.read_bytes()


def test_an_empty_export_is_an_empty_file(tmp_path: Path) -> None:
    result = write_export(OpenAIExporter(), [], tmp_path / "empty.jsonl", ExportOptions())
    assert (result.count, result.bytes, (tmp_path / "empty.jsonl").read_bytes()) == (0, 0, b"")


def test_failure_midway_leaves_no_file_and_keeps_the_previous_one(
    tmp_path: Path, examples: list[Example]
) -> None:
    def failing() -> Iterator[Example]:
        yield from examples[:2]
        raise RuntimeError("database went away")

    fresh = tmp_path / "fresh.jsonl"
    with pytest.raises(RuntimeError, match="database went away"):
        write_export(OpenAIExporter(), failing(), fresh, ExportOptions())
    assert list(tmp_path.iterdir()) == []

    existing = tmp_path / "existing.jsonl"
    existing.write_text("previous export\n")
    with pytest.raises(RuntimeError):
        write_export(OpenAIExporter(), failing(), existing, ExportOptions())
    assert existing.read_text() == "previous export\n"
    assert [p.name for p in tmp_path.iterdir()] == ["existing.jsonl"]


def test_file_permissions_follow_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "perm.jsonl"
    write_export(OpenAIExporter(), [], path, ExportOptions())
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def handbook_example(i: int) -> Example:
    return Example(
        id=f"ex-{i}",
        project_id="p",
        source_id=f"src-{i % 50}",
        chunk_id=f"chunk-{i}",
        messages=[
            Message(role="user", content=f"Question number {i} about the handbook?"),
            Message(role="assistant", content=f"Answer {i}: see section {i % 97} of the handbook."),
        ],
        evidence=f"section {i % 97}",
        metadata={"source_name": "handbook.pdf", "page_start": i % 300},
    )


@pytest.mark.slow  # ~15 s: tracemalloc slows every allocation several times
def test_streams_200k_examples_in_small_memory(tmp_path: Path) -> None:
    """Records and lines are not accumulated: 200k lines (~70 MB) pass through a few MiB."""
    pool = [handbook_example(i) for i in range(2_000)]  # built before tracing starts
    path = tmp_path / "big.jsonl"
    tracemalloc.start()
    try:
        examples = itertools.islice(itertools.cycle(pool), 200_000)
        result = write_export(HFChatExporter(), examples, path, ExportOptions(system_prompt="Be brief."))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.count == 200_000
    assert result.bytes == path.stat().st_size > 50 * 1024 * 1024
    assert peak < 20 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"


def test_examples_are_written_while_the_source_is_still_producing(tmp_path: Path) -> None:
    """Examples are not gathered first: the file grows before the generator is exhausted."""
    sizes_seen: list[int] = []

    def generate() -> Iterator[Example]:
        for i in range(60_000):
            if i % 20_000 == 0:
                sizes_seen.append(sum(p.stat().st_size for p in tmp_path.iterdir()))
            yield handbook_example(i)

    write_export(OpenAIExporter(), generate(), tmp_path / "out.jsonl", ExportOptions())
    assert sizes_seen[0] == 0 and sizes_seen[1] > 0 and sizes_seen[2] > sizes_seen[1]


@pytest.mark.parametrize(
    ("exporter", "columns"),
    [
        (AlpacaExporter(), {"instruction", "input", "output", "source"}),
        (ShareGPTExporter(), {"conversations", "source"}),
        (HFChatExporter(), {"messages", "metadata"}),
    ],
    ids=["alpaca", "sharegpt", "hf-chat"],
)
def test_open_formats_load_with_datasets(
    exporter: AlpacaExporter | ShareGPTExporter | HFChatExporter,
    columns: set[str],
    tmp_path: Path,
    examples: list[Example],
) -> None:
    path = tmp_path / f"{exporter.name}.jsonl"
    write_export(exporter, examples, path, ExportOptions(system_prompt="Be precise."))
    dataset = load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / "cache"))
    assert dataset.num_rows == 3
    assert set(dataset.column_names) == columns
    row = dataset[0]
    if exporter.name == "hf-chat":
        assert row["messages"][0] == {"role": "system", "content": "Be precise."}
        assert row["metadata"]["source_name"] == "contract.pdf" and row["metadata"]["page_end"] == 3
    elif exporter.name == "sharegpt":
        assert [turn["from"] for turn in row["conversations"]] == ["system", "human", "gpt"]
    else:
        assert row["output"] == "The notice period is three months for staff."
        assert dataset[2]["source"]["page_start"] is None
