"""`finetune evaluate`: two or more chat models compared on the project's own documents (services/evaluation)."""

from __future__ import annotations

import click
from rich.table import Table

from finetune_core.cli.common import emit, handle_errors, make_table, run_job, state
from finetune_core.services import evaluation, projects


@click.command()
@click.option("--project", "project_ref", required=True, help="Project name or id.")
@click.option("--model", "models", multiple=True,
              help="A chat model reference (repeat; the first is compared with the others): a model id, embedded, "
                   "openai:gpt-4o-mini, openai-compatible:llama3@http://host:11434/v1... Default: the latest "
                   "fine-tune's model and its base.")
@click.option("--judge", default=None, help="A chat model that compares each pair of answers (both orders).")
@click.option("--questions", type=click.IntRange(1, evaluation.MAX_QUESTIONS), default=evaluation.DEFAULT_QUESTIONS,
              show_default=True, help="Knowledge questions to ask.")
@click.option("--abstention", type=click.IntRange(0, 100), default=5, show_default=True,
              help="Questions about invented facts, which a good model declines.")
@click.option("--max-tokens", type=click.IntRange(1, evaluation.MAX_ANSWER_TOKENS),
              default=evaluation.DEFAULT_MAX_TOKENS, show_default=True, help="The most tokens of each answer.")
@click.option("--record-on", "model_id", default=None,
              help="The model id whose metrics take the first model's figures (default: the first model's own).")
@handle_errors
def evaluate(project_ref: str, models: tuple[str, ...], judge: str | None, questions: int, abstention: int,
             max_tokens: int, model_id: str | None) -> None:
    """Compare chat models on questions about the project's documents: token F1, ROUGE-L, key fact, abstention."""
    workspace = state().workspace
    project = projects.get_project(workspace, project_ref)
    _, references = evaluation.check_request(workspace, project.id, list(models) or None, judge, questions,
                                             model_id, max_tokens)
    job = run_job(evaluation.EVALUATE_JOB, project.id, "Evaluating", models=references, judge=judge,
                  questions=questions, abstention=abstention, model_id=model_id, max_tokens=max_tokens)
    result = evaluation.EvaluationResult.model_validate(job.result_summary)
    emit(result, result_table(result),
         message=f"{result.dropped_near_duplicates} of {result.candidates} knowledge questions dropped as "
                 f"near-duplicates of training questions, {result.dropped_off_training} as about passages no "
                 f"training example covers; report: {workspace.files.local_path(result.report_path)}")


def _short(reference: str) -> str:
    """A model reference fit for a column head: a model id cut to its first 8 characters."""
    return reference[:8] if len(reference) == 36 and reference.count("-") == 4 else reference


def result_table(result: evaluation.EvaluationResult) -> Table:
    """One row per set and metric, one column per model (mean [95 % CI]), and each other model's record against
    the first (win/tie/loss, question by question) where the metric has one."""
    first = _short(result.models[0])
    others = [_short(model) for model in result.models[1:]]
    rows = []
    for found in result.sets:
        for metric in found.models[0].metrics if found.models else {}:
            cells = []
            for scores in found.models:
                value = scores.metrics[metric]
                cells.append(f"{value.mean:.3f} [{value.low:.3f}, {value.high:.3f}]")
            versus = [f"{r.wins}/{r.ties}/{r.losses}" for scores in found.models[1:]
                      if (r := scores.versus_first.get(metric)) is not None]
            rows.append((f"{found.name} ({len(found.questions)})", metric, *cells, " ".join(versus) or ""))
        for scores in found.models[1:]:
            if (judged := scores.versus_first.get("judge")) is not None:
                rows.append((f"{found.name} ({len(found.questions)})", "judge", *[""] * len(found.models),
                             f"{judged.wins}/{judged.ties}/{judged.losses}"))
    return make_table(f"Evaluation {result.id}: mean [95 % CI]", ["set (questions)", "metric", first, *others,
                                                                  f"{', '.join(others)} vs {first}: w/t/l"], rows)
