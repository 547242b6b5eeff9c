"""The real `finetune` executable, as a newcomer runs it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kits.cli import FINETUNE, finetune, finetune_json
from kits.samples import SAMPLES

pytestmark = pytest.mark.skipif(FINETUNE is None, reason="the finetune console script is not installed")


def check_openai_chat_line(record: dict[str, Any]) -> None:
    """OpenAI's documented rules for chat fine-tuning data."""
    assert set(record) == {"messages"}
    messages = record["messages"]
    roles = [message["role"] for message in messages]
    if roles[0] == "system":
        roles = roles[1:]
    assert roles and roles[-1] == "assistant"
    assert all(role == ("user" if i % 2 == 0 else "assistant") for i, role in enumerate(roles))
    assert all(isinstance(m["content"], str) and m["content"].strip() for m in messages)


def test_demo_exports_every_format_with_examples_from_every_sample(tmp_path: Path) -> None:
    result = finetune_json(tmp_path / "ws", "demo", "--samples", str(SAMPLES))
    samples = sorted(p.name for p in SAMPLES.iterdir() if p.is_file() and not p.name.startswith(("make_", ".")))
    assert result["stats"]["valid"] > 50
    assert set(result["exports"]) >= {"openai", "anthropic", "mistral", "alpaca", "sharegpt", "hf-chat"}
    for export in result["exports"].values():
        assert export["count"] > 0
        assert Path(export["path"]).stat().st_size > 0

    sources = finetune_json(tmp_path / "ws", "sources", "--project", "demo")["items"]
    assert sorted(source["name"] for source in sources) == samples
    assert all(source["status"] == "ready" for source in sources)

    sources_by_id = {source["id"]: source["name"] for source in sources}
    lines = Path(result["exports"]["hf-chat"]["path"]).read_text().splitlines()
    seen = {sources_by_id[json.loads(line)["metadata"]["source_id"]] for line in lines}
    assert seen == set(samples), "every sample document yields valid examples"

    for line in Path(result["exports"]["openai"]["path"]).read_text().splitlines():
        check_openai_chat_line(json.loads(line))

    chat = result["chat"]  # the embedded model answered from the handbook it was given, and cites it
    assert chat["model"] == "embedded" and chat["answer"]
    assert chat["sources"] and chat["sources"][0]["document_name"] == "sourdough-handbook.pdf"


def test_step_by_step_commands_with_json_output(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    created = finetune_json(ws, "project", "create", "handbook", "--task-type", "instruction",
                            "--config", '{"num_examples_target": 40}')
    assert created["task_type"] == "instruction"

    partly = finetune(ws, "--json", "ingest", "--project", "handbook", str(SAMPLES / "sourdough-handbook.pdf"),
                      str(SAMPLES / "missing.pdf"), check=False)
    assert partly.returncode == 1, "an input refused: exit status 1, after the whole output"
    ingested = json.loads(partly.stdout)
    assert [s["status"] for s in ingested["sources"]] == ["ready"]
    assert "missing.pdf" in next(iter(ingested["refused"]))

    chunked = finetune_json(ws, "chunk", "--project", "handbook", "--size", "200", "--overlap", "20")
    assert chunked["chunks"] > 1
    chunks = finetune_json(ws, "chunks", "--project", "handbook", "--limit", "5")
    assert chunks["total"] == chunked["chunks"]
    first = chunks["items"][0]
    assert first["token_count"] <= 200 and first["page_start"] >= 1 and first["content"]

    preview = finetune_json(ws, "generate", "--project", "handbook", "--preview", "3")
    assert preview["total_generated"] == 3
    generated = finetune_json(ws, "generate", "--project", "handbook")
    assert generated["total_generated"] >= 1
    assert finetune_json(ws, "project", "show", "handbook")["status"] == "ready"
    stats = finetune_json(ws, "stats", "--project", "handbook")
    assert stats["total"] == generated["total_generated"]
    assert stats["valid"] == stats["by_split"].get("train", {}).get("count", 0) + stats["by_split"].get(
        "eval", {}).get("count", 0)
    # one document, split by source: nothing held out, and the stats say so
    assert stats["by_split"]["eval"]["count"] == 0 and "too few source documents" in stats["warnings"][0]
    assert "Warning: no eval examples" in finetune(ws, "stats", "--project", "handbook").stdout

    out = tmp_path / "alpaca.jsonl"
    exported = finetune_json(ws, "export", "--project", "handbook", "--format", "alpaca", "--out", str(out))
    assert exported["count"] == stats["valid"]
    assert len(out.read_text().splitlines()) == stats["valid"]


def test_a_project_created_with_a_row_split_holds_out_examples_of_one_document(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    finetune_json(ws, "project", "create", "rows", "--config", '{"num_examples_target": 40, "split_by": "row"}')
    finetune_json(ws, "ingest", "--project", "rows", str(SAMPLES / "sourdough-handbook.pdf"))
    finetune_json(ws, "chunk", "--project", "rows", "--size", "200", "--overlap", "20")
    finetune_json(ws, "generate", "--project", "rows")
    stats = finetune_json(ws, "stats", "--project", "rows")
    assert stats["by_split"]["eval"]["count"] >= 1 and stats["warnings"] == []


def test_errors_are_one_clear_line_and_exit_code_1(tmp_path: Path) -> None:
    result = finetune(tmp_path / "ws", "stats", "--project", "nope", check=False)
    assert result.returncode == 1
    assert "project 'nope' not found" in result.stderr
    assert "Traceback" not in result.stderr
    unknown = finetune(tmp_path / "ws", "--json", "export", "--project", "nope", "--format", "x", check=False)
    assert json.loads(unknown.stdout)["error"]["error_code"] in {"NOT_FOUND", "UNKNOWN_PLUGIN"}


def test_a_preference_demo_ranks_its_pairs_offline_and_writes_the_dpo_formats(tmp_path: Path) -> None:
    result = finetune_json(tmp_path / "ws", "demo", "--samples", str(SAMPLES), "--task-type", "preference")
    assert {"dpo", "openai-preference", "openai"} <= set(result["exports"])
    rows = [json.loads(line) for line in Path(result["exports"]["dpo"]["path"]).read_text().splitlines()]
    assert rows and len(rows) == result["exports"]["dpo"]["count"]
    for row in rows:
        assert row["prompt"][-1]["role"] == "user" and row["margin"] > 0
        assert row["chosen"][0]["content"] != row["rejected"][0]["content"]
    pairs = [json.loads(line) for line in Path(result["exports"]["openai-preference"]["path"]).read_text().splitlines()]
    assert len(pairs) == len(rows)
    assert set(pairs[0]) == {"input", "preferred_output", "non_preferred_output"}
