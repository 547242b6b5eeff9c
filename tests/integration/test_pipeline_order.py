"""The pipeline's order: a step never runs on sources still loading, whether it is started then or was queued before.

A throwaway loader plugin holds the load of one Markdown file until the test releases it, so the race of an
upload and a chunking started at once happens the same way every time: four documents, the ingest job stopped on
the second, jobs on the in-process thread runner.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from finetune_core import Job, JobStatus, Workspace
from finetune_core.domain import utcnow
from finetune_core.errors import PipelineBusyError
from finetune_core.jobs import InProcessRunner, execute_job
from finetune_core.services import contents, dataset_jobs, datasets
from finetune_core.services import jobs as jobs_service
from finetune_core.testing import open_test_workspace
from kits.held_loads import HELD, WAIT_S, HeldLoad, QueueOnly, four_documents
from kits.samples import SAMPLE_FILES


@pytest.fixture
def threaded(tmp_path: Path, held: HeldLoad) -> Iterator[Workspace]:
    """A workspace whose jobs run on two threads of this process, as `finetune serve` runs them without Redis."""
    workspace = open_test_workspace(tmp_path / "ws", runner=InProcessRunner(2))
    try:
        yield workspace
    finally:
        held.release.set()  # never leave a runner thread held: close waits for it
        workspace.close()


def start_upload(workspace: Workspace, held: HeldLoad, project_id: str) -> tuple[list[str], Job]:
    """Upload the four documents as the REST route does, and wait until their ingest job is held on the second."""
    added = contents.add_files(workspace, project_id, four_documents())
    ingest = contents.ingest(workspace, project_id, added)
    assert ingest is not None
    assert held.entered.wait(WAIT_S), "the ingest job never reached the held document"
    return [source.id for source in added], ingest


def chunk_indexes(workspace: Workspace, project_id: str) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for chunk in workspace.chunks(project_id, limit=None):
        found.setdefault(chunk.source_id, []).append(chunk.chunk_index)
    return found


def assert_every_document_chunked_once(workspace: Workspace, project_id: str, source_ids: list[str],
                                       chunked: Job) -> None:
    assert chunked.status is JobStatus.SUCCESS
    assert chunked.result_summary["sources"] == len(source_ids)
    indexes = chunk_indexes(workspace, project_id)
    assert set(indexes) == set(source_ids)
    for source_indexes in indexes.values():
        assert sorted(source_indexes) == list(range(len(source_indexes)))  # no chunk twice, none missing
    assert sum(len(source_indexes) for source_indexes in indexes.values()) == chunked.result_summary["chunks"]


def test_steps_started_while_an_upload_loads_are_refused_then_chunking_takes_every_document(
        threaded: Workspace, held: HeldLoad, tmp_path: Path) -> None:
    ws = threaded
    project = ws.create_project("race")
    source_ids, ingest = start_upload(ws, held, project.id)

    with pytest.raises(PipelineBusyError) as refused:
        dataset_jobs.start_chunking(ws, project.id)
    error = refused.value
    assert error.error_code == "SOURCES_LOADING"
    assert error.context["blocking_job_ids"] == [ingest.id]
    assert error.context["blocking_jobs"] == [{"id": ingest.id, "type": "ingest", "status": "running"}]
    still_loading = {source["name"]: source["status"] for source in error.context["sources"]}
    assert still_loading == {HELD: "processing", "care.docx": "pending", "guide.md": "pending"}
    assert error.context["source_count"] == 3
    assert ingest.id in error.message and HELD in error.message and "still loading" in error.message

    later_steps: list[Callable[[], object]] = [
        lambda: dataset_jobs.start_generation(ws, project.id, preview=True),
        lambda: dataset_jobs.start_generation(ws, project.id, generator="extractive"),
        lambda: ws.chunk(project.id),
        lambda: ws.preview(project.id, 3),
        lambda: ws.judge(project.id, "any-chat-model"),
        lambda: ws.curate(project.id),
        lambda: ws.export(project.id, "openai", out=tmp_path / "early.jsonl"),
        lambda: datasets.create_dataset(ws, None, name="early", project_id=project.id, content_ids=source_ids[:1]),
    ]
    for start in later_steps:
        with pytest.raises(PipelineBusyError) as again:
            start()
        assert again.value.error_code == "SOURCES_LOADING" and again.value.context["blocking_job_ids"] == [ingest.id]
    assert [job.id for job in jobs_service.list_jobs(ws, project_id=project.id)[0]] == [ingest.id]  # none stored
    assert datasets.list_datasets(ws, None, project_id=project.id)[1] == 0  # the refused dataset left nothing
    assert not (tmp_path / "early.jsonl").exists()

    held.release.set()
    assert jobs_service.wait_for(ws, ingest.id, timeout_s=WAIT_S).status is JobStatus.SUCCESS
    chunked = ws.chunk(project.id)
    assert_every_document_chunked_once(ws, project.id, source_ids, chunked)
    assert [job.type for job in jobs_service.list_jobs(ws, project_id=project.id)[0]] == ["chunk", "ingest"]


def test_a_chunking_queued_before_the_upload_fails_when_it_runs_with_the_same_message(
        threaded: Workspace, held: HeldLoad, tmp_path: Path) -> None:
    queue = QueueOnly()
    api = open_test_workspace(tmp_path / "ws", runner=queue)  # the same workspace, seen by a web process
    try:
        project = api.create_project("queued first")
        queued = dataset_jobs.start_chunking(api, project.id)  # nothing is loading: accepted, and it waits in line
        assert queue.submitted == [queued.id] and queued.status is JobStatus.QUEUED
        source_ids, ingest = start_upload(threaded, held, project.id)

        assert execute_job(threaded, queued.id) is JobStatus.FAILED  # a worker reaches it now
        failed = jobs_service.get_job(threaded, queued.id)
        assert failed.error_message is not None
        assert "still loading" in failed.error_message and ingest.id in failed.error_message
        assert HELD in failed.error_message
        assert chunk_indexes(threaded, project.id) == {}  # it chunked nothing on half-loaded sources

        held.release.set()
        assert jobs_service.wait_for(threaded, ingest.id, timeout_s=WAIT_S).status is JobStatus.SUCCESS
        chunked = threaded.chunk(project.id)
        assert_every_document_chunked_once(threaded, project.id, source_ids, chunked)
    finally:
        api.close()


def test_a_source_added_but_never_loaded_holds_the_later_steps_until_it_is(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project = ws.create_project("forgotten")
    source = ws.add_file(project.id, SAMPLE_FILES["markdown"])
    with pytest.raises(PipelineBusyError) as refused:
        ws.chunk(project.id)
    assert refused.value.error_code == "SOURCES_NOT_LOADED"
    assert refused.value.context["sources"] == [{"id": source.id, "name": source.name, "status": "pending"}]
    assert refused.value.context["blocking_jobs"] == []
    assert "not loaded yet" in refused.value.message and source.name in refused.value.message
    with pytest.raises(PipelineBusyError, match="not loaded yet"):
        ws.generate(project.id)

    ws.ingest(project.id)
    assert ws.chunk(project.id).result_summary["sources"] == 1


def test_a_step_waits_for_the_earlier_step_and_a_load_for_no_one(tmp_path: Path) -> None:
    queue = QueueOnly()
    ws = open_test_workspace(tmp_path / "ws", runner=queue)
    try:
        project = ws.create_project("in line")
        chunking = dataset_jobs.start_chunking(ws, project.id)  # queued, no worker yet
        with pytest.raises(PipelineBusyError) as refused:
            dataset_jobs.start_generation(ws, project.id)
        assert refused.value.error_code == "PIPELINE_BUSY"
        assert refused.value.context["blocking_jobs"] == [{"id": chunking.id, "type": "chunk", "status": "queued"}]
        assert "earlier step" in refused.value.message and chunking.id in refused.value.message

        source = ws.add_file(project.id, SAMPLE_FILES["markdown"])
        loading = contents.ingest(ws, project.id, [source])  # a load never waits for a later step
        assert loading is not None and loading.status is JobStatus.QUEUED
        with pytest.raises(PipelineBusyError) as both:
            dataset_jobs.start_generation(ws, project.id, preview=True)
        assert both.value.error_code == "SOURCES_LOADING"
        assert both.value.context["blocking_job_ids"] == [chunking.id, loading.id]

        jobs_service.cancel_job(ws, chunking.id)
        jobs_service.cancel_job(ws, loading.id)
        with pytest.raises(PipelineBusyError, match="not loaded yet"):  # the cancelled load left its source pending
            dataset_jobs.start_generation(ws, project.id)
    finally:
        ws.close()


def test_an_abandoned_load_ends_at_its_cancel_and_stops_holding_up_the_project(tmp_path: Path) -> None:
    ws = open_test_workspace(tmp_path / "ws", runner=QueueOnly())
    try:
        project = ws.create_project("abandoned")
        source = ws.add_file(project.id, SAMPLE_FILES["markdown"])
        loading = contents.ingest(ws, project.id, [source])
        assert loading is not None
        with ws.unit_of_work() as uow:  # a worker took it and died: its heartbeat is an hour old
            assert uow.jobs.claim(loading.id, stale_before=utcnow())
            uow.jobs.update(loading.id, heartbeat_at=utcnow() - timedelta(hours=1))
        with pytest.raises(PipelineBusyError) as refused:
            dataset_jobs.start_chunking(ws, project.id)
        assert refused.value.context["blocking_jobs"] == [{"id": loading.id, "type": "ingest", "status": "running"}]

        assert jobs_service.cancel_job(ws, loading.id).status is JobStatus.CANCELLED  # no worker left to see a flag
        with pytest.raises(PipelineBusyError) as after:
            dataset_jobs.start_chunking(ws, project.id)
        assert after.value.error_code == "SOURCES_NOT_LOADED" and after.value.context["blocking_jobs"] == []
    finally:
        ws.close()


def test_a_dataset_build_loads_its_own_pending_contents_but_not_over_another_one(
        finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project = ws.create_project("build")
    chosen = ws.add_file(project.id, SAMPLE_FILES["markdown"])  # both added, neither loaded
    other = ws.add_file(project.id, SAMPLE_FILES["docx"])
    with pytest.raises(PipelineBusyError) as refused:
        datasets.create_dataset(ws, None, name="half", project_id=project.id, content_ids=[chosen.id])
    assert refused.value.error_code == "SOURCES_NOT_LOADED"
    assert [source["id"] for source in refused.value.context["sources"]] == [other.id]

    created, job = datasets.create_dataset(ws, None, name="whole", project_id=project.id,
                                           content_ids=[chosen.id, other.id], num_examples_target=4)
    assert created.status == "processing" and job is not None
    assert job.status is JobStatus.SUCCESS, job.error_message
    assert job.result_summary["loaded"] == 2
    assert {source.status.value for source in ws.sources(project.id)} == {"ready"}
    assert datasets.get_dataset(ws, project.id).pairs_count >= 4
