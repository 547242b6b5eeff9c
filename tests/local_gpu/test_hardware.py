"""The hardware probe (finetuneflow §7): nvidia-smi parsing, the no-GPU answer, recommendations, the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from finetune_core.cli import cli
from finetune_local_gpu.capability import Capability
from finetune_local_gpu.hardware import (
    NO_GPU_REASON,
    NO_GPU_WARNING,
    SmiAnswer,
    TorchFacts,
    assess,
    parse_gpu_csv,
    probe_hardware,
    query_nvidia_smi,
    recommend,
)

RTX_4090_CSV = "NVIDIA GeForce RTX 4090, 24564, 23000, 550.54.14\n"
BANNER = """\
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 550.54.14              Driver Version: 550.54.14      CUDA Version: 12.4     |
|-----------------------------------------+------------------------+----------------------+
"""
SPEC_NO_GPU = {  # finetuneflow §7, "Response 200 (pas de GPU)", every field it shows
    "has_nvidia_smi": False,
    "gpu_name": None,
    "cuda_available": False,
    "bnb_available": False,
    "recommended_method": None,
    "recommendation_reason": "No CUDA GPU detected. GPU fine-tuning not possible on this machine.",
    "notes": [],
    "warnings": ["No NVIDIA GPU found. Consider using a cloud GPU instance."],
}
CUDA_TORCH = TorchFacts(version="2.5.0", cuda="12.4", cuda_available=True, device_count=1, compute_capability="8.9",
                        bf16_supported=True)
BNB_OK = Capability(True, "cuda", "bitsandbytes 0.50: 4-bit NF4 forward and backward ran on cuda", "0.50.0")


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def fake_nvidia_smi(folder: Path, csv: str = RTX_4090_CSV, *, exit_status: int = 0, stderr: str = "") -> Path:
    """An executable `nvidia-smi` in `folder` that prints `csv` for --query-gpu and the banner otherwise."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (("query.txt", csv), ("banner.txt", BANNER), ("stderr.txt", stderr)):
        (folder / name).write_text(text)
    script = folder / "nvidia-smi"
    script.write_text(
        "#!/bin/sh\n"
        f'here="{folder}"\n'
        f'if [ {exit_status} -ne 0 ]; then cat "$here/stderr.txt" >&2; exit {exit_status}; fi\n'
        'case "$1" in --query-gpu=*) cat "$here/query.txt" ;; *) cat "$here/banner.txt" ;; esac\n'
    )
    script.chmod(0o755)
    return script


def smi_on_path(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


def test_parse_gpu_csv_reads_each_gpu_and_tolerates_missing_values() -> None:
    gpus = parse_gpu_csv(RTX_4090_CSV + "NVIDIA H100 80GB HBM3, [N/A], [N/A], 535.104.05\n\n")
    assert [(g.name, g.memory_total_mib, g.memory_free_mib, g.driver_version) for g in gpus] == [
        ("NVIDIA GeForce RTX 4090", 24564.0, 23000.0, "550.54.14"),
        ("NVIDIA H100 80GB HBM3", None, None, "535.104.05"),
    ]


def test_a_fake_nvidia_smi_on_path_is_parsed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    smi_on_path(monkeypatch, tmp_path / "bin")
    fake_nvidia_smi(tmp_path / "bin")
    report = probe_hardware()
    assert report.has_nvidia_smi
    assert (report.gpu_name, report.gpu_count, report.vram_total_gb, report.vram_free_gb) == (
        "NVIDIA GeForce RTX 4090", 1, 24.0, 22.5)
    assert (report.driver_version, report.cuda_runtime) == ("550.54.14", "12.4")
    if not cuda_available():  # a GPU that this CPU build of torch cannot use
        assert report.recommended_method is None
        assert "torch cannot use CUDA" in report.recommendation_reason
        assert any("CPU-only build" in warning for warning in report.warnings)


def test_several_gpus_are_counted_and_gpu_0_described(tmp_path: Path) -> None:
    smi = fake_nvidia_smi(tmp_path, RTX_4090_CSV + "NVIDIA GeForce RTX 3090, 24576, 24000, 550.54.14\n")
    answer = query_nvidia_smi(str(smi))
    assert answer is not None
    report = assess(answer, CUDA_TORCH, BNB_OK)
    assert (report.gpu_count, report.gpu_name) == (2, "NVIDIA GeForce RTX 4090")
    assert "2 GPUs; the figures are GPU 0's" in report.notes


def test_the_gpu_answer_has_the_shape_of_the_spec_example(tmp_path: Path) -> None:
    answer = query_nvidia_smi(str(fake_nvidia_smi(tmp_path)))
    report = assess(answer, CUDA_TORCH, BNB_OK)
    assert report.model_dump(exclude={"notes"}) == {
        "has_nvidia_smi": True, "gpu_name": "NVIDIA GeForce RTX 4090", "gpu_count": 1, "vram_total_gb": 24.0,
        "vram_free_gb": 22.5, "driver_version": "550.54.14", "cuda_runtime": "12.4", "torch_version": "2.5.0",
        "torch_cuda": "12.4", "cuda_available": True, "bnb_available": True, "recommended_method": "qlora",
        "recommendation_reason": "24GB VRAM detected. QLoRA recommended for 8B+ models to save memory.",
        "warnings": [],
    }
    assert report.notes[:2] == ["All checks passed", "bf16 supported (compute capability 8.9)"]


def test_the_no_gpu_answer_is_exactly_the_spec_s() -> None:
    report = assess(None, TorchFacts(version="2.13.0+cpu"), None)
    assert report.model_dump(include=set(SPEC_NO_GPU)) == SPEC_NO_GPU
    assert (report.gpu_count, report.vram_total_gb, report.torch_version) == (0, None, "2.13.0+cpu")


@pytest.mark.skipif(cuda_available(), reason="this machine has a GPU")
def test_this_machine_without_a_gpu_gives_the_spec_no_gpu_answer(tmp_path: Path) -> None:
    report = probe_hardware(nvidia_smi=str(tmp_path / "no-such-nvidia-smi"))
    assert report.model_dump(include=set(SPEC_NO_GPU)) == SPEC_NO_GPU
    assert report.torch_version  # the real torch of the test environment


def test_a_torch_that_cannot_be_imported_gives_a_null_version(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    report = probe_hardware(nvidia_smi=str(tmp_path / "no-such-nvidia-smi"))
    assert report.torch_version is None
    assert report.model_dump(include=set(SPEC_NO_GPU)) == SPEC_NO_GPU


def test_a_failing_nvidia_smi_is_reported_and_counts_as_none(tmp_path: Path) -> None:
    message = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."
    smi = fake_nvidia_smi(tmp_path, exit_status=9, stderr=message)
    report = assess(query_nvidia_smi(str(smi)), TorchFacts(version="2.13.0+cpu"), None)
    assert not report.has_nvidia_smi
    assert report.warnings == [f"nvidia-smi failed: {message}", NO_GPU_WARNING]
    assert report.recommendation_reason == NO_GPU_REASON


def test_a_hanging_nvidia_smi_does_not_hang_the_probe() -> None:
    def hangs(*args: object, **kwargs: object) -> subprocess.CompletedProcess[str]:
        raise subprocess.TimeoutExpired("nvidia-smi", 15)

    answer = query_nvidia_smi(run=hangs)
    assert answer is not None and answer.error and "TimeoutExpired" in answer.error


@pytest.mark.parametrize(("vram", "method", "reason"), [
    (24.0, "qlora", "24GB VRAM detected. QLoRA recommended for 8B+ models to save memory."),
    (16.0, "qlora", "16GB VRAM detected. QLoRA recommended for 8B+ models to save memory."),
    (12.0, "qlora", "12GB VRAM detected. QLoRA recommended, for models up to 8B."),
    (6.0, "qlora", "6GB VRAM detected. QLoRA recommended, for models up to 6B."),
    (40.0, "lora", "40GB VRAM detected. LoRA recommended for models up to 16B; full fine-tuning fits models up to 2B."),
    (79.6, "lora", "80GB VRAM detected. LoRA recommended for models up to 32B; full fine-tuning fits models up to 4B."),
])
def test_recommendation_by_vram(vram: float, method: str, reason: str) -> None:
    assert recommend(vram, bnb_available=True) == (method, reason)


def test_without_4bit_on_the_gpu_lora_is_recommended_and_qlora_ruled_out(tmp_path: Path) -> None:
    answer = query_nvidia_smi(str(fake_nvidia_smi(tmp_path)))
    no_bnb = Capability(False, "cuda", "bitsandbytes cannot be imported (ImportError: no libbitsandbytes_cuda)")
    report = assess(answer, CUDA_TORCH, no_bnb)
    assert (report.recommended_method, report.bnb_available) == ("lora", False)
    assert "QLoRA is not available" in report.recommendation_reason
    assert report.warnings == [f"bitsandbytes 4-bit is not usable on the GPU ({no_bnb.reason}): QLoRA is not "
                               "available."]
    assert "All checks passed" not in report.notes


def test_a_driver_older_than_torch_s_cuda_is_a_warning() -> None:
    answer = SmiAnswer(gpus=parse_gpu_csv(RTX_4090_CSV), cuda_version="11.8")
    report = assess(answer, CUDA_TORCH, BNB_OK)
    assert report.warnings == ["torch is built for CUDA 12.4 but the driver supports CUDA up to 11.8: update the "
                               "NVIDIA driver."]


def test_torch_s_view_of_the_gpu_stands_in_for_a_missing_nvidia_smi() -> None:
    gpu = parse_gpu_csv(RTX_4090_CSV)[0]
    report = assess(None, TorchFacts(**{**CUDA_TORCH.__dict__, "gpu": gpu}), BNB_OK)
    assert (report.has_nvidia_smi, report.gpu_name, report.vram_total_gb) == (False, gpu.name, 24.0)
    assert report.recommended_method == "qlora"
    assert "nvidia-smi not found: GPU figures come from torch" in report.notes


def test_cli_hardware_json(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    smi_on_path(monkeypatch, tmp_path / "bin")
    fake_nvidia_smi(tmp_path / "bin")
    result = CliRunner().invoke(cli, ["--workspace", str(tmp_path / "ws"), "hardware", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["gpu_name"], report["vram_total_gb"], report["cuda_runtime"]) == (
        "NVIDIA GeForce RTX 4090", 24.0, "12.4")


def test_cli_hardware_table_lists_every_field(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    smi_on_path(monkeypatch, tmp_path / "bin")
    fake_nvidia_smi(tmp_path / "bin")
    result = CliRunner().invoke(cli, ["--workspace", str(tmp_path / "ws"), "hardware"])
    assert result.exit_code == 0, result.output
    assert "recommendation_reason" in result.output and "NVIDIA GeForce RTX 4090" in result.output


@pytest.mark.skipif(shutil.which("finetune") is None and not (Path(sys.executable).parent / "finetune").exists(),
                    reason="the finetune console script is not installed")
@pytest.mark.skipif(cuda_available(), reason="this machine has a GPU")
def test_the_finetune_console_script_gives_the_no_gpu_answer(tmp_path: Path) -> None:
    script = shutil.which("finetune", path=str(Path(sys.executable).parent)) or "finetune"
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}  # no nvidia-smi on this PATH
    done = subprocess.run([script, "--workspace", str(tmp_path / "ws"), "--json", "hardware"], capture_output=True,
                          text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) | SPEC_NO_GPU == json.loads(done.stdout)


# --- on a machine with an NVIDIA GPU ---------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available(), reason="needs CUDA")
def test_gpu_the_real_nvidia_smi_agrees_with_torch() -> None:
    import torch
    from finetune_local_gpu.capability import probe_4bit

    report = probe_hardware()
    assert report.has_nvidia_smi and report.cuda_available
    assert report.gpu_count == torch.cuda.device_count()
    assert report.gpu_name == torch.cuda.get_device_name(0)
    total = torch.cuda.get_device_properties(0).total_memory
    assert report.vram_total_gb is not None and report.vram_free_gb is not None
    assert report.vram_total_gb == pytest.approx(total / 2**30, abs=1.0)
    assert 0 < report.vram_free_gb <= report.vram_total_gb
    assert report.driver_version and report.cuda_runtime
    assert report.torch_cuda == torch.version.cuda
    assert report.bnb_available == probe_4bit("cuda").ok
    assert report.recommended_method in {"full", "lora", "qlora"}
    assert report.recommendation_reason.startswith(f"{report.vram_total_gb:.0f}GB VRAM detected.")


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available(), reason="needs CUDA")
def test_gpu_bf16_is_detected_as_torch_sees_it() -> None:
    import torch
    from finetune_local_gpu.hardware import bf16_supported

    report = probe_hardware()
    supported = torch.cuda.is_bf16_supported()
    assert bf16_supported() == supported
    assert any(note.startswith("bf16 supported" if supported else "bf16 not supported") for note in report.notes)
    if supported:
        a = torch.randn(64, 64, device="cuda", dtype=torch.bfloat16)
        assert (a @ a).dtype == torch.bfloat16
