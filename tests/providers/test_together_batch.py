"""`batch` generation with the `together` generator, through Together AI's Batch API, end to end.

Runs through the core (`ws.generate`, a job) with the `together` generator (the `openai` SDK client's raw
requests) against a fake Together Batch API on 127.0.0.1 in its documented wire format
(kits.fake_together_batches): a whole batch at the batch price; a worker that died mid-poll, one that died
between creating the batch and storing its id, and a creation whose answer was lost (all resumed: nothing
uploaded, created or stored twice); a request the batch failed; answers read in another order than sent;
keys over 64 characters.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from finetune_core import Workspace
from finetune_core.domain import Chunk, Job, JobStatus, TaskType
from finetune_core.generation.base import GenerationRequest, GeneratorSettings
from finetune_core.generation.batch import BatchTicket
from finetune_core.jobs.execute import execute_job
from finetune_core.services import jobs as jobs_service
from finetune_core.services.batch_generation import BatchStore
from finetune_core.testing import open_test_workspace
from finetune_providers.batches import TogetherBatchGenerator
from kits.batch_runs import WorkerDied, die_at_first_poll, messages, open_entries, orphaned_job
from kits.chat_completions import generated, text_project
from kits.fake_batches import BatchScript, batch_server
from kits.fake_together_batches import FakeTogetherBatches
from kits.hosted_providers import HostedServer, Reply, Request

MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
KEY = "tgp_v1_" + "b4tch" * 8
PRICE = {"input": 0.88, "output": 0.88}  # USD per 1M tokens online (not built in: given as Together's users do)
FAST = {"batch_poll_s": 0.01, "batch_poll_max_s": 0.05, "retry_initial_s": 0.01, "retry_max_s": 0.05}
CHUNKS = 6


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOGETHER_API_KEY", KEY)


@pytest.fixture
def crash_workspace(tmp_path: Path) -> Iterator[Workspace]:
    ws = open_test_workspace(tmp_path / "ws", job_stale_after_s=0.01)
    try:
        yield ws
    finally:
        ws.close()


def _project(ws: Workspace, name: str = "notes") -> str:
    return text_project(ws, name, CHUNKS, generator="together", model=MODEL)


def _settings(server: HostedServer) -> dict[str, Any]:
    return {"base_url": server.url, "extra": {"batch": True, "prices": {MODEL: PRICE}, **FAST}}


def _generate(ws: Workspace, project_id: str, server: HostedServer) -> Job:
    return ws.generate(project_id, target=2 * CHUNKS, examples_per_chunk=2, settings=_settings(server))


def _keys(ws: Workspace, project_id: str) -> set[str]:
    return {f"gen:{chunk.id}:0" for chunk in ws.chunks(project_id, limit=None)}


def _exactly_once(ws: Workspace, project_id: str) -> Counter[str]:
    """Each example stored once, under the key of the chunk it quotes; examples per key."""
    chunks = {chunk.id: chunk.content for chunk in ws.chunks(project_id, limit=None)}
    examples = generated(ws, project_id)
    pairs = Counter((example.request_key, example.position) for example in examples)
    assert [pair for pair, count in pairs.items() if count > 1] == []
    for example in examples:
        if example.position >= 0:
            _, chunk_id, _ = str(example.request_key).split(":")
            assert example.evidence and example.evidence in chunks[chunk_id]  # the answer to its own request
    return Counter(str(example.request_key) for example in examples if example.position >= 0)


def _uploads(server: HostedServer) -> int:
    return len(server.calls("POST", "files/upload"))


def _creates(server: HostedServer) -> int:
    return len(server.calls("POST", "batches"))


# --- a whole batch -------------------------------------------------------------------------------

def test_a_batch_is_uploaded_created_once_polled_and_every_result_stored_once_at_half_price(
        finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project_id = _project(ws)
    with batch_server(FakeTogetherBatches(api_key=KEY)) as server:
        job = _generate(ws, project_id, server)
        [batch_id] = server.provider.batches
        batch = server.provider.batches[batch_id]
        polls = server.calls("GET", f"batches/{batch_id}")

    [upload] = server.calls("POST", "files/upload")
    assert upload.form == {"purpose": "batch-api", "file_name": upload.files["file"][0], "file_type": "jsonl"}
    assert upload.files["file"][0].startswith("finetune-") and upload.jsonl() == batch.lines
    assert {tuple(sorted(line)) for line in batch.lines} == {("body", "custom_id")}  # no method or url
    assert {line["custom_id"] for line in batch.lines} == _keys(ws, project_id)  # custom_id = the request key
    assert all(line["body"]["model"] == MODEL and "response_format" not in line["body"] for line in batch.lines)
    [create] = server.calls("POST", "batches")
    assert create.json == {"input_file_id": upload_id(server), "endpoint": "/v1/chat/completions",
                           "completion_window": "24h"}
    assert len(polls) >= 3  # validating, in progress, completed (then read again for its files)
    assert {r.headers["authorization"] for r in server.requests} == {f"Bearer {KEY}"}

    assert _exactly_once(ws, project_id) == dict.fromkeys(_keys(ws, project_id), 2)
    summary = job.result_summary
    assert summary["batches"] == [batch_id] and summary["requests"] == CHUNKS and summary["failed_requests"] == 0
    assert summary["new_examples"] == 2 * CHUNKS
    usage = summary["usage"]
    assert usage["batch"] is True and usage["requests"] == CHUNKS and usage["input_tokens"] > 0
    online = (usage["input_tokens"] * PRICE["input"] + usage["output_tokens"] * PRICE["output"]) / 1_000_000
    assert usage["cost_usd"] == pytest.approx(online / 2, abs=1e-6)
    assert open_entries(ws, project_id) == []
    assert f"together: batch {batch_id} sent: {CHUNKS} requests" in messages(ws, job.id)
    assert any(f"batch {batch_id}: COMPLETED" in message for message in messages(ws, job.id))


def upload_id(server: HostedServer) -> str:
    [file_id] = server.provider.files
    return str(file_id)


def test_answers_read_in_another_order_than_sent_go_to_their_own_requests(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project_id = _project(ws)
    with batch_server(FakeTogetherBatches(api_key=KEY)) as server:
        _generate(ws, project_id, server)
        [batch] = server.provider.batches.values()
        output = server.provider.contents[f"file-{batch.id}-output"].decode().splitlines()
    sent = [line["custom_id"] for line in batch.lines]
    answered = [line.split('"custom_id": "')[1].split('"')[0] for line in output]
    assert sorted(answered) == sorted(sent) and answered != sent
    assert _exactly_once(ws, project_id) == dict.fromkeys(_keys(ws, project_id), 2)


# --- crashes and resume ----------------------------------------------------------------------------

def test_a_worker_killed_mid_poll_resumes_the_same_batch_and_stores_every_result_once(
        crash_workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = crash_workspace
    die_at_first_poll(monkeypatch)
    project_id = _project(ws)
    with batch_server(FakeTogetherBatches(api_key=KEY, batch_script=BatchScript(polls=3))) as server:
        with pytest.raises(WorkerDied):
            _generate(ws, project_id, server)
        [entry] = open_entries(ws, project_id)
        [batch_id] = server.provider.batches
        assert entry["id"] == batch_id and entry["state"] == "sent" and len(entry["requests"]) == CHUNKS
        assert generated(ws, project_id) == []
        orphan = orphaned_job(ws, project_id)
        time.sleep(0.05)  # the heartbeat goes stale: another worker may take the job
        assert execute_job(ws, orphan.id) is JobStatus.SUCCESS
        assert _uploads(server) == 1 and _creates(server) == 1  # polled again, never sent again

    assert _exactly_once(ws, project_id) == dict.fromkeys(_keys(ws, project_id), 2)
    summary = jobs_service.get_job(ws, orphan.id).result_summary
    assert summary["batches"] == [batch_id] and summary["new_examples"] == 2 * CHUNKS
    assert open_entries(ws, project_id) == []
    assert any(f"batch {batch_id} taken over from an earlier run" in m for m in messages(ws, orphan.id))


def test_a_worker_that_died_between_creating_the_batch_and_storing_its_id_finds_it_by_its_input_file(
        crash_workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = crash_workspace
    real_save = BatchStore.save
    died: list[bool] = []

    def save(store: BatchStore, entries: list[dict[str, Any]]) -> None:
        if not died and any(entry.get("id") for entry in entries):
            died.append(True)
            raise WorkerDied  # the batch exists at Together; its id was never stored
        real_save(store, entries)

    monkeypatch.setattr(BatchStore, "save", save)
    project_id = _project(ws)
    fake = FakeTogetherBatches(api_key=KEY)
    with batch_server(fake) as server:
        fake.add_other_batch("file-of-another-run")  # listed too: not ours
        with pytest.raises(WorkerDied):
            _generate(ws, project_id, server)
        [entry] = open_entries(ws, project_id)
        assert entry["id"] is None and entry["state"] == "sending" and entry["sent_before"] is True
        assert entry["memo"] == {"input_file": upload_id(server)}  # kept before the batch was created
        [ours] = [batch_id for batch_id, batch in fake.batches.items() if batch.lines]
        fake.add_other_batch("file-of-another-run")  # a newer one, of another file
        orphan = orphaned_job(ws, project_id)
        time.sleep(0.05)
        assert execute_job(ws, orphan.id) is JobStatus.SUCCESS
        assert _uploads(server) == 1 and _creates(server) == 1  # looked up, not uploaded or created again
        assert server.calls("GET", "batches")

    assert _exactly_once(ws, project_id) == dict.fromkeys(_keys(ws, project_id), 2)
    assert jobs_service.get_job(ws, orphan.id).result_summary["batches"] == [ours]
    assert (f"together: batch {ours} found again (sent before an interruption): {CHUNKS} requests"
            in messages(ws, orphan.id))


def test_a_batch_created_while_its_answer_was_lost_is_found_again_not_created_twice(
        finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project_id = _project(ws)
    lost: list[bool] = []

    def decide(request: Request) -> Reply | None:
        if request.method == "POST" and request.path == "/v1/batches" and not lost:
            lost.append(True)
            return Reply(lost=True)  # created at Together, the connection dropped before the answer
        return None

    with batch_server(FakeTogetherBatches(api_key=KEY)) as server:
        server.decide = decide
        job = _generate(ws, project_id, server)
        [batch_id] = server.provider.batches
        assert _uploads(server) == 1 and _creates(server) == 1 and server.calls("GET", "batches")
    assert job.result_summary["batches"] == [batch_id]
    assert _exactly_once(ws, project_id) == dict.fromkeys(_keys(ws, project_id), 2)


# --- failed requests ---------------------------------------------------------------------------------

def test_a_request_the_batch_failed_is_stored_as_its_failure_and_the_next_run_sends_it_again(
        finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project_id = _project(ws)
    fake = FakeTogetherBatches(api_key=KEY, batch_script=BatchScript(errored=lambda index: index == 2))
    with batch_server(fake) as server:
        first = _generate(ws, project_id, server).result_summary
        [batch] = fake.batches.values()
        failed_key = batch.lines[2]["custom_id"]
        assert first["failed_requests"] == 1 and first["partial"] is True and first["new_examples"] == 2 * 5
        [failure] = [e for e in generated(ws, project_id) if e.position == -1]
        assert failure.request_key == failed_key
        error = str(failure.metadata["error"])
        assert error.startswith(f"Together AI batch {batch.id}: Input validation error") and KEY not in error

        fake.batch_script = BatchScript()
        second = _generate(ws, project_id, server).result_summary
        [_, again] = fake.batches.values()
    assert [line["custom_id"] for line in again.lines] == [failed_key]  # only the failed one
    assert second["failed_requests"] == 0 and second["new_examples"] == 2
    assert _exactly_once(ws, project_id) == dict.fromkeys(_keys(ws, project_id), 2)
    assert not [e for e in generated(ws, project_id) if e.position == -1]


# --- the generator alone ---------------------------------------------------------------------------

def test_keys_over_64_characters_go_as_short_custom_ids_and_come_back_to_their_requests() -> None:
    generator = TogetherBatchGenerator(GeneratorSettings(model=MODEL))
    long_keys = [f"gen:{'x' * 70}:{round_}" for round_ in range(3)]
    ids = [generator.custom_id(key) for key in long_keys]
    assert all(len(custom_id) == 64 for custom_id in ids) and len(set(ids)) == 3
    assert ids == [generator.custom_id(key) for key in long_keys]  # the same on every run
    assert generator.custom_id("gen:short:0") == "gen:short:0"

    requests = [_request(key, index) for index, key in enumerate(long_keys)]
    with batch_server(FakeTogetherBatches(api_key=KEY, batch_script=BatchScript(polls=2))) as server:
        results, statuses = asyncio.run(_whole_batch(server, requests))
        [batch] = server.provider.batches.values()
    assert {line["custom_id"] for line in batch.lines} == set(ids)
    assert sorted(result.key for result in results) == sorted(long_keys)
    assert all(result.error is None and len(result.drafts) == 1 for result in results)
    assert [(status.status, status.done, status.total) for status in statuses] == [
        ("VALIDATING", 0, 3), ("IN_PROGRESS", 1, 3), ("COMPLETED", 3, 3)]  # progress 0, 30, 100 %


def _request(key: str, index: int) -> GenerationRequest:
    text = f"Note {index}: the harbour lighthouse was repainted white and red in the spring of 19{index}0."
    chunk = Chunk(project_id="p", source_id="s", chunk_index=index, content=text, token_count=20)
    return GenerationRequest(key=key, chunk=chunk, task_type=TaskType.QA, n_examples=1)


async def _whole_batch(server: HostedServer, requests: list[GenerationRequest]) -> tuple[list[Any], list[Any]]:
    generator = TogetherBatchGenerator(GeneratorSettings(model=MODEL, base_url=server.url, extra=FAST))
    try:
        ticket = BatchTicket(label="finetune-long", marked_at=time.time(), requests=len(requests))
        batch_id = await generator.submit_batch(ticket, requests)
        statuses = [await generator.batch_status(batch_id) for _ in range(3)]
        results = [result async for result in generator.batch_results(batch_id, {r.key: r for r in requests})]
        return results, statuses
    finally:
        await generator.client.aclose()
