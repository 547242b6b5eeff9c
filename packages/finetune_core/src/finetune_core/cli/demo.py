"""`finetune demo`: the whole pipeline on the bundled sample documents, offline."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import click

from finetune_core.cli.common import emit, handle_errors, make_table, run_job, settle, state
from finetune_core.cli.demo_training import TARGET as TRAINING_TARGET
from finetune_core.cli.demo_training import train_and_compare
from finetune_core.cli.evaluate import result_table
from finetune_core.domain import SourceStatus, TaskType
from finetune_core.errors import InvalidInputError, NotFoundError
from finetune_core.export.base import writes_task
from finetune_core.services import (
    agents,
    answering,
    attachments,
    chats,
    curation,
    documents,
    exports,
    jobs,
    judging,
    projects,
)
from finetune_core.services import sources as source_service
from finetune_core.services.pipeline import PIPELINE, PipelineStep, pipeline_params

DEMO_PROJECT = "demo"
DEMO_QUESTION = "What does a healthy sourdough starter smell like?"
DEMO_DOCUMENT = "sourdough-handbook.pdf"
DEMO_AGENT = "Demo baker"
DEFAULT_TARGET = 300


def _find_samples(explicit: Path | None) -> Path:
    candidates = [explicit] if explicit else [Path.cwd() / "samples", *(p / "samples" for p in Path(__file__).parents)]
    for candidate in candidates:
        if candidate and candidate.is_dir() and any(candidate.iterdir()):
            return candidate
    raise InvalidInputError("no sample documents found: run from the repository or pass --samples DIR")


@click.command()
@click.option("--samples", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder of documents (default: the repository's samples/).")
@click.option("--target", type=int, default=None,
              help=f"Examples to generate [default: {DEFAULT_TARGET}; {TRAINING_TARGET} with --train].")
@click.option("--task-type", default="qa", show_default=True)
@click.option("--train/--no-train", default=False, show_default=True,
              help="Then train a LoRA of the embedded model on the dataset, on this machine (a few minutes on a CPU), "
                   "and ask the base and the fine-tune the same question.")
@handle_errors
def demo(samples: Path | None, target: int | None, task_type: str, train: bool) -> None:
    """Run the whole pipeline on the sample documents with the offline generator and export every format; the
    embedded model answers a question from them; with --train, a LoRA of it is trained and compared."""
    workspace = state().workspace
    folder = _find_samples(samples)
    target = target or (TRAINING_TARGET if train else DEFAULT_TARGET)
    with contextlib.suppress(NotFoundError):
        projects.delete_project(workspace, DEMO_PROJECT)  # a rerun starts clean
    project = projects.create_project(workspace, DEMO_PROJECT, task_type=task_type,
                                      description=f"Demo on {folder}", config={"num_examples_target": target})
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith((".", "make_"))):
        source_service.add_path(workspace, project.id, path)
    job = run_job(PIPELINE, project.id, "Pipeline", **pipeline_params(list(PipelineStep), generator="extractive"))
    steps = job.result_summary["steps"]
    if project.task_type is TaskType.PREFERENCE:
        judging.rank_by_grounding(workspace, project.id)  # offline, as the demo has no judge model
    paths = {}
    for name in workspace.plugins.exporters.names():
        if writes_task(workspace.plugins.exporters.get(name), project.task_type):
            result = exports.export_dataset(workspace, project.id, name)
            paths[name] = (str(result.path), result.count)

    loaded, _ = source_service.list_sources(workspace, project.id)
    per_source: dict[str, list[int]] = {}
    for example in curation.list_examples(workspace, project.id, limit=None)[0]:
        counts = per_source.setdefault(example.source_id or "", [0, 0])
        counts[0 if example.is_valid else 1] += 1
    rows = [(s.name, s.type.value, s.status.value, per_source.get(s.id, [0, 0])[0], per_source.get(s.id, [0, 0])[1],
             s.error_message or "") for s in loaded]
    stats = curation.stats(workspace, project.id)
    chat = _chat(folder)
    trained = train_and_compare(workspace, project.id) if train else None
    emit({"project_id": project.id, "chat": chat, "training": trained, "steps": steps,
          "generation": {**steps["generate"], **steps["curate"]}, "stats": stats,
          "exports": {name: {"path": path, "count": count} for name, (path, count) in paths.items()}},
         make_table("Demo: sources", ["source", "type", "status", "valid examples", "invalid", "error"], rows))
    settle("Demo", inputs=[s.status is SourceStatus.READY for s in loaded])  # a sample that did not load: exit 1
    if not state().as_json:
        split_rows = [(split, v["count"], v["avg_tokens"]) for split, v in stats["by_split"].items()]
        emit(None, make_table(f"Dataset: {stats['valid']} valid of {stats['total']}",
                              ["split", "examples", "avg tokens"], split_rows))
        emit(None, make_table("Exports", ["format", "examples", "path"],
                              [(name, count, path) for name, (path, count) in paths.items()]))
    if trained is not None and not state().as_json:
        emit(None, result_table(trained["evaluation"]))
        emit(None, make_table(f"Fine-tune {trained['model_id']} (train loss {trained['train_loss']})",
                              ["model", "answer"], [("reference", trained["reference"]),
                                                    *trained["answers"].items()]),
             message=f"Question from the training set: {trained['question']}")
    if chat is not None and not state().as_json:
        cited = ", ".join(f"{c['document_name']} p.{c['page']}" if c["page"] else c["document_name"]
                          for c in chat["sources"])
        emit(None, message=f"Chat ({chat['model']}): {chat['question']}\n  {chat['answer']}\n  "
                           f"sources: {cited or 'none'}")


def _chat(folder: Path) -> dict[str, Any] | None:
    """An agent with a sample attached answers a question about it with the default chat model (the embedded one),
    citing the passage it drew on; None where that model is not installed."""
    workspace = state().workspace
    document = folder / DEMO_DOCUMENT
    if workspace.settings.default_chat_model not in workspace.plugins.chat_models or not document.is_file():
        return None
    for earlier in agents.my_agents(workspace, None, limit=agents.MAX_AGENTS)[0]:
        if earlier.name == DEMO_AGENT:  # a rerun starts clean
            agents.delete_agent(workspace, earlier.id, None)
    agent = agents.create_agent(workspace, None, name=DEMO_AGENT, temperature=0,
                                system_prompt="You answer questions about baking from the passages given.")
    documents.add_document(workspace, None, document.name, document.read_bytes(), entity_type="agent",
                           entity_id=agent.id)
    for job in jobs.list_jobs(workspace, type=attachments.INDEX_JOB, limit=None)[0]:
        jobs.wait_for(workspace, job.id)
    chat = chats.create_chat(workspace, None, agent_id=agent.id, title="Demo")
    _, answer = answering.send_message(workspace, chat.id, None, DEMO_QUESTION)
    return {"question": DEMO_QUESTION, "answer": answer.content, "model": answer.model,
            "sources": [citation.model_dump() for citation in answer.sources]}
