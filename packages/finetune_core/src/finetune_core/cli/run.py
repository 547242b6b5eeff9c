"""`finetune run`: pipeline steps over a project (or some of its sources) as one resumable job."""

from __future__ import annotations

import click

from finetune_core.cli.common import emit, handle_errors, make_table, run_job, settle_requests, state
from finetune_core.services import projects
from finetune_core.services.pipeline import PIPELINE, PipelineStep, pipeline_params

STEP_NAMES = [step.value for step in PipelineStep]


@click.command("run")
@click.option("--project", "project_ref", required=True, help="Project name or id.")
@click.option("--steps", default=",".join(STEP_NAMES), show_default=True,
              help=f"Comma-separated steps, run in the pipeline's order: {', '.join(STEP_NAMES)}.")
@click.option("--source", "source_ids", multiple=True, help="Only this source (repeatable; default: all of them).")
@click.option("--generator", default=None, help="Generator name (default: project config).")
@click.option("--target", type=int, default=None, help="Number of examples wanted (default: project config).")
@click.option("--per-chunk", type=int, default=None, help="Examples asked per chunk and round.")
@click.option("--rechunk", is_flag=True, help="Chunk every document again (default: only those with no chunk).")
@handle_errors
def run(project_ref: str, steps: str, source_ids: tuple[str, ...], generator: str | None, target: int | None,
        per_chunk: int | None, rechunk: bool) -> None:
    """Run pipeline steps as one job; a rerun does only what is missing (loads, chunks, generation requests)."""
    found = projects.get_project(state().workspace, project_ref)
    options = {"generator": generator, "target": target, "examples_per_chunk": per_chunk, "rechunk": rechunk or None}
    params = pipeline_params([name for name in steps.split(",") if name.strip()],
                             source_ids=list(source_ids) or None,
                             **{key: value for key, value in options.items() if value is not None})
    job = run_job(PIPELINE, found.id, "Pipeline", **params)
    summary = job.result_summary
    rows = [(step, "skipped" if result.get("skipped") else "done", result.get("message", ""))
            for step, result in summary["steps"].items()]
    emit(summary, make_table("Pipeline", ["step", "outcome", "what happened"], rows))
    settle_requests(summary["steps"].get("generate") or {})
