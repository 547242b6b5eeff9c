"""The secret kept in a workspace: made once, whole, even when many processes start at the same moment."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from finetune_core.keys.cipher import workspace_secret

STARTERS = 12


def _read(folder: str, barrier: multiprocessing.synchronize.Barrier, results: multiprocessing.queues.Queue) -> None:
    barrier.wait()  # all at once, like a server's workers after the fork
    results.put(workspace_secret(Path(folder)))


def test_processes_starting_together_all_get_the_one_whole_secret(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(STARTERS), context.Queue()
    starters = [context.Process(target=_read, args=(str(tmp_path), barrier, results)) for _ in range(STARTERS)]
    for process in starters:
        process.start()
    secrets = [results.get(timeout=120) for _ in starters]
    for process in starters:
        process.join(120)
    assert len(set(secrets)) == 1 and len(secrets[0]) >= 32
    [kept] = tmp_path.iterdir()  # no draft left behind
    assert kept.read_text() == secrets[0] and kept.stat().st_mode & 0o777 == 0o600
    assert workspace_secret(tmp_path) == secrets[0]
