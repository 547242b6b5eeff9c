"""Pieces of the pipeline tests: what a workspace holds, projects of small text sources, scripted generators.

A scripted generator (`scripted_generator(name, Script())`) answers from the chunk it is given, with drafts whose
evidence and answer are its sentences; its Script makes it crash, fail some requests, answer garbage or wait.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finetune_core import (
    Example,
    ExampleDraft,
    GenerationRequest,
    GenerationResult,
    Generator,
    Message,
    Workspace,
    hookimpl,
)
from finetune_core.generation.parsing import parse_examples
from finetune_core.services import sources as sources_service
from finetune_core.testing import made_up_text

# --- workspace inspection ----------------------------------------------------------------------------

def stored_files(workspace: Workspace) -> set[str]:
    """Every file under the workspace's file root, relative to it (temporary `.part-` files included)."""
    root = workspace.files.root
    return {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}


def all_examples(workspace: Workspace, project_id: str) -> list[Example]:
    """Every example of the project, previews included."""
    with workspace.unit_of_work() as uow:
        return list(uow.examples.iterate(project_id))


# --- text sources ----------------------------------------------------------------------------------

def add_text_sources(workspace: Workspace, project_id: str, count: int, *, sentences: int = 8) -> list[str]:
    """`count` small text sources of made-up words; returns their ids."""
    return [
        sources_service.add_file(workspace, project_id, f"note-{index:02d}.txt",
                                 made_up_text(index, sentences).encode()).id
        for index in range(count)
    ]


# --- scripted generators -------------------------------------------------------------------------------

_SENTENCE = re.compile(r"[^.!?]+[.!?]")


def grounded_drafts(request: GenerationRequest, count: int) -> list[ExampleDraft]:
    """`count` valid drafts whose evidence and answer are verbatim sentences of the chunk."""
    sentences = [match.group(0).strip() for match in _SENTENCE.finditer(request.chunk.content)]
    sentences = [sentence for sentence in sentences if len(sentence) >= 25] or [request.chunk.content.strip()]
    drafts = []
    for position in range(count):
        sentence = sentences[(request.round * request.n_examples + position) % len(sentences)]
        drafts.append(ExampleDraft(
            messages=[Message(role="user", content=f"What does the note state in point {position + 1}?"),
                      Message(role="assistant", content=sentence)],
            evidence=sentence,
        ))
    return drafts


@dataclass
class Script:
    """How a scripted generator behaves; tests flip these between runs (the 'crash disabled' switch)."""

    seen: list[str] = field(default_factory=list)  # request keys in the order generate_one received them
    # once this many results were returned, one request raises RuntimeError (the others in flight still answer,
    # so no task exception is left unretrieved)
    crash_after: int | None = None
    fail: Callable[[GenerationRequest], bool] | None = None  # answer GenerationResult(error=...) for these
    garbage: str | None = None  # answer this raw model text, parsed with parse_examples
    drafts_per_request: int | None = None  # default: exactly n_examples
    delay_s: float = 0.0
    returned: int = 0
    raised: bool = False

    def keys(self) -> set[str]:
        return set(self.seen)


def scripted_generator(name: str, script: Script) -> type[Generator]:
    class Scripted(Generator):
        async def generate_one(self, request: GenerationRequest) -> GenerationResult:
            script.seen.append(request.key)
            await asyncio.sleep(script.delay_s)
            if script.crash_after is not None and script.returned >= script.crash_after and not script.raised:
                script.raised = True
                raise RuntimeError("simulated crash in the middle of the run")
            script.returned += 1
            if script.fail is not None and script.fail(request):
                return GenerationResult(key=request.key, error="HTTP 429: rate limited by the provider")
            if script.garbage is not None:
                drafts = parse_examples(script.garbage, request.task_type, chunk_text=request.chunk.content)
                return GenerationResult(key=request.key, drafts=drafts, raw_text=script.garbage)
            count = script.drafts_per_request or request.n_examples
            return GenerationResult(key=request.key, drafts=grounded_drafts(request, count))

    Scripted.name = name
    Scripted.__name__ = Scripted.__qualname__ = f"Scripted_{name.replace('-', '_')}"
    return Scripted


class GeneratorPlugin:
    """A throwaway plugin object registering generator classes."""

    def __init__(self, *generators: type[Generator]) -> None:
        self.generators = generators

    @hookimpl
    def finetune_register_generators(self, register: Callable[[Any], None]) -> None:
        for generator in self.generators:
            register(generator)


# --- exported files ----------------------------------------------------------------------------------

def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            yield json.loads(line)
