"""`finetune run`: pipeline steps as one job from the real executable, with its exit status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kits.cli import FINETUNE, finetune, finetune_json
from kits.samples import SAMPLE_FILES

pytestmark = pytest.mark.skipif(FINETUNE is None, reason="the finetune console script is not installed")


def test_run_the_steps_asked_then_the_rest(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    finetune_json(ws, "project", "create", "notes", "--config", '{"num_examples_target": 6}')
    added = finetune(ws, "--json", "ingest", "--project", "notes", str(SAMPLE_FILES["markdown"]))
    assert added.returncode == 0

    first = finetune_json(ws, "run", "--project", "notes", "--steps", "chunk")
    assert list(first["steps"]) == ["chunk"] and first["steps"]["chunk"]["chunks"] > 0
    rest = finetune_json(ws, "run", "--project", "notes", "--generator", "extractive")
    assert rest["steps"]["load"]["sources"] == 0 and rest["steps"]["chunk"]["skipped"]
    assert rest["steps"]["generate"]["new_examples"] >= 6
    assert finetune_json(ws, "stats", "--project", "notes")["valid"] == rest["steps"]["curate"]["valid"]


def test_an_unknown_step_exits_1_with_the_steps_there_are(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    finetune_json(ws, "project", "create", "notes")
    refused = finetune(ws, "--json", "run", "--project", "notes", "--steps", "load,train", check=False)
    assert refused.returncode == 1
    error = json.loads(refused.stdout)["error"]
    assert error["error_code"] == "UNKNOWN_STEP"
    assert error["detail"] == "unknown pipeline step 'train': the steps are load, chunk, generate, curate"
