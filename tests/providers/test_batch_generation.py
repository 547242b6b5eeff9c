"""`batch` generation (`finetune generate --batch`) through OpenAI's, Anthropic's and Mistral's batch APIs, end to end.

Each runs through the core (`ws.generate`, a job) with the `openai`, `anthropic` or `mistral` generator and its
official SDK, against a fake batch API on 127.0.0.1 speaking the provider's wire format
(kits.fake_batches): a whole batch, a worker that died mid-poll and one that died between sending
the batch and storing its id (both resumed, nothing sent or stored twice), requests the batch
answered with an error (failed requests, asked again by the next run), and cancel.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from finetune_core import Workspace
from finetune_core.domain import JobStatus
from finetune_core.errors import FinetuneError
from finetune_core.jobs import InProcessRunner
from finetune_core.jobs.execute import execute_job
from finetune_core.services import batch_generation
from finetune_core.services import jobs as jobs_service
from finetune_core.services.batch_generation import BatchStore
from finetune_core.testing import open_test_workspace
from finetune_providers import PriceTable
from kits.batch_runs import WorkerDied, assert_exactly_once, die_at_first_poll, messages, open_entries, orphaned_job
from kits.chat_completions import generated, text_project
from kits.fake_batches import (
    BatchScript,
    FakeAnthropicBatches,
    FakeBatches,
    FakeMistralBatches,
    FakeOpenAIBatches,
    batch_server,
)
from kits.hosted_providers import HostedServer

FAST = {"batch_poll_s": 0.01, "batch_poll_max_s": 0.05, "retry_initial_s": 0.01, "retry_max_s": 0.05}
CHUNKS = 6


@dataclass(frozen=True)
class Provider:
    generator: str
    model: str
    env_var: str
    key: str
    fake: type[FakeBatches]
    create_path: str  # the request that creates a batch (under /v1)
    list_path: str
    strip_v1: bool  # the SDK's base URL is the host alone (Anthropic's adds /v1 itself)

    def url(self, server: HostedServer) -> str:
        return server.url.removesuffix("/v1") if self.strip_v1 else server.url

    def creates(self, server: HostedServer) -> int:
        return len(server.calls("POST", self.create_path))


OPENAI = Provider("openai", "gpt-4o-mini", "OPENAI_API_KEY", "sk-test-batch-0123456789", FakeOpenAIBatches,
                  "batches", "batches", strip_v1=False)
ANTHROPIC = Provider("anthropic", "claude-haiku-4-5", "ANTHROPIC_API_KEY", "sk-ant-test-batch-0123456789",
                     FakeAnthropicBatches, "messages/batches", "messages/batches", strip_v1=True)
MISTRAL = Provider("mistral", "mistral-small-latest", "MISTRAL_API_KEY", "0123456789abcdefghijklmnopqrstuv",
                   FakeMistralBatches, "batch/jobs", "batch/jobs", strip_v1=False)
FILE_UPLOADS = (OPENAI, MISTRAL)  # the providers whose batch is an uploaded file


@pytest.fixture(params=[pytest.param(OPENAI, id="openai"), pytest.param(ANTHROPIC, id="anthropic"),
                        pytest.param(MISTRAL, id="mistral")])
def provider(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Provider:
    spec: Provider = request.param
    monkeypatch.setenv(spec.env_var, spec.key)
    return spec


@pytest.fixture
def crash_workspace(tmp_path: Path) -> Iterator[Workspace]:
    ws = open_test_workspace(tmp_path / "ws", job_stale_after_s=0.01)
    try:
        yield ws
    finally:
        ws.close()


def _project(ws: Workspace, provider: Provider, name: str = "notes") -> str:
    return text_project(ws, name, CHUNKS, generator=provider.generator, model=provider.model)


def _settings(provider: Provider, server: HostedServer, **extra: Any) -> dict[str, Any]:
    return {"base_url": provider.url(server), "extra": {"batch": True, **FAST, **extra}}


def _online_keys(ws: Workspace, project_id: str, round_: int = 0) -> set[str]:
    """The keys online generation gives the requests of the first round."""
    return {f"gen:{chunk.id}:{round_}" for chunk in ws.chunks(project_id, limit=None)}






# --- a whole batch -------------------------------------------------------------------------------

def test_a_batch_is_sent_once_polled_until_it_ends_and_every_result_is_stored_once(
        finetune_workspace: Workspace, provider: Provider) -> None:
    ws = finetune_workspace
    project_id = _project(ws, provider)
    with batch_server(provider.fake(api_key=provider.key)) as server:
        job = ws.generate(project_id, target=2 * CHUNKS, examples_per_chunk=2, settings=_settings(provider, server))
        [batch_id] = server.provider.batches
        batch = server.provider.batches[batch_id]
        polls = [r for r in server.requests if r.method == "GET" and r.path.endswith(f"/{batch_id}")]

    summary = job.result_summary
    assert provider.creates(server) == 1 and len(polls) >= 3  # in progress, in progress, ended (then read again)
    custom_ids = [line["custom_id"] for line in batch.lines]
    keys = _online_keys(ws, project_id)
    if provider in FILE_UPLOADS:
        [upload] = server.calls("POST", "files")
        assert upload.form["purpose"] == "batch" and upload.jsonl() == batch.lines
        assert set(custom_ids) == keys  # custom_id = the request key
        assert batch.body["metadata"]["finetune_batch"].startswith("finetune-")
        assert all(line["body"]["model"] == provider.model for line in batch.lines)
        assert all(line["body"]["response_format"] == {"type": "json_object"} for line in batch.lines)
        if provider is OPENAI:
            assert {line["url"] for line in batch.lines} == {"/v1/chat/completions"}
        else:
            assert batch.body["model"] == provider.model and batch.body["endpoint"] == "/v1/chat/completions"
    else:
        assert set(custom_ids) == {key.replace(":", "_") for key in keys}
        assert all(line["params"]["model"] == provider.model and line["params"]["max_tokens"] == 4096
                   for line in batch.lines)
        assert {r.headers.get("x-api-key") or r.headers["authorization"].removeprefix("Bearer ")
                for r in server.requests} == {provider.key}
    assert assert_exactly_once(ws, project_id) == dict.fromkeys(keys, 2)  # the online keys, 2 examples each
    assert summary["batches"] == [batch_id] and summary["requests"] == CHUNKS and summary["failed_requests"] == 0
    assert summary["total_generated"] == summary["new_examples"] == 2 * CHUNKS
    usage = summary["usage"]
    assert usage["batch"] is True and usage["requests"] == CHUNKS
    price = PriceTable().lookup(provider.model)
    assert price is not None
    online = price.cost(usage["input_tokens"], usage["output_tokens"])
    assert usage["cost_usd"] == pytest.approx(online / 2, abs=1e-6)  # the batch price: half (rounded to 6 places)
    assert open_entries(ws, project_id) == []  # collected: nothing left for a rerun
    assert f"{provider.generator}: batch {batch_id} sent: {CHUNKS} requests" in messages(ws, job.id)


# --- crashes and resume ----------------------------------------------------------------------------

def test_a_worker_killed_mid_poll_resumes_the_same_batch_and_stores_every_result_once(
        crash_workspace: Workspace, provider: Provider, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = crash_workspace
    die_at_first_poll(monkeypatch)
    project_id = _project(ws, provider)
    with batch_server(provider.fake(api_key=provider.key, batch_script=BatchScript(polls=3))) as server:
        with pytest.raises(WorkerDied):
            ws.generate(project_id, target=2 * CHUNKS, examples_per_chunk=2, settings=_settings(provider, server))
        [entry] = open_entries(ws, project_id)
        [batch_id] = server.provider.batches
        assert entry["id"] == batch_id and entry["state"] == "sent" and len(entry["requests"]) == CHUNKS
        assert generated(ws, project_id) == []
        orphan = orphaned_job(ws, project_id)
        time.sleep(0.05)  # the heartbeat goes stale: another worker may take the job
        assert execute_job(ws, orphan.id) is JobStatus.SUCCESS
        assert provider.creates(server) == 1  # polled again, never sent again

    assert assert_exactly_once(ws, project_id) == dict.fromkeys(_online_keys(ws, project_id), 2)
    summary = jobs_service.get_job(ws, orphan.id).result_summary
    assert summary["batches"] == [batch_id] and summary["new_examples"] == 2 * CHUNKS
    assert open_entries(ws, project_id) == []
    assert any(f"batch {batch_id} taken over from an earlier run" in m for m in messages(ws, orphan.id))


def test_a_batch_gone_at_the_provider_fails_its_requests_and_the_next_run_sends_them_again(
        crash_workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = crash_workspace
    monkeypatch.setenv(OPENAI.env_var, OPENAI.key)
    die_at_first_poll(monkeypatch)
    project_id = _project(ws, OPENAI)
    with batch_server(OPENAI.fake(api_key=OPENAI.key)) as server:
        settings = _settings(OPENAI, server)
        with pytest.raises(WorkerDied):
            ws.generate(project_id, target=2 * CHUNKS, examples_per_chunk=2, settings=settings)
        server.provider.batches.clear()  # deleted at the provider meanwhile: 404
        orphan = orphaned_job(ws, project_id)
        time.sleep(0.05)
        assert execute_job(ws, orphan.id) is JobStatus.FAILED  # not one example came back
        assert "is no longer found at OpenAI" in str(jobs_service.get_job(ws, orphan.id).error_message)
        assert open_entries(ws, project_id) == []
        ws.generate(project_id, target=2 * CHUNKS, examples_per_chunk=2, settings=settings)
        assert OPENAI.creates(server) == 2
    assert assert_exactly_once(ws, project_id) == dict.fromkeys(_online_keys(ws, project_id), 2)


def test_a_rerun_after_a_crash_while_collecting_stores_only_the_results_left(
        crash_workspace: Workspace, provider: Provider, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = crash_workspace
    real_drop = batch_generation.BatchRun._drop
    died: list[bool] = []

    def drop(self: batch_generation.BatchRun, batch: Any) -> None:
        if not died:
            died.append(True)
            raise WorkerDied  # every result stored, the entry not dropped yet
        real_drop(self, batch)

    monkeypatch.setattr(batch_generation.BatchRun, "_drop", drop)
    project_id = _project(ws, provider)
    with batch_server(provider.fake(api_key=provider.key)) as server:
        settings = _settings(provider, server)
        with pytest.raises(WorkerDied):
            ws.generate(project_id, target=2 * CHUNKS, examples_per_chunk=2, settings=settings)
        stored = {example.id for example in generated(ws, project_id)}
        assert len(stored) == 2 * CHUNKS and len(open_entries(ws, project_id)) == 1
        job = ws.generate(project_id, target=2 * CHUNKS, examples_per_chunk=2, settings=settings)  # a new job
        assert provider.creates(server) == 1
    assert {example.id for example in generated(ws, project_id)} == stored
    assert job.result_summary["new_examples"] == 0 and open_entries(ws, project_id) == []


def test_a_worker_that_died_between_sending_the_batch_and_storing_its_id_finds_it_again(
        crash_workspace: Workspace, provider: Provider, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = crash_workspace
    real_save = BatchStore.save
    died: list[bool] = []

    def save(store: BatchStore, entries: list[dict[str, Any]]) -> None:
        if not died and any(entry.get("id") for entry in entries):
            died.append(True)
            raise WorkerDied  # the batch exists at the provider; its id was never stored
        real_save(store, entries)

    monkeypatch.setattr(BatchStore, "save", save)
    project_id = _project(ws, provider)
    with batch_server(provider.fake(api_key=provider.key)) as server:
        with pytest.raises(WorkerDied):
            ws.generate(project_id, target=2 * CHUNKS, examples_per_chunk=2, settings=_settings(provider, server))
        [entry] = open_entries(ws, project_id)
        assert entry["id"] is None and entry["state"] == "sending" and entry["sent_before"] is True
        [batch_id] = server.provider.batches
        orphan = orphaned_job(ws, project_id)
        time.sleep(0.05)
        assert execute_job(ws, orphan.id) is JobStatus.SUCCESS
        assert provider.creates(server) == 1  # looked up, not sent again
        assert server.calls("GET", provider.list_path)
        if provider in FILE_UPLOADS:
            assert len(server.calls("POST", "files")) == 1  # the file's id was kept before the batch was created

    assert assert_exactly_once(ws, project_id) == dict.fromkeys(_online_keys(ws, project_id), 2)
    assert jobs_service.get_job(ws, orphan.id).result_summary["batches"] == [batch_id]
    assert (f"{provider.generator}: batch {batch_id} found again (sent before an interruption): {CHUNKS} requests"
            in messages(ws, orphan.id))


# --- failed requests, cancel, refusals ---------------------------------------------------------------

def test_requests_the_batch_failed_are_failed_requests_that_the_next_run_sends_again(
        finetune_workspace: Workspace, provider: Provider) -> None:
    ws = finetune_workspace
    project_id = _project(ws, provider)
    fake = provider.fake(api_key=provider.key, batch_script=BatchScript(errored=lambda index: index % 3 == 0))
    with batch_server(fake) as server:
        settings = _settings(provider, server)
        first = ws.generate(project_id, target=2 * CHUNKS, examples_per_chunk=2, settings=settings).result_summary
        assert first["failed_requests"] == 2 and first["partial"] is True and first["new_examples"] == 2 * 4
        assert "a rerun retries them" in first["message"]
        failed = {e.request_key for e in generated(ws, project_id) if e.position == -1}
        assert len(failed) == 2
        assert all(str(e.metadata["error"]).startswith(f"{fake_label(provider)} batch ")
                   for e in generated(ws, project_id) if e.position == -1)

        fake.batch_script = BatchScript()
        second = ws.generate(project_id, target=2 * CHUNKS, examples_per_chunk=2, settings=settings).result_summary
        [_, again] = server.provider.batches.values()
    sent_again = {line["custom_id"] for line in again.lines}
    assert sent_again == {provider_id(provider, key) for key in failed}  # only the failed ones
    assert second["failed_requests"] == 0 and second["new_examples"] == 2 * 2
    assert assert_exactly_once(ws, project_id) == dict.fromkeys(_online_keys(ws, project_id), 2)
    assert not [e for e in generated(ws, project_id) if e.position == -1]


def test_cancel_cancels_the_remote_batch_and_the_next_run_collects_what_it_answered(
        tmp_path: Path, provider: Provider) -> None:
    ws = open_test_workspace(tmp_path / "threaded", runner=InProcessRunner(1))
    try:
        project_id = _project(ws, provider)
        with batch_server(provider.fake(api_key=provider.key, batch_script=BatchScript(endless=True))) as server:
            settings = _settings(provider, server)
            job = jobs_service.enqueue(ws, "dataset_generate", project_id=project_id, num_examples_target=2 * CHUNKS,
                                       examples_per_chunk=2, settings=settings)
            deadline = time.monotonic() + 60  # a bound, never a pace
            while not any(entry.get("id") for entry in open_entries(ws, project_id)):
                assert time.monotonic() < deadline, "no batch was sent"
                time.sleep(0.02)
            jobs_service.cancel_job(ws, job.id)
            assert jobs_service.wait_for(ws, job.id, timeout_s=60, poll_s=0.02).status is JobStatus.CANCELLED
            [batch_id] = server.provider.batches
            assert server.provider.cancelled == [batch_id]
            [entry] = open_entries(ws, project_id)
            assert entry["state"] == "cancelling" and generated(ws, project_id) == []
            assert f"{provider.generator}: batch {batch_id}: cancel requested" in messages(ws, job.id)

            rerun = ws.generate(project_id, target=2 * CHUNKS, examples_per_chunk=2, settings=settings)
            assert provider.creates(server) == 1  # the cancelled batch collected, not sent again
        summary = rerun.result_summary
        assert summary["batches"] == [batch_id]
        assert summary["new_examples"] == 2 * (CHUNKS // 2) and summary["failed_requests"] == CHUNKS // 2
        assert_exactly_once(ws, project_id)
        assert open_entries(ws, project_id) == []
    finally:
        ws.close()


def test_batch_is_refused_for_a_generator_without_a_batch_api_and_for_a_preview(
        finetune_workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = finetune_workspace
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI.key)
    project_id = text_project(ws, "refused", 2)  # openai-compatible: a local server, no batch API
    with pytest.raises(FinetuneError, match=r"the openai-compatible generator has no batch API.*"
                                            r"\(anthropic, mistral, openai, together\)"):
        ws.generate(project_id, settings={"base_url": "http://127.0.0.1:9", "extra": {"batch": True}})
    with pytest.raises(FinetuneError, match="a preview is not sent as a batch"):
        ws.run_job("dataset_preview", project_id, num_examples=2, generator="openai",
                   settings={"base_url": "http://127.0.0.1:9", "extra": {"batch": True}})
    assert generated(ws, project_id) == []


def test_finetune_generate_batch_and_the_rest_body_pass_batch_through(
        finetune_workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner
    from finetune_core.cli import cli
    from finetune_web.schemas.datasets import GenerateBody

    assert GenerateBody.model_validate({"batch": True, "model": "gpt-4o-mini"}).settings() == {
        "model": "gpt-4o-mini", "extra": {"batch": True}}
    assert "extra" not in GenerateBody.model_validate({}).settings()
    monkeypatch.setenv(OPENAI.env_var, OPENAI.key)
    monkeypatch.setattr(batch_generation.BatchOptions, "poll_s", 0.01)
    monkeypatch.setattr(batch_generation.BatchOptions, "poll_max_s", 0.05)
    ws = finetune_workspace
    project_id = _project(ws, OPENAI, "cli")
    with batch_server(OPENAI.fake(api_key=OPENAI.key)) as server:
        done = CliRunner().invoke(cli, ["--workspace", str(ws.root), "--json", "generate", "--project", "cli",
                                        "--base-url", server.url, "--target", "6", "--per-chunk", "1", "--batch"])
        assert done.exit_code == 0, done.output
        [batch_id] = server.provider.batches
    summary = json.loads(done.output)
    assert summary["batches"] == [batch_id] and summary["usage"]["batch"] is True
    assert assert_exactly_once(ws, project_id) == dict.fromkeys(_online_keys(ws, project_id), 1)


def fake_label(provider: Provider) -> str:
    return {"openai": "OpenAI", "anthropic": "Anthropic", "mistral": "Mistral"}[provider.generator]


def provider_id(provider: Provider, key: str | None) -> str:
    return str(key).replace(":", "_") if provider is ANTHROPIC else str(key)


def test_the_store_is_one_json_file_per_project_and_prefix(finetune_workspace: Workspace) -> None:
    store = BatchStore(finetune_workspace, "p1", "gen:")
    assert store.load() == []
    store.save([{"label": "finetune-x", "id": "batch_1", "requests": {"gen:c:0": 2}}])
    assert json.loads(finetune_workspace.files.get("p1/generation/batches-gen.json"))["batches"][0]["id"] == "batch_1"
    store.save([])
    assert store.load() == []
