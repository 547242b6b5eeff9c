"""`finetune train`, `finetune fine-tunes ...`, `finetune models [show|deploy|undeploy]` and `finetune judge`."""

from __future__ import annotations

import json
import time
from typing import Any

import click
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from finetune_core.cli.common import (
    console,
    emit,
    handle_errors,
    make_table,
    mark_failed,
    run_job,
    settle_requests,
    state,
)
from finetune_core.domain import FineTune, FineTuneStatus
from finetune_core.errors import InvalidInputError
from finetune_core.services import fine_tunes, jobs, model_hosting, projects, trainers

project_option = click.option("--project", "project_ref", required=True, help="Project name or id.")


def parse_pairs(pairs: tuple[str, ...], option: str) -> dict[str, Any]:
    """`key=value` pairs; values are read as JSON where they parse (3, 2e-4, true, "x"), else as text."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(f"{option} takes key=value, not {pair!r}")
        try:
            values[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            values[key.strip()] = raw
    return values


def follow_fine_tune(fine_tune: FineTune) -> FineTune:
    """A progress bar over the fine-tuning until it ends, with the latest step and loss."""
    workspace = state().workspace
    label = f"{fine_tune.trainer} {fine_tune.method or ''}".strip()
    with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
                  console=console, disable=state().as_json) as progress:
        task = progress.add_task(label, total=100.0)
        seen = 0
        while True:
            fine_tune = fine_tunes.get_fine_tune(workspace, fine_tune.id)
            if fine_tune.job_id:
                for event in jobs.events(workspace, fine_tune.job_id, after_seq=seen):
                    seen = event.seq
                    if "train_loss" in event.data:
                        progress.update(task, description=f"{label}: step {event.data.get('step')} "
                                                          f"loss {event.data['train_loss']:.4g}")
            progress.update(task, completed=fine_tune.progress)
            if fine_tune.status.finished:
                return fine_tune
            time.sleep(0.5)


@click.command()
@project_option
@click.option("--trainer", required=True,
              help="Trainer name: openai, mistral, together, fireworks, local, or a plugin's.")
@click.option("--base-model", required=True, help="The model to fine-tune (provider model name or HF id).")
@click.option("--method", default=None, help="lora, qlora, full, supervised...: what the trainer accepts.")
@click.option("--param", "params", multiple=True, help="A hyperparameter, key=value (repeatable): n_epochs=3.")
@click.option("--option", "options", multiple=True, help="A trainer option, key=value (repeatable): suffix=v1.")
@click.option("--name", default=None)
@click.option("--no-wait", is_flag=True, help="Start it and return (follow it with `finetune fine-tunes show`).")
@handle_errors
def train(project_ref: str, trainer: str, base_model: str, method: str | None, params: tuple[str, ...],
          options: tuple[str, ...], name: str | None, no_wait: bool) -> None:
    """Fine-tune a model on the project's dataset (hosted at a provider, or locally with a GPU plugin)."""
    workspace = state().workspace
    found = projects.get_project(workspace, project_ref)
    started = fine_tunes.create_fine_tune(workspace, found.id, trainer=trainer, base_model=base_model, method=method,
                                          hyperparameters=parse_pairs(params, "--param"),
                                          options=parse_pairs(options, "--option"), name=name)
    ended = started if no_wait else follow_fine_tune(started)
    model = f"; model {ended.model_id}" if ended.model_id else ""
    emit(ended, message=f"Fine-tuning {ended.id}: {ended.status.value}{model}")
    _settle(ended)


def _settle(fine_tune: FineTune) -> None:
    """Exit status 1 for a fine-tuning that ended in error or was cancelled (one still running is not an end)."""
    if fine_tune.status is FineTuneStatus.ERROR:
        mark_failed(f"the fine-tuning failed: {fine_tune.error_message or 'see its events'}")
    elif fine_tune.status is FineTuneStatus.CANCELLED:
        mark_failed("the fine-tuning was cancelled")


@click.group("fine-tunes")
def fine_tunes_group() -> None:
    """List, show and cancel fine-tunings."""


@fine_tunes_group.command("list")
@click.option("--project", "project_ref", default=None, help="Only this project's.")
@handle_errors
def list_fine_tunes(project_ref: str | None) -> None:
    items, total = fine_tunes.list_fine_tunes(state().workspace, project_id=project_ref)
    rows = [(f.id, f.name, f.trainer, f.base_model, f.status.value, f"{f.progress:.0f}%", f.metrics.get("train_loss"))
            for f in items]
    emit({"items": items, "total": total},
         make_table(f"Fine-tunings ({total})", ["id", "name", "trainer", "base model", "status", "progress",
                                                "train loss"], rows))


@fine_tunes_group.command("trainers")
@handle_errors
def list_trainers() -> None:
    """Which trainers take a new fine-tuning now, with the keys at hand, and why the others do not."""
    choices = trainers.availability(state().workspace, None)
    rows = [(c.name, c.label, ", ".join(c.methods) or "-", "yes" if c.available else "no", c.reason or "")
            for c in choices]
    emit({"items": choices, "total": len(choices)},
         make_table("Trainers", ["name", "provider", "methods", "available", "why not"], rows))


@fine_tunes_group.command("show")
@click.argument("fine_tune_id")
@click.option("--follow", is_flag=True, help="Follow it until it ends.")
@handle_errors
def show(fine_tune_id: str, follow: bool) -> None:
    found = fine_tunes.get_fine_tune(state().workspace, fine_tune_id)
    if follow:
        found = follow_fine_tune(found)
    emit(found, message=f"{found.name}: {found.status.value} {found.progress:.0f}% metrics {found.metrics}"
                        + (f" error: {found.error_message}" if found.error_message else ""))
    if follow:  # followed to its end, it is this command's outcome; a plain look at it is not
        _settle(found)


@fine_tunes_group.command("cancel")
@click.argument("fine_tune_id")
@handle_errors
def cancel(fine_tune_id: str) -> None:
    found = fine_tunes.cancel_fine_tune(state().workspace, fine_tune_id)
    emit(found, message=f"Cancel requested: {found.status.value}")


@click.group(invoke_without_command=True)
@click.option("--project", "project_ref", default=None, help="Only this project's.")
@click.pass_context
@handle_errors
def models(ctx: click.Context, project_ref: str | None) -> None:
    """The fine-tuned models registered so far; `deploy`, `undeploy` and `show` one of them."""
    if ctx.invoked_subcommand is not None:
        return
    workspace = state().workspace
    project_id = projects.get_project(workspace, project_ref).id if project_ref else None
    items, total = fine_tunes.list_models(workspace, project_id=project_id)
    rows = [(m.id, m.name, m.provider, m.base_model, m.provider_model_id or m.artifact_path) for m in items]
    emit({"items": items, "total": total},
         make_table(f"Models ({total})", ["id", "name", "provider", "base model", "model"], rows))


def _emit_deployment(found: dict[str, Any], message: str) -> None:
    cost = f"{found['cost_per_hour']:.2f} {found['currency']}/hour" if found["cost_per_hour"] is not None else "-"
    emit(found, message=f"{message}: {found['state']} ({found['hardware'] or 'no hardware'}, {cost}; "
                f"model {found['chat_model'] or '-'})")


@models.command("show")
@click.argument("model_id")
@handle_errors
def show_model(model_id: str) -> None:
    """One model, with its deployment where its provider deploys models (Together, Fireworks)."""
    workspace = state().workspace
    model = fine_tunes.get_model(workspace, model_id)
    hosted = model_hosting.hosted(workspace, model)
    deployment = model_hosting.deployment(workspace, model_id, None) if hosted else None
    rows = [(key, str(value)) for key, value in (("id", model.id), ("name", model.name), ("provider", model.provider),
                                                 ("base model", model.base_model),
                                                 ("model", model.provider_model_id or model.artifact_path),
                                                 ("deployment", deployment["state"] if deployment else "-"))]
    emit({"model": model, "deployment": deployment}, make_table(model.name, ["field", "value"], rows))


@models.command("deploy")
@click.argument("model_id")
@click.option("--confirm-cost", type=float, default=None,
              help="The hourly cost you accept; without it, the estimate is shown and nothing starts.")
@click.option("--hardware", default=None, help="Together hardware id or Fireworks accelerator type.")
@handle_errors
def deploy(model_id: str, confirm_cost: float | None, hardware: str | None) -> None:
    """Deploy a Together or Fireworks fine-tune (billed by the hour while it runs)."""
    found = model_hosting.deploy(state().workspace, model_id, None, confirm_cost_per_hour=confirm_cost,
                                 hardware=hardware)
    _emit_deployment(found, "Deployment")


@models.command("undeploy")
@click.argument("model_id")
@handle_errors
def undeploy(model_id: str) -> None:
    """Stop a model's deployment."""
    _emit_deployment(model_hosting.undeploy(state().workspace, model_id, None), "Deployment")


@click.command()
@project_option
@click.option("--chat-model", required=True, help="Chat model name: openai, anthropic, mistral, openai-compatible...")
@click.option("--model", default=None, help="The model the judge uses.")
@click.option("--base-url", default=None, help="Base URL for OpenAI-compatible servers.")
@click.option("--concurrency", type=int, default=None, help="Requests in flight.")
@click.option("--rpm", type=float, default=None, help="Requests per minute at most.")
@click.option("--threshold", type=float, default=None, help="Examples scoring under this (1-5) leave the exports.")
@click.option("--rejudge", is_flag=True, help="Score again the examples already judged.")
@handle_errors
def judge(project_ref: str, chat_model: str, model: str | None, base_url: str | None, concurrency: int | None,
          rpm: float | None, threshold: float | None, rejudge: bool) -> None:
    """Score each example with a model against a rubric (accuracy, relevance, clarity, usefulness, grounding)."""
    found = projects.get_project(state().workspace, project_ref)
    settings = {key: value for key, value in {"model": model, "base_url": base_url, "concurrency": concurrency,
                                              "requests_per_minute": rpm}.items() if value is not None}
    job = run_job("dataset_judge", found.id, "Judging", chat_model=chat_model, settings=settings,
                  threshold=threshold, rejudge=rejudge)
    summary = job.result_summary
    emit(summary, message=f"{summary['judged']} judged (mean {summary['mean_score']}), {summary['below_threshold']} "
                          f"under the threshold {summary['threshold']}, {summary['failed'] + summary['unparsed']} "
                          f"left for a rerun; {summary['valid']} valid examples")
    settle_requests({"failed_requests": summary["failed"] + summary["unparsed"]}, "judge")
