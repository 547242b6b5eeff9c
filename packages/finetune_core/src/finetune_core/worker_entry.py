"""The entry point of out-of-process workers: a job run by id in a workspace opened for it.

Above the workspace (it opens one), beside the CLI: `finetune_core.jobs` runs a job in a workspace it is given.
"""

from __future__ import annotations

from finetune_core.jobs.execute import execute_job
from finetune_core.workspace import Workspace


def execute_job_in(database_url: str, files_root: str, job_id: str) -> str:
    """Entry point for out-of-process workers: JSON-serialisable arguments only; returns the job's final status."""
    workspace = Workspace.open(files_root, database_url=database_url)
    try:
        return execute_job(workspace, job_id).value
    finally:
        workspace.close()
