"""A dataset's export as a stream of lines (an HTTP download), in constant memory, in any installed format.

    stream = open_export(workspace, project_id, resolve_exporter(workspace, "jsonl", "anthropic"))
    for line in stream.lines: ...        # one JSON record a line; the database is read as lines go out

Everything that can fail (the project, the format, an exporter that refuses to write anything, such as
`dpo` without one ranked pair: NO_PREFERENCE_PAIRS) fails in `open_export`, before the first line: it makes
that line before returning, so an HTTP caller answers with an error status rather than a broken stream. The
rest is made as it is read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from finetune_core.errors import UnknownPluginError
from finetune_core.export.base import Exporter, ExportOptions
from finetune_core.export.writer import iter_export_lines
from finetune_core.services.exports import exported_examples
from finetune_core.sources.names import sanitize_filename

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort

FILE_FORMAT = "jsonl"  # what every built-in exporter writes: `format=jsonl` then picks the exporter by provider
DEFAULT_PROVIDER = "openai"
MEDIA_TYPES = {"jsonl": "application/jsonl"}


@dataclass(frozen=True)
class ExportStream:
    exporter: str
    filename: str
    media_type: str
    lines: Iterator[bytes]


class _StartedLines(Iterator[bytes]):
    """The first line, made already, then the rest; `close` ends the rest (and its unit of work) even unread."""

    def __init__(self, first: bytes | None, rest: Iterator[bytes]) -> None:
        self._first, self._rest = first, rest

    def __next__(self) -> bytes:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        return next(self._rest)

    def close(self) -> None:
        self._first = None
        close = getattr(self._rest, "close", None)
        if close is not None:
            close()


def resolve_exporter(workspace: WorkspacePort, format: str | None = None, provider: str | None = None) -> Exporter:
    """`format` an exporter's name (alpaca, sharegpt, openai...), or `jsonl` (the default) with `provider`
    naming it (openai by default), as fintune-platform's `?format=jsonl&provider=anthropic` does."""
    registry = workspace.plugins.exporters
    name = (provider or DEFAULT_PROVIDER) if format in (None, "", FILE_FORMAT) else format
    if name not in registry:
        known = ", ".join(registry.names())
        raise UnknownPluginError(f"unknown export format '{name}' (installed: {known}; or jsonl with provider=...)",
                                 format=format, provider=provider, formats=registry.names())
    exporter: Exporter = registry.get(name)
    return exporter


def open_export(workspace: WorkspacePort, project_id: str, exporter: Exporter, *, split: str | None = None,
                include_metadata: bool = True) -> ExportStream:
    """The valid train/eval examples (optionally one split) of the project, as `exporter` writes them."""
    with workspace.unit_of_work() as uow:
        project = uow.projects.get(project_id)
    options = ExportOptions(system_prompt=project.config.system_prompt, include_metadata=include_metadata)

    def lines() -> Iterator[bytes]:
        with workspace.unit_of_work() as uow:
            examples = exported_examples(uow, project.id, split)
            yield from iter_export_lines(exporter, examples, options)

    made = lines()
    first = next(made, None)  # what the exporter refuses before its first line is raised here
    suffix = f"-{split}" if split else ""
    filename = sanitize_filename(f"{project.name}-{exporter.name}{suffix}.{exporter.file_extension}")
    return ExportStream(exporter=exporter.name, filename=filename,
                        media_type=MEDIA_TYPES.get(exporter.file_extension, "application/octet-stream"),
                        lines=_StartedLines(first, made))
