"""A page of projects gets its stats in a few grouped queries, equal to the counts read project by project."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from finetune_core.domain import Chunk, Example, Job, JobStatus, Message, Source, SourceType, utcnow
from finetune_core.services import stats
from finetune_core.testing import open_test_workspace
from finetune_core.workspace import Workspace

MESSAGES = [Message(role="user", content="q"), Message(role="assistant", content="a")]
# per project: sources, chunks per source, examples, job statuses oldest first
SHAPES = [(0, 0, 0, []), (1, 3, 2, ["success"]), (3, 1, 5, ["success", "failed", "running"]), (2, 0, 0, ["queued"])]


def fill(workspace: Workspace) -> list[str]:
    ids = []
    for number, (sources, chunks, examples, statuses) in enumerate(SHAPES):
        project = workspace.create_project(f"p{number}")
        ids.append(project.id)
        with workspace.unit_of_work() as uow:
            for index in range(sources):
                source = uow.sources.add(Source(project_id=project.id, name=f"s{index}.txt", type=SourceType.TEXT))
                uow.chunks.replace(source.id, [Chunk(project_id=project.id, source_id=source.id, chunk_index=i,
                                                      content="x", token_count=1) for i in range(chunks)])
            uow.examples.add([Example(project_id=project.id, request_key=f"gen:{number}:{index}", messages=MESSAGES)
                               for index in range(examples)])
            start = utcnow()
            for age, status in enumerate(statuses):  # the last one is the newest
                uow.jobs.add(Job(project_id=project.id, type="ingest", status=JobStatus(status),
                                 created_at=start + timedelta(seconds=age)))
    return ids


def one_by_one(workspace: Workspace, project_id: str) -> dict[str, object]:
    with workspace.unit_of_work() as uow:
        jobs, _ = uow.jobs.search(project_id=project_id, limit=1)
        return {"file_count": uow.sources.search(project_id, limit=0)[1], "chunk_count": uow.chunks.count(project_id),
                "example_count": uow.examples.count(project_id),
                "last_job_status": jobs[0].status.value if jobs else None}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_page_stats_equal_the_counts_of_each_project(tmp_path: Path, backend: str,
                                                     request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("postgres_url") if backend == "postgresql" else None
    with open_test_workspace(tmp_path, database_url=url) as workspace:
        ids = fill(workspace)
        page = stats.projects_stats(workspace, ids)
        assert page == {project_id: one_by_one(workspace, project_id) for project_id in ids}
        assert [page[project_id]["last_job_status"] for project_id in ids] == [None, "success", "running", "queued"]
        assert [page[project_id]["chunk_count"] for project_id in ids] == [0, 3, 3, 0]
        assert stats.project_stats(workspace, ids[2]) == page[ids[2]]
        assert stats.projects_stats(workspace, []) == {}
