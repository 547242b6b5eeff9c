"""What a local run computes with: CPU threads from the free cores, Liger's kernels where they run, and the
memory check that refuses a run that would not fit before its model loads. All on the CPU, with the tiny Llama."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from finetune_core import Workspace
from finetune_core.domain import FineTuneStatus
from finetune_core.errors import TrainingError
from finetune_core.services import fine_tunes, jobs
from finetune_local_gpu.estimates import ModelShape
from finetune_local_gpu.training import memory
from finetune_local_gpu.training.hyperparameters import LocalHyperparameters
from finetune_local_gpu.training.model import training_arguments
from finetune_local_gpu.training.runtime import KernelSupport, Runtime, resolve_runtime, use_liger_kernel
from finetune_local_gpu.training.threads import choose_threads, cpu_threads, free_cores, per_cpu_times
from kits.tiny_model import add_chat_project

FAST = {"max_steps": 2, "per_device_batch_size": 4, "gradient_accumulation_steps": 1, "eval_steps": 2,
        "save_steps": 2}
CPU = Runtime("cpu", bf16=False, fp16=False, gradient_checkpointing=False)


def _stat(*cpus: tuple[int, int]) -> str:
    """A /proc/stat with one line per CPU: (busy jiffies, idle jiffies)."""
    lines = ["cpu  1 0 1 1 0 0 0 0 0 0"]
    lines += [f"cpu{n} {busy} 0 0 {idle} 0 0 0 0 0 0" for n, (busy, idle) in enumerate(cpus)]
    return "\n".join([*lines, "intr 1 2 3", "ctxt 5"]) + "\n"


def _reader(*snapshots: str | None) -> Any:
    queue = list(snapshots)
    return lambda: queue.pop(0)


def _free(*snapshots: str | None, allowed: set[int] | None = None) -> int:
    return free_cores(_reader(*snapshots), sleep=lambda seconds: None, allowed=allowed or {0, 1})


def test_free_cores_counts_the_cpus_idle_over_the_window() -> None:
    assert per_cpu_times(_stat((10, 90), (5, 5))) == {0: (90, 100), 1: (5, 10)}
    before = _stat((100, 100), (100, 100))
    assert _free(before, _stat((125, 100), (100, 125))) == 1  # cpu0 busy all the window, cpu1 idle
    assert _free(before, _stat((100, 125), (100, 125))) == 2
    assert _free(before, _stat((110, 115), (100, 125))) == 1  # 60 % idle is not a free core: 1.6 -> 1
    assert _free(before, _stat((125, 100), (125, 100))) == 1  # all busy: still one thread
    assert _free(before, _stat((100, 125), (125, 100)), allowed={1}) == 1  # only the (busy) cpu1 allowed
    assert _free(before, _stat((100, 125), (100, 125)), allowed={0, 1, 2, 3}) == 2  # cpu2, cpu3 unknown
    assert _free(None, allowed={0, 1, 2}) == 3  # no /proc/stat: every allowed CPU
    assert _free(before, before) == 2  # no tick in the window: nothing to go on


def test_the_option_then_omp_num_threads_then_the_free_cores_decide() -> None:
    assert choose_threads(3, {"OMP_NUM_THREADS": "1"}, lambda: 2) == (3, "the cpu_threads option")
    assert choose_threads(None, {"OMP_NUM_THREADS": "1"}, lambda: 2) == (None, "OMP_NUM_THREADS")
    assert choose_threads(None, {}, lambda: 2) == (2, "free cores")


def test_cpu_threads_are_set_for_the_run_and_restored_after() -> None:
    previous = torch.get_num_threads()
    target = 1 if previous != 1 else 2
    with cpu_threads("cpu", None, environ={}, count_free=lambda: target) as chosen:
        assert torch.get_num_threads() == target
        assert chosen == {"cpu_threads": target, "cpu_threads_from": "free cores"}
    assert torch.get_num_threads() == previous
    with cpu_threads("cpu", None, environ={"OMP_NUM_THREADS": "7"}, count_free=lambda: target) as chosen:
        assert chosen == {"cpu_threads": previous, "cpu_threads_from": "OMP_NUM_THREADS"}
    with cpu_threads("cuda", 1, environ={}, count_free=lambda: target) as chosen:
        assert chosen is None and torch.get_num_threads() == previous


def _run(ws: Workspace, base: Path, options: dict[str, Any], **changes: Any) -> Any:
    created = fine_tunes.create_fine_tune(ws, add_chat_project(ws), trainer="local", base_model=str(base),
                                          method="lora", hyperparameters={**FAST, **changes}, options=options)
    return fine_tunes.get_fine_tune(ws, created.id)


def _runtime_event(ws: Workspace, job_id: str | None) -> dict[str, Any]:
    found = [event.data for event in jobs.events(ws, job_id or "") if event.type == "runtime"]
    assert len(found) == 1
    return found[0]


def test_a_cpu_run_records_its_threads_and_liger_off_and_gives_the_count_back(
        finetune_workspace: Workspace, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    previous = torch.get_num_threads()
    done = _run(finetune_workspace, tiny_model_dir, {"device": "cpu"})
    assert done.status is FineTuneStatus.COMPLETED, done.error_message
    event = _runtime_event(finetune_workspace, done.job_id)
    assert event["cpu_threads_from"] == "free cores" and 1 <= event["cpu_threads"] <= len(os.sched_getaffinity(0))
    assert event["device"] == "cpu" and event["liger_kernel"] is False
    assert event["estimate_gb"] < event["available_gb"]  # the memory check ran and passed
    assert "liger_kernel" not in sys.modules
    assert torch.get_num_threads() == previous
    done = _run(finetune_workspace, tiny_model_dir, {"device": "cpu", "cpu_threads": 1})
    assert done.status is FineTuneStatus.COMPLETED, done.error_message
    assert _runtime_event(finetune_workspace, done.job_id)["cpu_threads"] == 1
    assert torch.get_num_threads() == previous


def test_liger_is_on_only_for_cuda_with_triton_and_liger_kernel() -> None:
    everything = KernelSupport(cuda=True, triton=True, liger=True)
    assert use_liger_kernel("cuda", everything)
    assert not use_liger_kernel("cpu", everything)
    for missing in ({"cuda": False}, {"triton": False}, {"liger": False}):
        assert not use_liger_kernel("cuda", KernelSupport(**{**everything.__dict__, **missing}))
    assert resolve_runtime(LocalHyperparameters(), "cpu", kernels=everything).liger_kernel is False
    hyperparameters = LocalHyperparameters()
    on = Runtime("cuda", bf16=True, fp16=False, gradient_checkpointing=True, liger_kernel=True)
    assert training_arguments(hyperparameters, on, Path("out"), evaluate=False)["use_liger_kernel"] is True
    assert "use_liger_kernel" not in training_arguments(hyperparameters, CPU, Path("out"), evaluate=False)


def test_meminfo_and_the_refusal_name_the_estimate_the_free_memory_and_what_to_change() -> None:
    assert memory.read_mem_available("MemTotal: 10 kB\nMemAvailable:   2048 kB\n") == 2048 * 1024
    assert memory.read_mem_available("MemTotal: 10 kB\n") is None
    size = (8_000_000_000, ModelShape(4096, 32, 128256))
    hyperparameters = LocalHyperparameters(per_device_batch_size=4, max_seq_length=2048)
    with pytest.raises(TrainingError) as refused:
        memory.check_memory(base_model="any", method="lora", objective="sft", hyperparameters=hyperparameters,
                            runtime=CPU, seq_len=2048, available=lambda device: 16 * 10**9, size=size)
    message = str(refused.value)
    assert "16.00 GB is RAM available" in message and "needs about" in message
    for advice in ("per_device_batch_size", "max_seq_length", "gradient_checkpointing=true", "qlora",
                   "a smaller model", "ignore_memory_check=true"):
        assert advice in message
    fits = memory.check_memory(base_model="any", method="qlora", objective="sft", hyperparameters=hyperparameters,
                               runtime=CPU, seq_len=16, available=lambda device: 64 * 10**9, size=size)
    assert fits is not None and fits["estimate_gb"] < fits["available_gb"] == 64.0
    assert memory.check_memory(base_model="any", method="lora", objective="sft", hyperparameters=hyperparameters,
                               runtime=CPU, seq_len=16, available=lambda device: None, size=size) is None


def test_a_run_that_would_not_fit_is_refused_before_its_model_loads_unless_told_to_try(
        finetune_workspace: Workspace, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "available_memory", lambda device: 1000)  # the seam: 1 kB free
    refused = _run(finetune_workspace, tiny_model_dir, {"device": "cpu"})
    assert refused.status is FineTuneStatus.ERROR
    assert "would not fit" in (refused.error_message or "") and "0.00 GB is RAM available" in refused.error_message
    artifacts = finetune_workspace.files.local_path(f"fine_tunes/{refused.id}/artifacts")
    assert not (artifacts / "training_config.json").exists()  # written once the model is loaded: it never was
    tried = _run(finetune_workspace, tiny_model_dir, {"device": "cpu", "ignore_memory_check": True})
    assert tried.status is FineTuneStatus.COMPLETED, tried.error_message
