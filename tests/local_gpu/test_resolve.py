"""Model resolution (finetuneflow §3) against a fake Hub on 127.0.0.1 and real local folders."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from finetune_core.cli import cli
from finetune_core.errors import FinetuneError, InvalidInputError, NotFoundError
from finetune_core.services import projects
from finetune_core.services.model_access import Origin
from finetune_core.testing import open_test_workspace
from finetune_core.workspace import Workspace
from finetune_local_gpu import estimates, parameters
from finetune_local_gpu.hardware import HardwareReport
from finetune_local_gpu.resolve import resolve_model
from finetune_local_gpu.services import resolve_for_project
from kits.fake_hub import (
    GEMMA_7B,
    LLAMA_3_1_8B,
    MISTRAL_7B,
    PHI_2,
    PHI_3_MINI,
    PUBLISHED_TOTALS,
    QWEN2_7B,
    TOKEN,
    FakeHub,
    default_models,
)
from safetensors.torch import save_file

TINY_LLAMA = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "intermediate_size": 176,
    "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 1000,
    "max_position_embeddings": 512, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
}
# the published shapes of gemma-2-9b (9,241,705,984 parameters) and Qwen3-8B (8,190,735,360)
GEMMA_2_9B = {
    "architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2", "hidden_size": 3584, "intermediate_size": 14336,
    "num_attention_heads": 16, "num_hidden_layers": 42, "num_key_value_heads": 8, "head_dim": 256,
    "vocab_size": 256000, "max_position_embeddings": 8192,
}
QWEN3_8B = {
    "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "hidden_size": 4096, "intermediate_size": 12288,
    "num_attention_heads": 32, "num_hidden_layers": 36, "num_key_value_heads": 8, "head_dim": 128,
    "vocab_size": 151936, "tie_word_embeddings": False, "max_position_embeddings": 40960,
}
NO_HARDWARE = HardwareReport()


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    """The fake Hub as HF_ENDPOINT, huggingface_hub online (the suite runs offline), a fresh cache, no token."""
    import huggingface_hub.constants as constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # read once, at import
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf" / "token"))
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with FakeHub(default_models()) as fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.endpoint)
        yield fake


def gpu_report(vram_gib: float, name: str = "NVIDIA Fake GPU") -> HardwareReport:
    return HardwareReport(has_nvidia_smi=True, gpu_name=name, gpu_count=1, vram_total_gb=vram_gib,
                          vram_free_gb=vram_gib, cuda_available=True, bnb_available=True,
                          recommended_method="qlora", recommendation_reason="test")


def model_folder(folder: Path, config: dict[str, Any], tensors: dict[str, torch.Tensor] | None = None,
                 readme: str | None = None) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    if tensors is not None:
        save_file(tensors, str(folder / "model.safetensors"))
    if readme is not None:
        (folder / "README.md").write_text(readme)
    return folder


def random_tensors(*shapes: tuple[int, ...]) -> dict[str, torch.Tensor]:
    return {f"layer.{i}.weight": torch.randn(shape).to(torch.bfloat16) for i, shape in enumerate(shapes)}


@pytest.mark.parametrize(("repo_id", "model_type", "architecture", "vocab", "context", "licence"), [
    ("meta-llama/Llama-3.1-8B-nosafetensors", "llama", "LlamaForCausalLM", 128256, 131072, "apache-2.0"),
    ("mistralai/Mistral-7B-v0.1", "mistral", "MistralForCausalLM", 32000, 32768, "apache-2.0"),
    ("Qwen/Qwen2-7B", "qwen2", "Qwen2ForCausalLM", 152064, 131072, "apache-2.0"),
    ("google/gemma-7b", "gemma", "GemmaForCausalLM", 256000, 8192, "gemma"),
    ("microsoft/phi-2", "phi", "PhiForCausalLM", 51200, 2048, "mit"),
    ("microsoft/Phi-3-mini-4k-instruct", "phi3", "Phi3ForCausalLM", 32064, 4096, "mit"),
])
def test_hub_models_without_safetensors_counts_get_the_published_totals_from_their_config(
        hub: FakeHub, repo_id: str, model_type: str, architecture: str, vocab: int, context: int, licence: str) -> None:
    info = resolve_model(repo_id)
    assert info.num_parameters == PUBLISHED_TOTALS[repo_id.removesuffix("-nosafetensors")]
    assert (info.model_id, info.model_type, info.architecture) == (repo_id, model_type, architecture)
    assert (info.vocab_size, info.max_position_embeddings, info.license, info.valid) == (vocab, context, licence, True)
    assert info.estimated_vram_fp16_gb == round(info.num_parameters * 2 / 1e9, 2)
    assert ("GET", f"/api/models/{repo_id}", False) in hub.requests


@pytest.mark.parametrize("config", [LLAMA_3_1_8B, MISTRAL_7B, QWEN2_7B, GEMMA_7B, PHI_2, PHI_3_MINI,
                                    {**TINY_LLAMA, "tie_word_embeddings": True, "attention_bias": True},
                                    GEMMA_2_9B, QWEN3_8B],
                         ids=lambda config: config["model_type"])
def test_the_config_formula_matches_transformers(config: dict[str, Any]) -> None:
    from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):  # shapes only: no memory
        model = AutoModelForCausalLM.from_config(AutoConfig.for_model(**config))
    assert parameters.from_config(config) == sum(p.numel() for p in model.parameters())


def test_the_spec_example_llama_3_1_8b(hub: FakeHub) -> None:
    info = resolve_model("meta-llama/Llama-3.1-8B", token=TOKEN)
    assert info.model_dump(exclude={"warnings", "estimated_training_gb", "gated"}) == {
        "model_id": "meta-llama/Llama-3.1-8B", "model_type": "llama", "num_parameters": 8_030_261_248,
        "estimated_vram_fp16_gb": 16.06, "estimated_vram_4bit_gb": 5.52, "architecture": "LlamaForCausalLM",
        "vocab_size": 128256, "max_position_embeddings": 131072, "license": "llama3.1", "valid": True,
    }
    assert info.gated
    assert info.warnings == ["Model 'meta-llama/Llama-3.1-8B' is gated (llama3.1): accept its terms on the Hugging "
                             "Face Hub and use a token (HF_TOKEN) that has access"]
    assert info.estimated_training_gb == {"full": 146.48, "lora": 34.7, "qlora": 24.16}


def test_a_gated_llama_without_access_still_resolves_from_the_model_info(hub: FakeHub) -> None:
    info = resolve_model("meta-llama/Llama-3.1-8B")
    assert (info.gated, info.valid, info.num_parameters) == (True, True, PUBLISHED_TOTALS["meta-llama/Llama-3.1-8B"])
    assert (info.architecture, info.model_type, info.vocab_size) == ("LlamaForCausalLM", "llama", None)
    assert info.warnings[0].startswith("config.json could not be read: the model is gated")
    assert any("leave out activation memory" in warning for warning in info.warnings)
    assert any("is gated (llama3.1)" in warning for warning in info.warnings)


def test_a_gemma_licence_alone_marks_the_model_gated(hub: FakeHub) -> None:
    info = resolve_model("google/gemma-7b")
    assert info.gated
    assert info.warnings == ["Model 'google/gemma-7b' is gated (gemma): accept its terms on the Hugging Face Hub "
                             "and use a token (HF_TOKEN) that has access"]


@pytest.mark.parametrize("ref", ["nobody/no-such-model", "no-such-model", "./no/such/folder", "/no/such/folder",
                                 "not a model id"])
def test_an_unknown_model_is_not_found_with_the_spec_message(hub: FakeHub, ref: str) -> None:
    with pytest.raises(NotFoundError) as caught:
        resolve_model(ref)
    assert caught.value.message == f"Model '{ref}' not found on HuggingFace Hub"


def test_the_endpoint_argument_beats_hf_endpoint(hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    assert resolve_model("microsoft/phi-2", endpoint=hub.endpoint).num_parameters == 2_779_683_840


def test_an_unreachable_hub_is_an_error_that_says_so(hub: FakeHub) -> None:
    with pytest.raises(FinetuneError) as caught:
        resolve_model("microsoft/phi-2", endpoint=f"http://127.0.0.1:{free_port()}")
    assert caught.value.error_code == "HUB_UNAVAILABLE"
    assert not isinstance(caught.value, NotFoundError)


def test_offline_mode_is_an_error_that_says_so(hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(FinetuneError, match="offline mode"):
        resolve_model("microsoft/phi-2")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_local_folder_counts_its_safetensors_tensors(tmp_path: Path) -> None:
    tensors = random_tensors((1000, 64), (64, 64), (176, 64), (64,))
    folder = model_folder(tmp_path / "tiny", TINY_LLAMA, tensors,
                          readme="---\nlicense: llama3.2\nlanguage: [en]\n---\n# Tiny\n")
    info = resolve_model(str(folder), hardware=NO_HARDWARE)
    expected = sum(tensor.numel() for tensor in tensors.values())
    assert expected != parameters.from_config(TINY_LLAMA)  # so the count below comes from the file
    assert info.num_parameters == expected
    assert (info.model_id, info.model_type, info.vocab_size, info.license) == (
        str(folder.resolve()), "llama", 1000, "llama3.2")
    assert info.gated and info.valid


def test_a_sharded_local_folder_counts_every_shard_or_reads_the_index(tmp_path: Path) -> None:
    folder = model_folder(tmp_path / "sharded", TINY_LLAMA)
    first, second = random_tensors((10, 10)), {"other.weight": torch.zeros(7, 3, dtype=torch.bfloat16)}
    save_file(first, str(folder / "model-00001-of-00002.safetensors"))
    save_file(second, str(folder / "model-00002-of-00002.safetensors"))
    index: dict[str, Any] = {"metadata": {"total_size": 121 * 2},
             "weight_map": {"layer.0.weight": "model-00001-of-00002.safetensors",
                            "other.weight": "model-00002-of-00002.safetensors"}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    assert resolve_model(str(folder)).num_parameters == 100 + 21
    for shard in folder.glob("*.safetensors"):
        shard.unlink()
    index["metadata"]["total_size"] = 2_000_000  # bytes of bfloat16 weights: the shards are not here
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    assert resolve_model(str(folder)).num_parameters == 1_000_000


def test_a_local_folder_without_weights_is_sized_from_its_config(tmp_path: Path) -> None:
    info = resolve_model(str(model_folder(tmp_path / "config-only", TINY_LLAMA)))
    assert info.num_parameters == parameters.from_config(TINY_LLAMA)
    assert not info.gated and info.license is None


def test_a_folder_without_config_json_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match=r"no config\.json"):
        resolve_model(str(tmp_path / "empty"))


def test_an_unsized_family_and_a_non_causal_model_are_not_valid(tmp_path: Path) -> None:
    unknown = resolve_model(str(model_folder(tmp_path / "mamba", {"architectures": ["MambaForCausalLM"],
                                                                   "model_type": "mamba", "vocab_size": 50280})))
    assert (unknown.num_parameters, unknown.estimated_vram_fp16_gb, unknown.valid) == (None, None, False)
    assert unknown.warnings[0].startswith("Parameter count unknown")
    bert = resolve_model(str(model_folder(tmp_path / "bert", {"architectures": ["BertForMaskedLM"],
                                                               "model_type": "bert"}, random_tensors((8, 8)))))
    assert (bert.num_parameters, bert.valid) == (64, False)
    assert any("BertForMaskedLM is not a causal language model" in warning for warning in bert.warnings)


def test_training_estimates_grow_with_batch_size_and_sequence_length(tmp_path: Path) -> None:
    folder = str(model_folder(tmp_path / "tiny", TINY_LLAMA))
    grid = {(batch, seq): resolve_model(folder, batch_size=batch, seq_len=seq).estimated_training_gb or {}
            for batch in (1, 4, 16) for seq in (512, 2048, 8192)}
    shape = estimates.ModelShape(4096, 32, 128256)
    for method in estimates.TRAINING_METHODS:
        for seq in (512, 2048, 8192):
            by_batch = [grid[batch, seq][method] for batch in (1, 4, 16)]
            assert by_batch == sorted(by_batch) and by_batch[0] < by_batch[-1]
        for batch in (1, 4, 16):
            by_seq = [grid[batch, seq][method] for seq in (512, 2048, 8192)]
            assert by_seq == sorted(by_seq) and by_seq[0] < by_seq[-1]
        small, large = (estimates.training_gb(8_030_261_248, shape, batch_size=b, seq_len=s)[method]
                        for b, s in ((1, 512), (8, 4096)))
        assert small < large
    one = estimates.training_gb(8_030_261_248, shape, batch_size=1, seq_len=2048)
    assert one["qlora"] < one["lora"] < one["full"]


def test_a_model_too_big_for_an_8gb_gpu_is_warned_about(hub: FakeHub) -> None:
    info = resolve_model("meta-llama/Llama-3.1-8B", token=TOKEN, hardware=gpu_report(8.0, "NVIDIA Fake 8GB"))
    fit = info.warnings[-1]
    assert fit.startswith("Will not fit the detected GPU (NVIDIA Fake 8GB, 8.6 GB) at batch size 4 and sequence "
                          "length 2048: fp16 inference ~16.06 GB, full fine-tuning ~146.48 GB, LoRA ~34.7 GB, "
                          "QLoRA ~24.16 GB.")
    assert fit.endswith("Nothing trains on it: use a smaller model, batch size or sequence length.")
    assert "4-bit inference" not in fit  # 5.52 GB fits


def test_the_fit_warning_names_only_what_does_not_fit(hub: FakeHub) -> None:
    info = resolve_model("microsoft/phi-2", hardware=gpu_report(24.0))
    assert info.warnings == ["Will not fit the detected GPU (NVIDIA Fake GPU, 25.8 GB) at batch size 4 and sequence "
                             "length 2048: full fine-tuning ~52.4 GB."]
    assert resolve_model("microsoft/phi-2", hardware=gpu_report(80.0)).warnings == []
    assert resolve_model("microsoft/phi-2", hardware=NO_HARDWARE).warnings == []  # no GPU: nothing to compare


def test_resolve_for_project_stores_the_model_with_the_project_s_sizes(hub: FakeHub,
                                                                       finetune_workspace: Workspace) -> None:
    project = projects.create_project(finetune_workspace, "handbook",
                                      config={"max_seq_length": 1024, "per_device_batch_size": 2})
    info = resolve_for_project(finetune_workspace, project.id, "mistralai/Mistral-7B-v0.1", hardware=gpu_report(24.0))
    assert info.estimated_training_gb == resolve_model("mistralai/Mistral-7B-v0.1", batch_size=2,
                                                       seq_len=1024).estimated_training_gb
    assert any("batch size 2 and sequence length 1024" in warning for warning in info.warnings)
    stored = projects.get_project(finetune_workspace, project.id)
    assert stored.base_model_id == "mistralai/Mistral-7B-v0.1"
    assert stored.model_info == info.model_dump(mode="json")


def test_resolve_for_project_leaves_the_project_alone_for_an_unknown_model(hub: FakeHub,
                                                                           finetune_workspace: Workspace) -> None:
    project = projects.create_project(finetune_workspace, "handbook")
    with pytest.raises(NotFoundError):
        resolve_for_project(finetune_workspace, project.id, "nobody/nothing", hardware=NO_HARDWARE)
    stored = projects.get_project(finetune_workspace, project.id)
    assert (stored.base_model_id, stored.model_info) == (None, None)


def test_resolve_for_project_reads_local_folders_only_when_allowed(tmp_path: Path,
                                                                    finetune_workspace: Workspace) -> None:
    folder = str(model_folder(tmp_path / "tiny", TINY_LLAMA))
    project = projects.create_project(finetune_workspace, "handbook")
    with pytest.raises(InvalidInputError, match="not a model this server may load") as refused:  # a web client
        resolve_for_project(finetune_workspace, project.id, folder, hardware=NO_HARDWARE)
    assert refused.value.error_code == "MODEL_PATH_NOT_ALLOWED"
    info = resolve_for_project(finetune_workspace, project.id, folder, hardware=NO_HARDWARE, origin=Origin.LOCAL)
    assert projects.get_project(finetune_workspace, project.id).base_model_id == info.model_id == folder


def test_a_web_client_resolves_folders_of_the_operators_models_directory_only(tmp_path: Path) -> None:
    models = tmp_path / "models"
    inside = str(model_folder(models / "org" / "tiny", TINY_LLAMA))
    outside = str(model_folder(tmp_path / "elsewhere", TINY_LLAMA))
    (models / "escape").symlink_to(tmp_path / "elsewhere")
    workspace = open_test_workspace(tmp_path / "ws", models_dir=models)
    try:
        project = projects.create_project(workspace, "handbook")
        for name in ("org/tiny", inside):  # relative to the directory, or a path inside it
            info = resolve_for_project(workspace, project.id, name, hardware=NO_HARDWARE)
            assert info.model_id == inside and info.num_parameters > 0
        for name in (outside, "../elsewhere", str(models / "escape")):  # the link leads out of the directory
            with pytest.raises(InvalidInputError) as refused:
                resolve_for_project(workspace, project.id, name, hardware=NO_HARDWARE)
            assert refused.value.error_code == "MODEL_PATH_NOT_ALLOWED", name
        assert projects.get_project(workspace, project.id).base_model_id == inside
    finally:
        workspace.close()


def test_cli_resolve_json_for_a_local_folder(tmp_path: Path) -> None:
    folder = model_folder(tmp_path / "tiny", TINY_LLAMA, random_tensors((10, 10)))
    result = CliRunner().invoke(cli, ["--workspace", str(tmp_path / "ws"), "resolve", str(folder), "--json",
                                      "--no-hardware", "--batch-size", "2", "--seq-len", "128"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert (answer["num_parameters"], answer["model_type"], answer["valid"]) == (100, "llama", True)
    assert answer["estimated_training_gb"] == resolve_model(str(folder), batch_size=2,
                                                            seq_len=128).estimated_training_gb


def test_cli_resolve_an_unknown_model_fails_with_the_spec_message(hub: FakeHub, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--workspace", str(tmp_path / "ws"), "--json", "resolve", "nobody/nothing",
                                      "--no-hardware"])
    assert result.exit_code == 1
    assert json.loads(result.output)["error"]["detail"] == "Model 'nobody/nothing' not found on HuggingFace Hub"


def test_cli_resolve_stores_on_a_project_and_prints_a_table(hub: FakeHub, tmp_path: Path) -> None:
    workspace = str(tmp_path / "ws")
    runner = CliRunner()
    assert runner.invoke(cli, ["--workspace", workspace, "project", "create", "handbook"]).exit_code == 0
    result = runner.invoke(cli, ["--workspace", workspace, "resolve", "microsoft/phi-2", "--project", "handbook"])
    assert result.exit_code == 0, result.output
    assert "PhiForCausalLM" in result.output and "estimated_training_gb.qlora" in result.output
    shown = json.loads(runner.invoke(cli, ["--workspace", workspace, "--json", "project", "show", "handbook"]).output)
    assert (shown["base_model_id"], shown["model_info"]["num_parameters"]) == ("microsoft/phi-2", 2_779_683_840)


@pytest.mark.skipif(not (Path(sys.executable).parent / "finetune").exists(), reason="no finetune console script")
def test_the_finetune_console_script_resolves_a_folder(tmp_path: Path) -> None:
    folder = model_folder(tmp_path / "tiny", TINY_LLAMA, random_tensors((10, 10)))
    script = shutil.which("finetune", path=str(Path(sys.executable).parent)) or "finetune"
    done = subprocess.run([script, "--workspace", str(tmp_path / "ws"), "resolve", str(folder), "--json"],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "PATH": str(Path(sys.executable).parent)})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["num_parameters"] == 100


# --- on a machine with an NVIDIA GPU ---------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_real_memory_agrees_with_the_estimates(tmp_path: Path) -> None:
    """The bf16 weights take exactly 2 bytes a parameter; a LoRA step's peak lands near the LoRA estimate."""
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(hidden_size=512, intermediate_size=1408, num_hidden_layers=4, num_attention_heads=8,
                         num_key_value_heads=8, vocab_size=32000, max_position_embeddings=1024)
    model = LlamaForCausalLM(config)
    model.save_pretrained(tmp_path / "tiny")
    batch_size, seq_len = 4, 512
    info = resolve_model(str(tmp_path / "tiny"), batch_size=batch_size, seq_len=seq_len, hardware=NO_HARDWARE)
    assert info.num_parameters is not None and info.num_parameters == model.num_parameters()

    torch.cuda.empty_cache()
    before = torch.cuda.memory_allocated()
    model = model.to("cuda", torch.bfloat16)
    assert torch.cuda.memory_allocated() - before == pytest.approx(info.num_parameters * 2, rel=0.01)

    model.gradient_checkpointing_enable()
    model.enable_input_require_grads()
    lora = get_peft_model(model, LoraConfig(r=16, target_modules="all-linear"))
    lora.train()
    ids = torch.randint(0, config.vocab_size, (batch_size, seq_len), device="cuda")
    torch.cuda.reset_peak_memory_stats()
    lora(input_ids=ids, labels=ids).loss.backward()
    peak = torch.cuda.max_memory_allocated() - before
    estimate = (info.estimated_training_gb or {})["lora"] * estimates.GB
    assert 0.5 * estimate <= peak <= 1.5 * estimate, f"measured {peak / 1e9:.3f} GB, estimated {estimate / 1e9:.3f} GB"
