"""Export of a trained local fine-tuning (finetuneflow §9), from the library and from the CLI.

One tiny LoRA run (kits/tiny_model.py, on the CPU) is exported; the adapter is loaded back with
`PeftModel.from_pretrained`, evaluated on the eval split to the loss the trainer recorded, and
made to generate.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from finetune_core import Workspace
from finetune_core.domain import FineTune, FineTuneStatus
from finetune_core.errors import ConflictError, InvalidInputError
from finetune_core.services import fine_tunes
from finetune_core.testing import made_up_text, open_test_workspace
from kits.tiny_model import add_chat_project, chat_messages

FAST = {"max_steps": 20, "per_device_batch_size": 4, "gradient_accumulation_steps": 1, "learning_rate": 5e-3,
        "eval_steps": 10, "save_steps": 10}
CPU = {"device": "cpu"}  # the CPU even on a GPU host
SPEC_FILES = ["adapter_model.safetensors", "adapter_config.json", "training_config.json", "metrics.json",
              "report.md", "finetuneflow_export.zip"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[tuple[Workspace, FineTune]]:
    ws = open_test_workspace(tmp_path_factory.mktemp("export") / "ws")
    try:
        project_id = add_chat_project(ws)
        created = fine_tunes.create_fine_tune(ws, project_id, trainer="local", base_model=str(tiny_model_dir),
                                              method="lora", hyperparameters=FAST, options=CPU)
        done = fine_tunes.get_fine_tune(ws, created.id)
        assert done.status is FineTuneStatus.COMPLETED, done.error_message
        yield ws, done
    finally:
        ws.close()


def _eval_loss(model: Any, tokenizer: Any, batch_size: int) -> float:
    """The trainer's eval loss: token-mean loss on assistant tokens per batch, averaged over the examples."""
    import torch

    chats = [chat_messages(index) for index in range(0, 50, 5)]  # the eval split: every fifth chat
    losses: list[float] = []
    for start in range(0, len(chats), batch_size):
        batch = chats[start:start + batch_size]
        encoded = [tokenizer.apply_chat_template(chat, tokenize=True, return_dict=True,
                                                 return_assistant_tokens_mask=True) for chat in batch]
        width = max(len(item["input_ids"]) for item in encoded)
        ids = torch.full((len(batch), width), tokenizer.pad_token_id)
        labels = torch.full((len(batch), width), -100)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, item in enumerate(encoded):
            length = len(item["input_ids"])
            ids[row, :length] = torch.tensor(item["input_ids"])
            mask[row, :length] = 1
            keep = torch.tensor(item["assistant_masks"]).bool()
            labels[row, :length] = torch.where(keep, torch.tensor(item["input_ids"]), torch.tensor(-100))
        with torch.no_grad():
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss.item()
        losses.extend([loss] * len(batch))
    return sum(losses) / len(losses)


def test_export_writes_every_file_and_the_zip_holds_them(trained: tuple[Workspace, FineTune]) -> None:
    ws, done = trained
    result = _export(ws, done)
    names = [name for name, _ in result.files]
    assert set(SPEC_FILES) <= set(names) and names[-1] == "finetuneflow_export.zip"
    assert {"loss_plot.png", "tokenizer.json", "chat_template.jinja"} <= set(names)
    assert "training_args.bin" not in names and "README.md" not in names
    assert result.folder == ws.files.local_path(f"exports/{done.project_id}/model/{done.id}")
    for name, size in result.files:
        assert (result.folder / name).stat().st_size == size > 0
    with zipfile.ZipFile(result.zip_path) as archive:
        assert sorted(archive.namelist()) == sorted(names[:-1])
        assert archive.read("adapter_config.json") == (result.folder / "adapter_config.json").read_bytes()
    metrics = json.loads((result.folder / "metrics.json").read_text())
    assert metrics["final"]["step"] == 20 and len(metrics["train"]) == 20


def _export(ws: Workspace, done: FineTune, **kwargs: Any) -> Any:
    from finetune_local_gpu.export import export_model

    return export_model(ws, done.id, **kwargs)


def test_the_report_has_the_dataset_hyperparameters_final_metrics_and_the_loss_plot(
        trained: tuple[Workspace, FineTune]) -> None:
    ws, done = trained
    result = _export(ws, done)
    report = (result.folder / "report.md").read_text()
    for heading in ("## Dataset", "## Hyperparameters", "## Final metrics", "## Files"):
        assert heading in report
    assert "| train | 40 |" in report and "| eval | 10 |" in report
    assert "| learning_rate | 0.005 |" in report and "| lora_r | 16 |" in report
    assert "| train_loss |" in report and "| perplexity |" in report
    assert "![Train and eval loss by step](loss_plot.png)" in report
    assert (result.folder / "loss_plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_exported_adapter_reloads_reproduces_the_trained_eval_loss_and_generates(
        trained: tuple[Workspace, FineTune], tiny_model_dir: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ws, done = trained
    folder = _export(ws, done).folder
    tokenizer = AutoTokenizer.from_pretrained(folder)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    base_loss = _eval_loss(base, tokenizer, batch_size=4)
    model = PeftModel.from_pretrained(base, folder).eval()
    recorded = json.loads((folder / "metrics.json").read_text())["final"]["eval_loss"]
    assert _eval_loss(model, tokenizer, batch_size=4) == pytest.approx(recorded, abs=1e-4)
    assert abs(base_loss - recorded) > 1e-3  # the adapter changed the model
    prompt = tokenizer.apply_chat_template(chat_messages(7)[:1], add_generation_prompt=True, return_tensors="pt",
                                           return_dict=True)
    generated = model.generate(**prompt, max_new_tokens=5, do_sample=False)
    assert generated.shape[1] > prompt["input_ids"].shape[1]


def test_merge_saves_the_base_model_with_the_adapter_folded_in(trained: tuple[Workspace, FineTune],
                                                               tiny_model_dir: Path, tmp_path: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    ws, done = trained
    result = _export(ws, done, merge=True, out_dir=tmp_path / "out")
    assert result.folder == tmp_path / "out" and "merged/model.safetensors" in dict(result.files)
    with zipfile.ZipFile(result.zip_path) as archive:
        assert "merged/model.safetensors" in archive.namelist()
    merged = AutoModelForCausalLM.from_pretrained(result.folder / "merged").eval()
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    adapted = PeftModel.from_pretrained(base, result.folder).eval()
    ids = torch.tensor([[2, 4, 204, 282, 283, 268]])
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, adapted(ids).logits, atol=1e-4)


def test_a_run_without_eval_examples_says_so_in_its_report(finetune_workspace: Workspace, tiny_model_dir: Path,
                                                           tmp_path: Path) -> None:
    from finetune_local_gpu.export import export_model

    ws = finetune_workspace
    project = ws.create_project("one document")
    note = tmp_path / "note.txt"
    note.write_text(made_up_text(0, sentences=40))
    ws.add_file(project.id, note)
    ws.ingest(project.id)
    ws.chunk(project.id)
    ws.generate(project.id, target=12)
    stats = ws.stats(project.id)
    [dataset_warning] = stats["warnings"]  # one document: split by source, nothing can be held out
    assert stats["by_split"]["eval"]["count"] == 0 and stats["valid"] > 0
    created = fine_tunes.create_fine_tune(ws, project.id, trainer="local", base_model=str(tiny_model_dir),
                                          method="lora", hyperparameters={**FAST, "max_steps": 2}, options=CPU)
    done = fine_tunes.get_fine_tune(ws, created.id)
    assert done.status is FineTuneStatus.COMPLETED, done.error_message
    report = (export_model(ws, done.id).folder / "report.md").read_text()
    warnings = report.split("## Warnings\n\n")[1].split("\n\n## Dataset")[0].splitlines()
    assert warnings == ["- This run had no eval examples: the metrics have no eval loss or perplexity, and nothing "
                        "measured overfitting.", f"- {dataset_warning}"]
    assert f"trained on {stats['valid']} train and 0 eval examples" in report
    assert "| eval_loss |" not in report


def test_export_is_refused_without_a_trained_model(finetune_workspace: Workspace, tiny_model_dir: Path) -> None:
    from finetune_local_gpu.export import export_model, latest_trained

    ws = finetune_workspace
    project_id = add_chat_project(ws)
    with pytest.raises(ConflictError) as none_yet:
        latest_trained(ws, project_id)
    assert none_yet.value.error_code == "NO_TRAINED_MODEL"
    failed = fine_tunes.create_fine_tune(ws, project_id, trainer="local", base_model=str(tiny_model_dir / "missing"),
                                         hyperparameters=FAST, options=CPU)
    assert fine_tunes.get_fine_tune(ws, failed.id).status is FineTuneStatus.ERROR
    with pytest.raises(ConflictError, match="no trained model") as refused:
        export_model(ws, failed.id)
    assert refused.value.error_code == "NO_TRAINED_MODEL"


def test_full_fine_tunings_have_no_adapter_to_merge(finetune_workspace: Workspace, tiny_model_dir: Path) -> None:
    from finetune_local_gpu.export import export_model

    ws = finetune_workspace
    created = fine_tunes.create_fine_tune(ws, add_chat_project(ws), trainer="local", base_model=str(tiny_model_dir),
                                          method="full", hyperparameters={**FAST, "max_steps": 2}, options=CPU)
    with pytest.raises(InvalidInputError, match="no adapter to merge"):
        export_model(ws, created.id, merge=True)
    names = [name for name, _ in export_model(ws, created.id).files]
    assert "model.safetensors" in names and "adapter_config.json" not in names


def test_the_cli_trains_then_exports_the_latest_model(tmp_path: Path, tiny_model_dir: Path) -> None:
    from finetune_core.cli import cli

    root = tmp_path / "ws"
    with open_test_workspace(root) as ws:
        add_chat_project(ws, name="handbook")
    runner = CliRunner()
    params = [arg for pair in {**FAST, "max_steps": 4}.items() for arg in ("--param", f"{pair[0]}={pair[1]}")]
    trained = runner.invoke(cli, ["--workspace", str(root), "train", "--project", "handbook", "--trainer", "local",
                                  "--method", "lora", "--base-model", str(tiny_model_dir), "--option", "device=cpu",
                                  *params])
    assert trained.exit_code == 0, trained.output
    exported = runner.invoke(cli, ["--workspace", str(root), "--json", "export-model", "--project", "handbook"])
    assert exported.exit_code == 0, exported.output
    payload = json.loads(exported.output)
    assert {entry["filename"] for entry in payload["files"]} >= set(SPEC_FILES)
    assert Path(payload["zip_path"]).is_file()
    table = runner.invoke(cli, ["--workspace", str(root), "export-model", "--project", "handbook",
                                "--fine-tune", payload["fine_tune_id"]])
    assert table.exit_code == 0 and "adapter_model.safetensors" in table.output
