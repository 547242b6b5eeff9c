"""The `local` trainer through the core's fine-tuning service, on a tiny random Llama trained on the CPU.

Nothing is downloaded: the model and its tokenizer are built on the spot (kits/tiny_model.py). Each run
is 20 LoRA steps or fewer on 40 train chats, a second or two after the libraries are imported.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from finetune_core import Workspace
from finetune_core.domain import FineTuneStatus, JobStatus
from finetune_core.errors import InvalidInputError, NotSupportedError
from finetune_core.jobs import InProcessRunner
from finetune_core.jobs.execute import execute_job
from finetune_core.services import fine_tunes, jobs
from finetune_core.testing import open_test_workspace
from kits.tiny_model import PLAIN_CHAT_TEMPLATE, add_chat_project, build_tokenizer, chat_messages

FAST = {"max_steps": 20, "per_device_batch_size": 4, "gradient_accumulation_steps": 1, "learning_rate": 5e-3,
        "eval_steps": 10, "save_steps": 10}


def _events(ws: Workspace, job_id: str | None, kind: str) -> list[dict[str, Any]]:
    return [event.data for event in jobs.events(ws, job_id or "") if event.type == kind and "step" in event.data]


def _steps(ws: Workspace, job_id: str | None, kind: str) -> list[int]:
    return [data["step"] for data in _events(ws, job_id, kind)]


def _losses(ws: Workspace, job_id: str | None) -> list[float]:
    return [data["train_loss"] for data in _events(ws, job_id, "log")]


def _artifacts(ws: Workspace, fine_tune_id: str) -> Path:
    return ws.files.local_path(f"fine_tunes/{fine_tune_id}/artifacts")


def _train(ws: Workspace, project_id: str, base: Path, **changes: Any) -> Any:
    method = changes.pop("method", "lora")
    options = changes.pop("options", {"device": "cpu"})  # the CPU even on a GPU host, unless a test says otherwise
    created = fine_tunes.create_fine_tune(ws, project_id, trainer="local", base_model=str(base), method=method,
                                          hyperparameters={**FAST, **changes}, options=options)
    return fine_tunes.get_fine_tune(ws, created.id)


def _absent_device() -> str:
    """A device kind this machine lacks: bitsandbytes cannot place a 4-bit layer there."""
    import torch

    return next(kind for kind in ("cuda", "xpu", "mps")
                if not getattr(getattr(torch, kind, None), "is_available", lambda: False)())


def test_lora_trains_with_falling_loss_and_reports_each_step(finetune_workspace: Workspace,
                                                             tiny_model_dir: Path) -> None:
    ws = finetune_workspace
    done = _train(ws, add_chat_project(ws), tiny_model_dir)
    assert done.status is FineTuneStatus.COMPLETED, done.error_message
    assert done.hyperparameters["num_epochs"] == 3 and done.hyperparameters["lora_r"] == 16  # defaults stored
    kinds = [(event.type, event.data.get("step")) for event in jobs.events(ws, done.job_id or "")]
    steps = _steps(ws, done.job_id, "log")
    assert steps == list(range(1, 21))
    losses = _losses(ws, done.job_id)
    assert losses[0] > losses[-1]
    first_log = _events(ws, done.job_id, "log")[0]
    assert set(first_log) == {"step", "train_loss", "learning_rate", "epoch"}
    assert _steps(ws, done.job_id, "eval") == [10, 20] and _steps(ws, done.job_id, "checkpoint") == [10, 20]
    assert kinds.index(("log", 10)) < kinds.index(("eval", 10)) < kinds.index(("checkpoint", 10)) \
        < kinds.index(("log", 11))
    assert kinds[-1] == ("complete", None) and ("progress", None) in kinds
    evaluation = _events(ws, done.job_id, "eval")[-1]
    assert evaluation["perplexity"] == pytest.approx(2.718281828 ** evaluation["eval_loss"], rel=1e-6)
    assert _events(ws, done.job_id, "checkpoint")[0]["path"] == "checkpoint-10"
    assert done.metrics["step"] == 20 and done.metrics["total_steps"] == 20 and done.progress == 100.0
    summary = jobs.get_job(ws, done.job_id or "").result_summary
    assert summary["final_train_loss"] == losses[-1] and summary["duration_seconds"] > 0

    artifacts = _artifacts(ws, done.id)
    config = json.loads((artifacts / "training_config.json").read_text())
    assert config["method"] == "lora" and config["base_model"] == str(tiny_model_dir) and config["seed"] == 42
    assert config["hyperparameters"]["learning_rate"] == 5e-3 and config["libraries"]["trl"]
    assert config["assistant_only_loss"] == "markers" and config["runtime"]["device"] == "cpu"
    metrics = json.loads((artifacts / "metrics.json").read_text())
    assert [point["step"] for point in metrics["train"]] == steps and len(metrics["eval"]) == 2
    assert metrics["final"]["train_loss"] == losses[-1] and metrics["final"]["duration_seconds"] > 0
    model = fine_tunes.get_model(ws, done.model_id or "")
    assert model.artifact_path == f"fine_tunes/{done.id}/artifacts/final" and model.provider == "local"
    assert (ws.files.local_path(model.artifact_path) / "adapter_model.safetensors").is_file()


def test_the_same_seed_gives_the_same_losses(finetune_workspace: Workspace, tiny_model_dir: Path) -> None:
    ws = finetune_workspace
    project_id = add_chat_project(ws)
    first = _train(ws, project_id, tiny_model_dir, max_steps=6, seed=7)
    second = _train(ws, project_id, tiny_model_dir, max_steps=6, seed=7)
    other = _train(ws, project_id, tiny_model_dir, max_steps=6, seed=8)
    assert _losses(ws, first.job_id) == _losses(ws, second.job_id)
    assert _losses(ws, first.job_id) != _losses(ws, other.job_id)


def test_qlora_trains_on_the_cpu(finetune_workspace: Workspace, tiny_model_dir: Path) -> None:
    from finetune_local_gpu.capability import probe_4bit

    capability = probe_4bit("cpu")
    if not capability.ok:
        pytest.skip(f"bitsandbytes cannot run 4-bit on this CPU: {capability.reason}")
    ws = finetune_workspace
    done = _train(ws, add_chat_project(ws), tiny_model_dir, method="qlora", max_steps=12,
                  options={"device": "cpu"})
    assert done.status is FineTuneStatus.COMPLETED, done.error_message
    losses = _losses(ws, done.job_id)
    assert len(losses) == 12 and losses[0] > losses[-1]
    assert (_artifacts(ws, done.id) / "final" / "adapter_model.safetensors").is_file()


def test_qlora_is_refused_where_4bit_cannot_run_and_nothing_is_stored(finetune_workspace: Workspace,
                                                                      tiny_model_dir: Path) -> None:
    # An honest condition, not a patched probe: a device this machine lacks, where no 4-bit layer can run.
    ws = finetune_workspace
    project_id = add_chat_project(ws)
    device = _absent_device()
    with pytest.raises(NotSupportedError, match="Use method 'lora' instead") as refused:
        fine_tunes.create_fine_tune(ws, project_id, trainer="local", base_model=str(tiny_model_dir),
                                    method="qlora", options={"device": device})
    assert refused.value.context["suggestion"] == "lora" and device in refused.value.message
    assert fine_tunes.list_fine_tunes(ws)[1] == 0 and jobs.list_jobs(ws)[1] == 0
    # the device is checked again where the job runs: there, a missing one fails the run at once
    failed = _train(ws, project_id, tiny_model_dir, options={"device": device})
    assert failed.status is FineTuneStatus.ERROR and f"the {device} device is not available" in (
        failed.error_message or "")


@pytest.mark.parametrize(("hyperparameters", "options", "message"), [
    ({"epochs": 2}, {}, "no hyperparameter 'epochs'"),
    ({"learning_rate": -1}, {}, "learning_rate: Input should be greater than 0"),
    ({"bf16": True, "fp16": True}, {}, "bf16 and fp16 cannot both be on"),
    ({"save_steps": 2.5}, {}, "save_steps"),
    ({}, {"gpu": 1}, "no option 'gpu'"),
    ({}, {"device": "tpu"}, "device"),
])
def test_hyperparameters_and_options_are_checked_before_anything_is_stored(
        finetune_workspace: Workspace, tiny_model_dir: Path, hyperparameters: dict[str, Any],
        options: dict[str, Any], message: str) -> None:
    ws = finetune_workspace
    with pytest.raises(InvalidInputError, match=message):
        fine_tunes.create_fine_tune(ws, add_chat_project(ws), trainer="local", base_model=str(tiny_model_dir),
                                    hyperparameters=hyperparameters, options=options)
    assert fine_tunes.list_fine_tunes(ws)[1] == 0


def test_cancel_stops_within_one_step_keeps_a_checkpoint_and_a_new_run_resumes_from_it(
        tmp_path: Path, tiny_model_dir: Path) -> None:
    ws = open_test_workspace(tmp_path / "ws", runner=InProcessRunner(1))
    try:
        project_id = add_chat_project(ws)
        running = fine_tunes.create_fine_tune(ws, project_id, trainer="local", base_model=str(tiny_model_dir),
                                              hyperparameters={**FAST, "max_steps": 400, "save_steps": 1000,
                                                               "eval_steps": 1000}, options={"device": "cpu"})
        deadline = time.monotonic() + 120
        while not (seen := _steps(ws, running.job_id, "log")) or seen[-1] < 3:
            assert time.monotonic() < deadline, "the run never reached step 3"
            time.sleep(0.01)
        fine_tunes.cancel_fine_tune(ws, running.id)
        ended = fine_tunes.wait_for(ws, running.id, timeout_s=60)
        assert ended.status is FineTuneStatus.CANCELLED and ended.model_id is None
        assert jobs.get_job(ws, ended.job_id or "").status is JobStatus.CANCELLED
        logged = _steps(ws, ended.job_id, "log")
        last = logged[-1]
        assert last <= seen[-1] + 2  # the step running when the flag was set, and at most the one after
        assert _steps(ws, ended.job_id, "checkpoint") == [last]  # saved at the cancel (none periodic here)
        assert (_artifacts(ws, ended.id) / f"checkpoint-{last}" / "trainer_state.json").is_file()

        resumed = fine_tunes.create_fine_tune(ws, project_id, trainer="local", base_model=str(tiny_model_dir),
                                              hyperparameters={**FAST, "max_steps": last + 4},
                                              options={"device": "cpu", "resume_from": ended.id})
        done = fine_tunes.wait_for(ws, resumed.id, timeout_s=120)
        assert done.status is FineTuneStatus.COMPLETED, done.error_message
        assert _steps(ws, done.job_id, "log") == list(range(last + 1, last + 5))
        config = json.loads((_artifacts(ws, done.id) / "training_config.json").read_text())
        assert config["resumed_from"] == f"fine_tunes/{ended.id}/artifacts/checkpoint-{last}"
    finally:
        ws.close()


class WorkerDied(BaseException):
    """Escapes every handler, as a killed worker stops everything."""


def test_a_run_whose_worker_died_resumes_from_its_last_checkpoint_without_logging_a_step_twice(
        tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers.trainer_callback import CallbackHandler

    step_end = CallbackHandler.on_step_end
    died = threading.Event()

    def dies_once_at_step_13(self: Any, args: Any, state: Any, control: Any) -> Any:
        if state.global_step == 13 and not died.is_set():
            died.set()
            raise WorkerDied
        return step_end(self, args, state, control)

    monkeypatch.setattr(CallbackHandler, "on_step_end", dies_once_at_step_13)
    hyperparameters = {"eval_steps": 5, "save_steps": 5, "save_total_limit": 5}
    ws = open_test_workspace(tmp_path / "ws", job_stale_after_s=0.01)
    try:
        project_id = add_chat_project(ws)
        with pytest.raises(WorkerDied):
            _train(ws, project_id, tiny_model_dir, **hyperparameters)
        [orphan], _ = fine_tunes.list_fine_tunes(ws)
        assert orphan.status is FineTuneStatus.TRAINING
        # events are written in batches (every half second): a worker that dies loses at most its last ones,
        # never a step in the middle, and the steps after its last checkpoint (10) are trained again anyway
        before = _steps(ws, orphan.job_id, "log")
        assert before == list(range(1, len(before) + 1)) and 10 <= len(before) <= 12
        time.sleep(0.05)  # the heartbeat goes stale: another worker may take the job
        assert execute_job(ws, orphan.job_id or "") is JobStatus.SUCCESS
        resumed = fine_tunes.get_fine_tune(ws, orphan.id)
        assert resumed.status is FineTuneStatus.COMPLETED
        assert _steps(ws, orphan.job_id, "log") == list(range(1, 21))  # what was logged is not logged again
        assert _steps(ws, orphan.job_id, "eval") == [5, 10, 15, 20]
        assert _steps(ws, orphan.job_id, "checkpoint") == [5, 10, 15, 20]
        config = json.loads((_artifacts(ws, orphan.id) / "training_config.json").read_text())
        assert config["resumed_from"].endswith("checkpoint-10")
        assert fine_tunes.list_models(ws)[1] == 1

        # the resumed run ends where an uninterrupted one does: same data order, RNG and optimizer state
        monkeypatch.setattr(CallbackHandler, "on_step_end", step_end)
        straight = _train(ws, project_id, tiny_model_dir, **hyperparameters)
        assert _losses(ws, straight.job_id) == pytest.approx(_losses(ws, orphan.job_id), rel=1e-5)
    finally:
        ws.close()


def test_full_fine_tuning_with_a_template_without_markers(finetune_workspace: Workspace,
                                                          tiny_plain_template_dir: Path) -> None:
    ws = finetune_workspace
    done = _train(ws, add_chat_project(ws), tiny_plain_template_dir, method="full", max_steps=8,
                  learning_rate=1e-3)
    assert done.status is FineTuneStatus.COMPLETED, done.error_message
    losses = _losses(ws, done.job_id)
    assert losses[0] > losses[-1]
    final = _artifacts(ws, done.id) / "final"
    assert (final / "model.safetensors").is_file() and not (final / "adapter_config.json").exists()
    config = json.loads((_artifacts(ws, done.id) / "training_config.json").read_text())
    assert config["assistant_only_loss"] == "labels"


def test_labels_built_without_markers_are_the_generation_mask() -> None:
    from finetune_local_gpu.training.data import IGNORE, assistant_labels, loss_masking

    marked, plain = build_tokenizer(), build_tokenizer(PLAIN_CHAT_TEMPLATE)
    assert (loss_masking(marked), loss_masking(plain)) == ("markers", "labels")
    conversations = [chat_messages(3),
                     [{"role": "system", "content": "Answer briefly."}, *chat_messages(4), *chat_messages(5)]]
    for messages in conversations:
        expected = marked.apply_chat_template(messages, tokenize=True, return_dict=True,
                                              return_assistant_tokens_mask=True)
        built = assistant_labels(plain, messages)
        assert built["input_ids"] == list(expected["input_ids"])
        assert [label != IGNORE for label in built["labels"]] == [bool(bit) for bit in expected["assistant_masks"]]


def test_out_of_memory_advice_says_what_to_change() -> None:
    from finetune_local_gpu.training.hyperparameters import parse_hyperparameters
    from finetune_local_gpu.training.model import out_of_memory_advice
    from finetune_local_gpu.training.runtime import Runtime

    advice = out_of_memory_advice(parse_hyperparameters({"per_device_batch_size": 8}), "lora",
                                  Runtime("cuda", bf16=True, fp16=False, gradient_checkpointing=False))
    assert advice.startswith("CUDA out of memory at batch size 8")
    for tip in ("lower per_device_batch_size", "gradient_accumulation_steps", "gradient checkpointing", "qlora"):
        assert tip in advice


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


needs_cuda = pytest.mark.skipif(not _cuda(), reason="needs a CUDA GPU")


@pytest.mark.gpu
@needs_cuda
def test_lora_on_the_gpu_trains_in_bf16(finetune_workspace: Workspace, tiny_model_dir: Path) -> None:
    import torch

    ws = finetune_workspace
    done = _train(ws, add_chat_project(ws), tiny_model_dir, options={})  # the default device: cuda here
    assert done.status is FineTuneStatus.COMPLETED, done.error_message
    runtime = json.loads((_artifacts(ws, done.id) / "training_config.json").read_text())["runtime"]
    assert runtime["device"] == "cuda" and runtime["bf16"] is torch.cuda.is_bf16_supported()
    losses = _losses(ws, done.job_id)
    assert losses[0] > losses[-1]


@pytest.mark.gpu
@needs_cuda
def test_cuda_out_of_memory_ends_in_error_with_advice(finetune_workspace: Workspace, tiny_model_dir: Path) -> None:
    import torch

    ws = finetune_workspace
    torch.cuda.empty_cache()
    torch.cuda.set_per_process_memory_fraction(1e-6)  # any real allocation now runs out of memory
    try:
        failed = _train(ws, add_chat_project(ws), tiny_model_dir, per_device_batch_size=16, options={"device": "cuda"})
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
    assert failed.status is FineTuneStatus.ERROR
    assert (failed.error_message or "").startswith("CUDA out of memory at batch size 16")
    error = [event for event in jobs.events(ws, failed.job_id or "") if event.type == "error"][-1]
    assert "lower per_device_batch_size" in error.data["message"]
