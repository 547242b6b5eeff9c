"""The pipeline commands: ingest, sources, chunk, chunks, generate, stats, export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from finetune_core.cli.common import (
    emit,
    follow_job,
    handle_errors,
    make_table,
    run_job,
    settle,
    settle_requests,
    state,
)
from finetune_core.domain import SourceKind, SourceStatus
from finetune_core.errors import FinetuneError, InvalidInputError
from finetune_core.services import chunks as chunk_service
from finetune_core.services import curation, exports, pipeline_order, projects
from finetune_core.services import sources as source_service


class ConcurrencyType(click.ParamType):  # type: ignore[type-arg]  # generic in some click versions only
    """A positive number of requests in flight, or `auto`."""

    name = "N|auto"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int | str:
        if isinstance(value, int):
            return value
        if value == "auto":
            return "auto"
        try:
            number = int(value)
        except ValueError:
            self.fail(f"{value!r} is neither a number nor auto", param, ctx)
        if not 1 <= number <= 1024:
            self.fail(f"{number} is not between 1 and 1024", param, ctx)
        return number


CONCURRENCY = ConcurrencyType()

project_option = click.option("--project", "project_ref", required=True, help="Project name or id.")


@click.command()
@project_option
@click.argument("items", nargs=-1, required=True)
@click.option("--kind", type=click.Choice([k.value for k in SourceKind]), default=None,
              help="Force raw_doc or dataset_upload (default: from the detected file type).")
@handle_errors
def ingest(project_ref: str, items: tuple[str, ...], kind: str | None) -> None:
    """Add files, folders and URLs to a project and load them."""
    workspace = state().workspace
    found = projects.get_project(workspace, project_ref)
    added, refused = [], []
    for item in items:
        try:
            if "://" in item:
                added.append(source_service.add_url(workspace, found.id, item))
                continue
            path = Path(item)
            files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            if not files:
                refused.append((item, "the folder holds no file"))
            for file in files:
                try:
                    added.append(source_service.add_path(workspace, found.id, file, kind=kind))
                except FinetuneError as exc:
                    refused.append((str(file), exc.message))
        except FinetuneError as exc:
            refused.append((item, exc.message))
        except OSError as exc:
            refused.append((item, f"cannot read: {exc.strerror or exc}"))
    # nothing accepted, nothing to load: the refusals are the whole answer
    job = follow_job("ingest", found.id, "Loading sources", source_ids=[s.id for s in added]) if added else None
    loaded, _ = source_service.list_sources(workspace, found.id)
    by_id = {s.id: s for s in loaded}
    rows = [(s.name, s.type.value, by_id[s.id].status.value, by_id[s.id].error_message or "") for s in added]
    rows += [(name, "-", "refused", why) for name, why in refused]
    emit({"job": job, "sources": [by_id[s.id] for s in added], "refused": dict(refused)},
         make_table("Ingested", ["source", "type", "status", "error"], rows))
    settle("Loading sources", job,
           inputs=[by_id[s.id].status is SourceStatus.READY for s in added] + [False] * len(refused))


@click.command()
@project_option
@handle_errors
def sources(project_ref: str) -> None:
    """List a project's sources with their status and error."""
    items, total = source_service.list_sources(state().workspace, project_ref)
    rows = [(s.name, s.id, s.kind.value, s.type.value, s.size_bytes, s.status.value, s.error_message or "")
            for s in items]
    emit({"items": items, "total": total},
         make_table(f"Sources ({total})", ["name", "id", "kind", "type", "bytes", "status", "error"], rows))


@click.command()
@project_option
@click.option("--size", type=int, default=None, help="Chunk size in tokens (default: project config, 512).")
@click.option("--overlap", type=int, default=None, help="Overlap in tokens (default: project config, 50).")
@click.option("--chunker", default=None, help="Chunker name (token, markdown-heading, or a plugin's).")
@handle_errors
def chunk(project_ref: str, size: int | None, overlap: int | None, chunker: str | None) -> None:
    """Cut the project's documents into token-bounded chunks."""
    found = projects.get_project(state().workspace, project_ref)
    job = run_job("chunk", found.id, "Chunking", size=size, overlap=overlap, chunker=chunker)
    summary = job.result_summary
    emit(summary, message=f"{summary['chunks']} chunks from {summary['sources']} documents "
                          f"({summary['chunk_size_tokens']} tokens, overlap {summary['chunk_overlap_tokens']})")


@click.command()
@project_option
@click.option("--source", "source_id", default=None, help="Only this source's chunks.")
@click.option("--limit", default=50, show_default=True)
@click.option("--offset", default=0)
@handle_errors
def chunks(project_ref: str, source_id: str | None, limit: int, offset: int) -> None:
    """List chunks with their source, pages, token count and text."""
    workspace = state().workspace
    items, total = chunk_service.list_chunks(workspace, project_ref, source_id=source_id, limit=limit, offset=offset)
    rows = [(c.metadata.get("source_name", c.source_id), c.chunk_index,
             f"{c.page_start}-{c.page_end}" if c.page_start else "", c.token_count,
             c.content[:160].replace("\n", " ") + ("…" if len(c.content) > 160 else "")) for c in items]
    emit({"items": items, "total": total, "limit": limit, "offset": offset},
         make_table(f"Chunks ({total})", ["source", "#", "pages", "tokens", "text"], rows))


@click.command()
@project_option
@click.option("--generator", default=None, help="Generator name (default: project config, extractive).")
@click.option("--model", default=None, help="Model name for model-backed generators.")
@click.option("--base-url", default=None, help="Base URL for OpenAI-compatible servers.")
@click.option("--concurrency", type=CONCURRENCY, default=None,
              help="Requests in flight: a number, or auto (found from the server's answers; the default for hosted "
                   "providers, 8 for the others).")
@click.option("--rpm", type=float, default=None, help="Requests per minute at most (paced evenly).")
@click.option("--tpm", type=float, default=None, help="Tokens per minute at most.")
@click.option("--api-key", default=None, help="The provider key (default: `finetune keys set`, then the "
                                               "provider's environment variable).")
@click.option("--preview", "preview_count", type=int, default=None, help="Only generate N preview examples.")
@click.option("--target", type=int, default=None, help="Number of examples wanted (default: project config).")
@click.option("--per-chunk", type=int, default=None, help="Examples asked per chunk and round.")
@click.option("--batch", is_flag=True, default=False,
              help="Send the requests through the provider's batch API (openai, anthropic, mistral, together): "
                   "half the price, answered within 24 hours; the command waits, and a rerun picks up a batch "
                   "already sent.")
@handle_errors
def generate(project_ref: str, generator: str | None, model: str | None, base_url: str | None,
             concurrency: int | str | None, rpm: float | None, tpm: float | None, api_key: str | None,
             preview_count: int | None, target: int | None, per_chunk: int | None, batch: bool) -> None:
    """Generate examples (resumable: a rerun only does what is missing), then validate and split."""
    found = projects.get_project(state().workspace, project_ref)
    settings: dict[str, Any] = {key: value for key, value in
                                {"model": model, "base_url": base_url, "concurrency": concurrency,
                                 "requests_per_minute": rpm, "tokens_per_minute": tpm}.items() if value is not None}
    if batch:
        settings["extra"] = {"batch": True}
    if api_key is not None:
        _key_for_this_process(generator or found.config.generator, api_key)
    if preview_count is not None:
        job = run_job("dataset_preview", found.id, "Preview", num_examples=preview_count, generator=generator,
                      settings=settings)
    else:
        job = run_job("dataset_generate", found.id, "Generating", num_examples_target=target,
                      examples_per_chunk=per_chunk, generator=generator, settings=settings)
    summary = job.result_summary
    usage = summary.get("usage") or {}
    cost = f", about ${usage['cost_usd']:.4f}" if "cost_usd" in usage else ""
    tokens = (f", {usage.get('input_tokens', 0):.0f} input / {usage.get('output_tokens', 0):.0f} output tokens"
              if usage.get("input_tokens") or usage.get("output_tokens") else "")
    emit(summary, message=f"{summary['total_generated']} examples ({summary.get('valid', 0)} valid) "
                          f"from {summary['requests']} requests in {summary['seconds']} s{tokens}{cost}")
    settle_requests(summary)


def _key_for_this_process(generator: str, api_key: str) -> None:
    """Hand --api-key to the generator for this process only: job parameters are stored, and a key must not be."""
    workspace = state().workspace
    provider = workspace.plugins.generators.get(generator).key_provider
    if not provider:
        raise InvalidInputError(f"the {generator} generator takes no API key")
    workspace.session_keys[provider] = api_key


@click.command()
@project_option
@handle_errors
def stats(project_ref: str) -> None:
    """Dataset statistics: counts, tokens per split, validation errors."""
    result = curation.stats(state().workspace, project_ref)
    rows = [(split, v["count"], v["min_tokens"], v["avg_tokens"], v["max_tokens"])
            for split, v in result["by_split"].items()]
    errors = ", ".join(f"{code}: {count}" for code, count in result["validation_errors"].items()) or "none"
    warnings = "".join(f"\n[yellow]Warning:[/] {escape(warning)}" for warning in result["warnings"])
    emit(result, make_table(f"{result['total']} examples, {result['valid']} valid, {result['invalid']} invalid",
                            ["split", "count", "min tokens", "avg tokens", "max tokens"], rows),
         message=f"Validation errors: {errors}{warnings}")


@click.command()
@project_option
@click.option("--format", "format_", default="openai", show_default=True,
              help="Exporter name: openai, anthropic, mistral, alpaca, sharegpt, hf-chat, openai-preference "
                   "and dpo (ranked preference pairs), or a plugin's.")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Output file (default: in the workspace).")
@click.option("--split", type=click.Choice(["train", "eval"]), default=None)
@click.option("--system-prompt", default=None)
@handle_errors
def export(project_ref: str, format_: str, out: Path | None, split: str | None, system_prompt: str | None) -> None:
    """Export the valid examples to a fine-tuning format (streamed)."""
    workspace = state().workspace
    found = projects.get_project(workspace, project_ref)
    pipeline_order.check_step(workspace, found.id, "export")  # not over a dataset still being made
    result = exports.export_dataset(workspace, found.id, format_, out=out, split=split, system_prompt=system_prompt)
    emit({"path": str(result.path), "count": result.count, "bytes": result.bytes},
         message=f"Wrote {result.count} examples to {result.path}")
