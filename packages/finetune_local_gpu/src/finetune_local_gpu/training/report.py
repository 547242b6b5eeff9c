"""report.md of an exported fine-tuning: warnings, dataset stats, hyperparameters, final metrics, the loss plot.

The plot is drawn on a bare matplotlib `Figure` with the Agg canvas: no pyplot, so no global backend
is switched in the process that exports (a web server, a worker).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from finetune_core.domain import FineTune

from finetune_local_gpu.training.artifacts import PREFERENCE_METRICS

PLOT_FILE = "loss_plot.png"


def plot_losses(metrics: Mapping[str, Any], path: Path) -> Path:
    """A PNG of the train loss and the eval loss by step."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    train, evals = metrics.get("train", []), metrics.get("eval", [])
    axes.plot([p["step"] for p in train], [p["train_loss"] for p in train], label="train loss")
    if evals:
        axes.plot([p["step"] for p in evals], [p["eval_loss"] for p in evals], "o-", label="eval loss")
    axes.set_title("Loss by step")
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, format="png")
    return path


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = [f"| {' | '.join(header)} |", f"|{'---|' * len(header)}"]
    lines += [f"| {' | '.join('' if cell is None else _cell(cell) for cell in row)} |" for row in rows]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def report_warnings(config: Mapping[str, Any], dataset: Mapping[str, Any]) -> list[str]:
    """The run's own (no eval examples), then the dataset's as its statistics give them now."""
    found = []
    if config.get("dataset", {}).get("eval_examples") == 0:
        found.append("This run had no eval examples: the metrics have no eval loss or perplexity, and nothing "
                     "measured overfitting.")
    return found + list(dataset.get("warnings", []))


def render_report(fine_tune: FineTune, config: Mapping[str, Any], metrics: Mapping[str, Any],
                  dataset: Mapping[str, Any], files: Sequence[tuple[str, int]]) -> str:
    final = metrics.get("final", {})
    by_split = dataset.get("by_split", {})
    adapter = any(name == "adapter_config.json" for name, _ in files)
    when = f", completed {fine_tune.completed_at:%Y-%m-%d %H:%M} UTC" if fine_tune.completed_at else ""
    warnings = report_warnings(config, dataset)
    sections = [
        f"# {fine_tune.name}",
        f"Fine-tuning `{fine_tune.id}`: **{fine_tune.method}** of `{fine_tune.base_model}` with the local "
        f"trainer{when}" + (", DPO on ranked preference pairs (an example is a pair)."
                            if config.get("objective") == "dpo" else "."),
        *(["## Warnings", "\n".join(f"- {warning}" for warning in warnings)] if warnings else []),
        "## Dataset",
        f"{dataset.get('total', 0)} examples, {dataset.get('valid', 0)} valid, {dataset.get('invalid', 0)} invalid "
        f"(now); trained on {config.get('dataset', {}).get('train_examples', '?')} train and "
        f"{config.get('dataset', {}).get('eval_examples', '?')} eval examples.",
        _table(["split", "count", "avg tokens", "min tokens", "max tokens"],
               [(split, v.get("count"), v.get("avg_tokens"), v.get("min_tokens"), v.get("max_tokens"))
                for split, v in by_split.items()]),
        "## Hyperparameters",
        _table(["name", "value"], sorted(config.get("hyperparameters", {}).items())),
        f"Runtime: {', '.join(f'{k} {v}' for k, v in config.get('runtime', {}).items())}; loss on assistant turns "
        f"({config.get('assistant_only_loss')}); seed {config.get('seed')}.",
        "## Final metrics",
        _table(["metric", "value"], [(name, final.get(name)) for name in
                                     ("step", "epoch", "train_loss", "eval_loss", "perplexity", *PREFERENCE_METRICS,
                                      *(f"eval_{name}" for name in PREFERENCE_METRICS), "duration_seconds")
                                     if final.get(name) is not None]),
        f"![Train and eval loss by step]({PLOT_FILE})",
        "## Files",
        _table(["file", "bytes"], files),
    ]
    if adapter:
        sections += ["## Use", "```python\nfrom peft import PeftModel\nfrom transformers import AutoModelForCausalLM,"
                     f" AutoTokenizer\n\nbase = AutoModelForCausalLM.from_pretrained({fine_tune.base_model!r})\n"
                     "model = PeftModel.from_pretrained(base, \"path/to/this/folder\")\n"
                     "tokenizer = AutoTokenizer.from_pretrained(\"path/to/this/folder\")\n```"]
    return "\n\n".join(sections) + "\n"
