"""The real `finetune` executable with the provider plugins: keys, model-backed generation and the judge.

A small OpenAI-compatible server on 127.0.0.1 stands in for the model (finetune_providers.testing answers).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from finetune_providers.testing import is_judge_prompt
from kits.chat_completions import ChatServer
from kits.cli import FINETUNE, finetune, finetune_json
from kits.samples import SAMPLES

pytestmark = pytest.mark.skipif(FINETUNE is None, reason="the finetune console script is not installed")

OPENAI_KEY = "sk-proj-CLITESTKEY0123456789abcdef"
LOCAL_KEY = "local-server-secret-0042"


@pytest.fixture
def server() -> Iterator[ChatServer]:
    chat = ChatServer()
    chat.thread.start()
    yield chat
    chat.httpd.shutdown()
    chat.httpd.server_close()


def test_keys_are_stored_encrypted_and_only_ever_shown_masked(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    stored = finetune(ws, "keys", "set", "openai", "--key", OPENAI_KEY)
    assert "sk-…cdef" in stored.stdout and OPENAI_KEY not in stored.stdout + stored.stderr
    prompted = finetune(ws, "keys", "set", "openai-compatible", input_text=f"{LOCAL_KEY}\n")
    assert LOCAL_KEY not in prompted.stdout + prompted.stderr
    listed = finetune_json(ws, "keys", "list")
    assert sorted((k["provider"], k["masked"]) for k in listed["items"]) == [("openai", "sk-…cdef"),
                                                                             ("openai-compatible", "…0042")]
    database = (ws / "finetune.db").read_bytes()
    assert OPENAI_KEY.encode() not in database and LOCAL_KEY.encode() not in database
    refused = finetune(ws, "keys", "set", "anthropic", "--key", OPENAI_KEY, check=False)
    assert refused.returncode == 1 and "starts with 'sk-ant-'" in refused.stderr
    assert OPENAI_KEY not in refused.stdout + refused.stderr
    checked = finetune(ws, "keys", "check", "openai-compatible")
    assert "format only" in checked.stdout
    finetune(ws, "keys", "delete", "openai")
    assert [k["provider"] for k in finetune_json(ws, "keys", "list")["items"]] == ["openai-compatible"]


def test_generate_and_judge_through_an_openai_compatible_server(tmp_path: Path, server: ChatServer) -> None:
    ws = tmp_path / "ws"
    finetune(ws, "project", "create", "guide", "--task-type", "qa")
    finetune(ws, "ingest", "--project", "guide", str(SAMPLES / "guide-du-levain.md"))
    finetune(ws, "chunk", "--project", "guide", "--size", "256", "--overlap", "32")
    summary = finetune_json(ws, "generate", "--project", "guide", "--generator", "openai-compatible",
                            "--base-url", server.url, "--model", "local-model", "--concurrency", "4",
                            "--api-key", LOCAL_KEY, "--target", "12", "--per-chunk", "2")
    assert summary["generator"] == "openai-compatible" and summary["total_generated"] >= 12
    assert summary["usage"]["requests"] == summary["requests"] and summary["usage"]["input_tokens"] > 0
    generation = [(headers, body) for headers, body in server.requests if not is_judge_prompt(body)]
    assert len(generation) == summary["requests"]
    assert all(headers["authorization"] == f"Bearer {LOCAL_KEY}" for headers, _ in generation)
    assert {body["model"] for _, body in generation} == {"local-model"}
    params = sqlite3.connect(ws / "finetune.db").execute("select params from jobs").fetchall()
    assert params and all(LOCAL_KEY not in row[0] for row in params)  # the key is never stored with a job

    judged = finetune_json(ws, "judge", "--project", "guide", "--chat-model", "openai-compatible",
                           "--base-url", server.url, "--model", "judge-model", "--threshold", "3")
    assert judged["judged"] == judged["to_judge"] == summary["valid"] and judged["mean_score"] == 4.0
    assert judged["below_threshold"] == 0
    judge_calls = [body for _, body in server.requests if is_judge_prompt(body)]
    assert len(judge_calls) == judged["judged"] and {body["model"] for body in judge_calls} == {"judge-model"}
    stats = finetune_json(ws, "stats", "--project", "guide")
    assert stats["valid"] == summary["valid"]
