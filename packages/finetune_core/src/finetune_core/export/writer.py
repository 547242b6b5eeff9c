"""Write an export as JSONL, streaming: one example in memory at a time, no partial file on failure."""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from finetune_core.domain import Example
from finetune_core.export.base import Exporter, ExportOptions

_BUFFER_SIZE = 1 << 20
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class ExportResult:
    path: Path
    count: int  # records written
    bytes: int  # size of the file


def iter_export_lines(
    exporter: Exporter, examples: Iterable[Example], options: ExportOptions
) -> Iterator[bytes]:
    """Each record as one UTF-8 JSON line ending in a newline, e.g. for an HTTP streaming response."""
    for record in exporter.records(examples, options):
        yield _ENCODER.encode(record).encode("utf-8") + b"\n"


def write_export(
    exporter: Exporter, examples: Iterable[Example], path: Path, options: ExportOptions
) -> ExportResult:
    """Write to a temporary file beside `path`, then rename it over `path` once complete.

    Readers see either the previous file or the whole new one; on any error the
    temporary file is removed and the error propagates.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    count = size = 0
    try:
        # "xb": a fresh file with the usual umask-derived permissions, never someone else's
        with open(temporary, "xb", buffering=_BUFFER_SIZE) as handle:
            for line in iter_export_lines(exporter, examples, options):
                handle.write(line)
                count += 1
                size += len(line)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
    _fsync_directory(path.parent)
    return ExportResult(path=path, count=count, bytes=size)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable; not every platform can open a directory, which is fine."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
