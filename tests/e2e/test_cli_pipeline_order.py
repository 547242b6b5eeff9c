"""The real `finetune` executable refuses a step whose project is still loading: one clear line, exit status 1.

The library plays the other side: it adds a file without loading it, then queues the ingest job that a web
server would have queued for a worker that has not reached it yet.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from finetune_core import Job, JobStatus, Workspace
from finetune_core.services import contents
from finetune_core.services import jobs as jobs_service
from kits.cli import finetune, finetune_json
from kits.samples import SAMPLES

pytestmark = pytest.mark.skipif(shutil.which("finetune") is None, reason="the finetune console script is not installed")

GUIDE = SAMPLES / "guide-du-levain.md"


class QueueOnly:
    """A runner that keeps what it is given and runs nothing: a queue no worker has reached yet."""

    def submit(self, workspace: Workspace, job: Job) -> None:
        return None

    def shutdown(self, wait: bool = True) -> None:
        return None


def test_cli_steps_are_refused_while_sources_are_not_loaded_and_run_once_they_are(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    project_id = finetune_json(ws, "project", "create", "handbook")["id"]
    library = Workspace.open(ws, runner=QueueOnly())
    try:
        source = library.add_file(project_id, GUIDE)  # added, never loaded
        forgotten = finetune(ws, "chunk", "--project", "handbook", check=False)
        assert forgotten.returncode == 1 and "Traceback" not in forgotten.stderr
        assert "not loaded yet" in forgotten.stderr and GUIDE.name in forgotten.stderr

        loading = contents.ingest(library, project_id, [source])  # queued; no worker has reached it
        assert loading is not None and loading.status is JobStatus.QUEUED
        for step in (["chunk"], ["generate", "--preview", "3"], ["export", "--format", "openai"]):
            refused = finetune(ws, "--json", *step, "--project", "handbook", check=False)
            assert refused.returncode == 1, refused.stdout
            error = json.loads(refused.stdout)["error"]
            assert error["error_code"] == "SOURCES_LOADING" and loading.id in error["detail"], error

        jobs_service.cancel_job(library, loading.id)
        assert finetune_json(ws, "ingest", "--project", "handbook", str(GUIDE))["sources"][0]["status"] == "ready"
        chunked = finetune_json(ws, "chunk", "--project", "handbook")
        assert chunked["sources"] == 1 and chunked["chunks"] >= 1
    finally:
        library.close()
