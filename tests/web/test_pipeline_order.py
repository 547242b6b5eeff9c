"""The pipeline's order through the REST app: steps started while an upload is still loading answer 409.

The app's jobs run on two threads, as `finetune serve` runs them without Redis (the other web tests run them
inline), and a throwaway loader holds the load of the second of four uploaded documents until the test releases
it (tests/kits/held_loads.py): the upload and the chunking that follows it at once race the same way
every time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from finetune_core.domain import JobStatus
from finetune_core.jobs import InProcessRunner
from finetune_core.services import jobs
from finetune_core.testing import open_test_workspace
from finetune_core.workspace import Workspace
from finetune_web.settings import WebSettings
from flask.testing import FlaskClient
from kits.held_loads import HELD, WAIT_S, HeldLoad, four_documents
from kits.web_api import Account, assert_error
from kits.web_uploads import upload_files


@pytest.fixture
def workspace(web_settings: WebSettings, held: HeldLoad) -> Iterator[Workspace]:
    """The app's workspace, its jobs on two threads of this process."""
    opened = open_test_workspace(web_settings.workspace, runner=InProcessRunner(2))
    try:
        yield opened
    finally:
        held.release.set()  # never leave a runner thread held: close waits for it
        opened.close()


@pytest.fixture
def project_id(client: FlaskClient, alice: Account) -> str:
    return str(client.post("/api/projects", json={"name": "race"}, headers=alice.headers).get_json()["id"])


def ended(workspace: Workspace, job_id: str) -> dict[str, Any]:
    """The job once it has ended (polled in the database, with a generous deadline)."""
    return jobs.wait_for(workspace, job_id, timeout_s=WAIT_S, poll_s=0.05).model_dump(mode="json")


def test_steps_started_while_the_upload_loads_answer_409_then_chunking_takes_every_file(
        client: FlaskClient, alice: Account, project_id: str, workspace: Workspace, held: HeldLoad) -> None:
    uploaded = upload_files(client, alice, project_id, *((data, name) for name, data in four_documents()))
    assert uploaded.status_code == 201, uploaded.get_json()
    ingest_id = uploaded.get_json()["job_id"]
    file_ids = [file["id"] for file in uploaded.get_json()["files"]]
    assert held.entered.wait(WAIT_S), "the ingest job never reached the held document"

    refused = assert_error(client.post(f"/api/projects/{project_id}/chunks/generate", json={}, headers=alice.headers),
                           409, "SOURCES_LOADING")
    assert refused["context"]["blocking_job_ids"] == [ingest_id]
    assert refused["context"]["blocking_jobs"] == [{"id": ingest_id, "type": "ingest", "status": "running"}]
    assert {source["name"] for source in refused["context"]["sources"]} == {HELD, "care.docx", "guide.md"}
    assert {source["id"] for source in refused["context"]["sources"]} == set(file_ids[1:])
    assert ingest_id in refused["detail"] and "still loading" in refused["detail"]

    for path, body in ((f"/api/projects/{project_id}/dataset/preview", {"num_examples": 3}),
                       (f"/api/projects/{project_id}/dataset/generate", {"generator": "extractive"}),
                       ("/api/datasets", {"project_id": project_id, "name": "early", "content_ids": file_ids[:1]})):
        again = assert_error(client.post(path, json=body, headers=alice.headers), 409, "SOURCES_LOADING")
        assert again["context"]["blocking_job_ids"] == [ingest_id]
    assert_error(client.get(f"/api/datasets/{project_id}", headers=alice.headers), 404)  # the refused one: nothing
    listed = client.get(f"/api/projects/{project_id}/jobs", headers=alice.headers).get_json()
    assert [job["id"] for job in listed["items"]] == [ingest_id]  # no refused step left a job behind

    held.release.set()
    assert ended(workspace, ingest_id)["status"] == JobStatus.SUCCESS
    started = client.post(f"/api/projects/{project_id}/chunks/generate", json={}, headers=alice.headers)
    assert started.status_code == 202, started.get_json()
    chunked = ended(workspace, started.get_json()["job_id"])
    assert chunked["status"] == JobStatus.SUCCESS, chunked["error_message"]
    assert chunked["result_summary"]["sources"] == 4
    chunks = client.get(f"/api/projects/{project_id}/chunks?limit=500", headers=alice.headers).get_json()
    indexes: dict[str, list[int]] = {}
    for chunk in chunks["items"]:
        indexes.setdefault(chunk["source_file_id"], []).append(chunk["chunk_index"])
    assert set(indexes) == set(file_ids)  # every uploaded document was chunked...
    assert all(sorted(found) == list(range(len(found))) for found in indexes.values())  # ...each once
    assert chunks["total"] == chunked["result_summary"]["chunks"]
