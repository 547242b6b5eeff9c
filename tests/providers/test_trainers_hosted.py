"""Hosted fine-tunings (openai, mistral, together) end to end, against fake APIs on 127.0.0.1.

Each runs through the core (`fine_tunes.create_fine_tune`), with the trainer found by name
through the providers' entry point and its key read from the environment or the key store.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from finetune_core import Workspace
from finetune_core.domain import Example, FineTune, FineTuneStatus, JobStatus, Message
from finetune_core.errors import FineTuningUnavailableError, InvalidInputError, NotSupportedError
from finetune_core.jobs import InProcessRunner
from finetune_core.jobs.execute import execute_job
from finetune_core.services import fine_tunes, jobs
from finetune_core.services.keys import set_key
from finetune_core.testing import open_test_workspace
from finetune_core.training import FineTuneRequest, TrainingRun
from finetune_providers.training._hosted import MAX_FAILED_POLLS
from kits.hosted_providers import (
    FakeMistral,
    FakeOpenAI,
    FakeProvider,
    FakeTogether,
    HostedServer,
    Reply,
    Request,
    Script,
    hosted_server,
    loss,
    valid_loss,
)

FAST = {"poll_interval_s": 0.01, "retry_initial_s": 0.01, "retry_max_s": 0.05}


@dataclass(frozen=True)
class Provider:
    """One hosted trainer and how its fake API is driven and read."""

    trainer: str
    label: str
    env_var: str
    key: str
    fake: type[FakeProvider]
    upload_path: str
    jobs_path: str
    base_model: str
    hyperparameters: dict[str, Any]
    expected_body: Callable[[list[str], FineTune], dict[str, Any]]  # (uploaded file ids, fine-tuning) -> subset
    method: str | None = None
    bad_hyperparameters: dict[str, Any] = field(default_factory=dict)

    def cancel_path(self, job_id: str) -> str:
        return f"{self.jobs_path}/{job_id}/cancel"

    def job_path(self, job_id: str) -> str:
        return f"{self.jobs_path}/{job_id}"


OPENAI = Provider(
    trainer="openai", label="OpenAI", env_var="OPENAI_API_KEY", key="sk-test-" + "a1B2" * 6, fake=FakeOpenAI,
    upload_path="files", jobs_path="fine_tuning/jobs", base_model="gpt-4o-mini-2024-07-18",
    hyperparameters={"epochs": 2, "batch_size": "auto"},
    expected_body=lambda files, ft: {
        "model": "gpt-4o-mini-2024-07-18", "training_file": files[0], "validation_file": files[1],
        "suffix": "handbook", "metadata": {"finetune_id": ft.id},
        "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2, "batch_size": "auto"}}}},
    bad_hyperparameters={"n_epochs": 0},
)
MISTRAL = Provider(
    trainer="mistral", label="Mistral", env_var="MISTRAL_API_KEY", key="Ab3" * 10 + "Zz", fake=FakeMistral,
    upload_path="files", jobs_path="fine_tuning/jobs", base_model="open-mistral-nemo",
    hyperparameters={"training_steps": 3, "learning_rate": 0.0001},
    expected_body=lambda files, ft: {
        "model": "open-mistral-nemo", "training_files": [{"file_id": files[0], "weight": 1}],
        "validation_files": [files[1]], "hyperparameters": {"training_steps": 3, "learning_rate": 0.0001},
        "suffix": "handbook", "auto_start": False},
    bad_hyperparameters={"learning_rate": -1},
)
TOGETHER = Provider(
    trainer="together", label="Together AI", env_var="TOGETHER_API_KEY", key="tgp_v1_" + "x9Y8" * 10,
    fake=FakeTogether, upload_path="files/upload", jobs_path="fine-tunes",
    base_model="meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", method="lora",
    hyperparameters={"n_epochs": 2, "lora_r": 8, "learning_rate": 0.0002},
    expected_body=lambda files, ft: {
        "model": "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", "training_file": files[0],
        "validation_file": files[1], "n_epochs": 2, "n_evals": 1, "learning_rate": 0.0002, "suffix": "handbook",
        "training_method": {"method": "sft"}, "training_type": {"type": "Lora", "lora_r": 8, "lora_alpha": 16}},
    bad_hyperparameters={"batch_size": "huge"},
)
PROVIDERS = [pytest.param(p, id=p.trainer) for p in (OPENAI, MISTRAL, TOGETHER)]


class WorkerDied(BaseException):
    """Escapes every handler, as a killed worker would stop everything."""


@pytest.fixture(params=PROVIDERS)
def provider(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Provider:
    spec: Provider = request.param
    monkeypatch.setenv(spec.env_var, spec.key)
    return spec


def _project_with_examples(ws: Workspace, count: int = 6) -> str:
    project = ws.create_project("handbook")
    examples = [Example(project_id=project.id, request_key=f"manual:{i}", split="train" if i % 3 else "eval",
                        messages=[Message(role="user", content=f"What is item {i}?"),
                                  Message(role="assistant", content=f"Item {i} is the number {i} of the list.")])
                for i in range(count)]
    with ws.unit_of_work() as uow:
        uow.examples.add(examples)
    return project.id


def _create(ws: Workspace, project_id: str, provider: Provider, server: HostedServer, *,
            hyperparameters: dict[str, Any] | None = None, **options: Any) -> FineTune:
    hyperparameters = provider.hyperparameters if hyperparameters is None else hyperparameters
    if provider.trainer == "mistral":  # closed to new jobs: what it still does is follow the jobs made before
        return _made_before_mistral_closed(ws, project_id, hyperparameters, {"base_url": server.url, **FAST,
                                                                             **options})
    return fine_tunes.create_fine_tune(
        ws, project_id, trainer=provider.trainer, base_model=provider.base_model, method=provider.method,
        hyperparameters=hyperparameters, options={"base_url": server.url, **FAST, **options})


def _made_before_mistral_closed(ws: Workspace, project_id: str, hyperparameters: dict[str, Any],
                                options: dict[str, Any]) -> FineTune:
    """A Mistral fine-tuning stored and started as `create_fine_tune` did before Mistral closed fine-tuning."""
    trainer = ws.plugins.trainers.get("mistral")
    request = trainer.check(FineTuneRequest(trainer="mistral", base_model=MISTRAL.base_model,
                                            hyperparameters=hyperparameters, options=options))
    fine_tune = FineTune(project_id=project_id, name="handbook on open-mistral-nemo", trainer="mistral",
                         method=request.method, base_model=request.base_model,
                         hyperparameters=request.hyperparameters, options=request.options)
    job = jobs.new_job("fine_tune", project_id=project_id, queue=trainer.queue, fine_tune_id=fine_tune.id)
    fine_tune.job_id = job.id
    with ws.unit_of_work() as uow:
        uow.jobs.add(job)
        uow.fine_tunes.add(fine_tune)
    jobs.submit(ws, job)
    return fine_tunes.get_fine_tune(ws, fine_tune.id)


def _log_steps(ws: Workspace, job_id: str | None) -> list[int]:
    return [e.data["step"] for e in jobs.events(ws, job_id or "") if e.type == "log" and "step" in e.data]


def _statuses(ws: Workspace, job_id: str | None) -> list[str]:
    return [e.data["status"] for e in jobs.events(ws, job_id or "") if e.type == "log" and "status" in e.data]


@pytest.fixture
def crash_workspace(tmp_path: Path) -> Iterator[Workspace]:
    ws = open_test_workspace(tmp_path / "ws", job_stale_after_s=0.01)
    try:
        yield ws
    finally:
        ws.close()


# --- a whole run ---------------------------------------------------------------------------------

def test_a_hosted_fine_tuning_uploads_creates_follows_and_registers_its_model(
        finetune_workspace: Workspace, provider: Provider) -> None:
    ws = finetune_workspace
    project_id = _project_with_examples(ws)
    with hosted_server(provider.fake(api_key=provider.key, script=Script(steps=3))) as server:
        created = _create(ws, project_id, provider, server, suffix="handbook")
        done = fine_tunes.get_fine_tune(ws, created.id)

        assert done.status is FineTuneStatus.COMPLETED, done.error_message
        assert done.progress == 100.0 and done.error_message is None
        assert done.metrics == {"step": 3, "total_steps": 3, "train_loss": loss(3), "valid_loss": valid_loss(3)}
        uploads = server.calls("POST", provider.upload_path)
        assert len(uploads) == 2 and all(u.form["purpose"] == "fine-tune" for u in uploads)
        assert [u.files["file"][0] for u in uploads] == [f"{done.id}-train.jsonl", f"{done.id}-eval.jsonl"]
        train, valid = uploads[0].jsonl(), uploads[1].jsonl()
        assert (len(train), len(valid)) == (4, 2)
        assert all(set(row) == {"messages"} and row["messages"][-1]["role"] == "assistant" for row in train + valid)
        assert {r.headers["authorization"] for r in server.requests} == {f"Bearer {provider.key}"}
        [create] = server.calls("POST", provider.jobs_path)
        file_ids = list(server.provider.files)
        expected = provider.expected_body(file_ids, done)
        assert {key: create.json.get(key) for key in expected} == expected
        [job_id] = server.provider.jobs
        assert done.external_id == job_id

    model = fine_tunes.get_model(ws, done.model_id or "")
    assert model.provider_model_id == server.provider.model_of(server.provider.jobs[job_id])
    assert model.provider == provider.trainer and model.fine_tune_id == done.id
    assert _statuses(ws, done.job_id) == ["preparing", "training", "completed"]
    assert _log_steps(ws, done.job_id) == [1, 2, 3]
    events = jobs.events(ws, done.job_id or "")
    losses = [e.data.get("train_loss") for e in events if e.type == "log" and "step" in e.data]
    assert losses == [loss(1), loss(2), loss(3)]
    assert jobs.get_job(ws, done.job_id or "").status is JobStatus.SUCCESS


def test_together_records_its_checkpoints_once(finetune_workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = finetune_workspace
    monkeypatch.setenv(TOGETHER.env_var, TOGETHER.key)
    with hosted_server(FakeTogether(api_key=TOGETHER.key, script=Script(steps=3))) as server:
        done = _create(ws, _project_with_examples(ws), TOGETHER, server)
    checkpoints = [e.data for e in jobs.events(ws, done.job_id or "") if e.type == "checkpoint"]
    assert [(c["step"], c["checkpoint_type"]) for c in checkpoints] == [
        (1, "intermediate"), (2, "intermediate"), (3, "final")]
    assert all(c["path"].startswith(f"s3://ckpt/{done.external_id}/") for c in checkpoints)


def test_mistral_starts_the_validated_job_once(finetune_workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = finetune_workspace
    monkeypatch.setenv(MISTRAL.env_var, MISTRAL.key)
    with hosted_server(FakeMistral(api_key=MISTRAL.key)) as server:
        done = _create(ws, _project_with_examples(ws), MISTRAL, server)
        assert done.status is FineTuneStatus.COMPLETED
        assert len(server.calls("POST", f"fine_tuning/jobs/{done.external_id}/start")) == 1
    remote = [e.data["remote_status"] for e in jobs.events(ws, done.job_id or "") if "remote_status" in e.data]
    assert remote == ["VALIDATING", "VALIDATED", "RUNNING", "SUCCESS"]


def test_openai_reads_every_page_of_events_newest_first(finetune_workspace: Workspace,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    ws = finetune_workspace
    monkeypatch.setenv(OPENAI.env_var, OPENAI.key)
    fake = FakeOpenAI(api_key=OPENAI.key, script=Script(steps=9, preparing_polls=1), page_max=2)
    with hosted_server(fake) as server:
        done = _create(ws, _project_with_examples(ws), OPENAI, server, poll_interval_s=0.01)
        assert any("after" in r.query for r in server.calls("GET", f"fine_tuning/jobs/{done.external_id}/events"))
    assert _log_steps(ws, done.job_id) == list(range(1, 10))
    notes = [e.data["message"] for e in jobs.events(ws, done.job_id or "") if e.data.get("message", "")
             .startswith("OpenAI: Job ")]
    assert notes == ["OpenAI: Job running", "OpenAI: Job succeeded"]


# --- transient failures -----------------------------------------------------------------------------

def test_rate_limits_server_errors_timeouts_and_drops_are_retried(finetune_workspace: Workspace,
                                                                   provider: Provider) -> None:
    ws = finetune_workspace
    answered: dict[str, int] = {}

    def decide(request: Request) -> Reply | None:
        kind = "poll" if any(request.path == f"/v1/{provider.job_path(j)}" for j in server.provider.jobs) \
            else f"{request.method} {request.path}"
        answered[kind] = count = answered.get(kind, 0) + 1
        if kind == f"POST /v1/{provider.upload_path}" and count == 1:
            return Reply(drop=True)  # the connection dies: the upload is sent again
        if kind == f"POST /v1/{provider.jobs_path}" and count == 1:
            return Reply(lost=True)  # created, but the answer is lost: the job is found, not created again
        if kind == "poll" and count <= 3:
            return Reply(429, {"error": {"message": "Rate limit reached", "code": "rate_limit_exceeded"}},
                         headers={"Retry-After": "0.05"})
        if kind == "poll" and count <= 5:
            return Reply(503, {"error": {"message": "The server is overloaded"}})
        if kind == "poll" and count == 6:
            return Reply(delay_s=30.0)  # past timeout_s (never reached by a quick answer, even on a busy machine)
        return None

    project_id = _project_with_examples(ws)
    with hosted_server(provider.fake(api_key=provider.key), decide) as server:
        done = _create(ws, project_id, provider, server, timeout_s=2.0)
        assert done.status is FineTuneStatus.COMPLETED, done.error_message
        assert len(server.provider.files) == 2 and len(server.provider.jobs) == 1
        polls = server.calls("GET", provider.job_path(done.external_id or ""))
        gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(polls[:4])]
        assert len(gaps) == 3 and all(gap >= 0.05 for gap in gaps)  # Retry-After honoured
        assert server.calls("GET", provider.jobs_path)  # the lost create was looked up, not sent again
    assert _log_steps(ws, done.job_id) == [1, 2, 3]
    warnings = [e.data["message"] for e in jobs.events(ws, done.job_id or "") if e.data.get("level") == "warning"]
    assert any("HTTP 429" in message for message in warnings) and any("HTTP 503" in message for message in warnings)


def test_a_provider_that_stays_down_ends_the_run_in_error(finetune_workspace: Workspace, provider: Provider) -> None:
    ws = finetune_workspace

    def decide(request: Request) -> Reply | None:
        if any(request.path == f"/v1/{provider.job_path(j)}" for j in server.provider.jobs):
            return Reply(503, {"error": {"message": "The server is overloaded"}})
        return None

    with hosted_server(provider.fake(api_key=provider.key), decide) as server:
        created = _create(ws, _project_with_examples(ws), provider, server, max_retries=1)
        failed = fine_tunes.get_fine_tune(ws, created.id)
        assert len(server.calls("GET", provider.job_path(failed.external_id or ""))) == 2 * MAX_FAILED_POLLS
    assert failed.status is FineTuneStatus.ERROR
    assert failed.error_message == (f"{provider.label}: the job {failed.external_id} could not be followed: "
                                    "HTTP 503 (server error): The server is overloaded")


def test_a_refused_key_fails_at_once_naming_the_provider_not_the_key(finetune_workspace: Workspace,
                                                                      provider: Provider,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    ws = finetune_workspace
    monkeypatch.delenv(provider.env_var)
    stored = provider.key[:-4] + "QQQQ"  # the right shape, not the key the server knows
    set_key(ws, provider.trainer, stored)
    with hosted_server(provider.fake(api_key=provider.key)) as server:
        created = _create(ws, _project_with_examples(ws), provider, server)
        failed = fine_tunes.get_fine_tune(ws, created.id)
        # no retry of a refused key (OpenAI's rights asked first are not a refusal: 401 there leaves it to the job)
        sent = [request for request in server.requests if request.path != "/v1/fine_tuning/model_limits"]
        assert len(sent) == 1
    assert failed.status is FineTuneStatus.ERROR
    assert failed.error_message == (f"the {provider.label} key was refused (401); store another with "
                                    f"`finetune keys set {provider.trainer}` or set {provider.env_var}")
    assert stored not in str(failed.error_message) and stored[:12] not in str(failed.error_message)
    events = jobs.events(ws, failed.job_id or "")
    assert all(stored[:12] not in str(e.data) for e in events)


# --- failure, cancel, resume ------------------------------------------------------------------------

def test_a_job_the_provider_fails_ends_in_error_with_its_message(finetune_workspace: Workspace,
                                                                 provider: Provider) -> None:
    ws = finetune_workspace
    script = Script(fail_message="the training file has invalid lines")
    with hosted_server(provider.fake(api_key=provider.key, script=script)) as server:
        created = _create(ws, _project_with_examples(ws), provider, server)
    failed = fine_tunes.get_fine_tune(ws, created.id)
    assert failed.status is FineTuneStatus.ERROR and failed.model_id is None
    assert failed.error_message == f"{provider.label}: the training file has invalid lines"
    assert jobs.get_job(ws, failed.job_id or "").error_message == failed.error_message


def test_cancel_mid_training_stops_the_remote_job(tmp_path: Path, provider: Provider) -> None:
    ws = open_test_workspace(tmp_path / "ws", runner=InProcessRunner(2))
    try:
        with hosted_server(provider.fake(api_key=provider.key, script=Script(endless=True))) as server:
            created = _create(ws, _project_with_examples(ws), provider, server)
            deadline = time.monotonic() + 120  # a bound, never a pace
            while fine_tunes.get_fine_tune(ws, created.id).metrics.get("step", 0) < 2:
                assert time.monotonic() < deadline, "the run never reached step 2"
                time.sleep(0.02)
            fine_tunes.cancel_fine_tune(ws, created.id)
            ended = fine_tunes.wait_for(ws, created.id, timeout_s=120)
            assert ended.status is FineTuneStatus.CANCELLED and ended.model_id is None
            assert server.provider.cancelled == [ended.external_id]
            assert len(server.calls("POST", provider.cancel_path(ended.external_id or ""))) == 1
        assert jobs.get_job(ws, ended.job_id or "").status is JobStatus.CANCELLED
        messages = [e.data.get("message") for e in jobs.events(ws, ended.job_id or "")]
        assert f"{provider.label}: cancel requested for the job {ended.external_id}" in messages
    finally:
        ws.close()


def test_a_job_cancelled_at_the_provider_ends_cancelled(finetune_workspace: Workspace, provider: Provider) -> None:
    ws = finetune_workspace
    with hosted_server(provider.fake(api_key=provider.key, script=Script(steps=5, cancelled_at_step=2))) as server:
        created = _create(ws, _project_with_examples(ws), provider, server)
    ended = fine_tunes.get_fine_tune(ws, created.id)
    assert ended.status is FineTuneStatus.CANCELLED and ended.model_id is None
    messages = [e.data.get("message") for e in jobs.events(ws, ended.job_id or "")]
    assert f"{provider.label}: the job {ended.external_id} was cancelled at the provider" in messages


def test_a_run_whose_worker_died_while_training_resumes_the_same_job(crash_workspace: Workspace, provider: Provider,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    ws = crash_workspace
    real_wait = TrainingRun.wait
    died: list[bool] = []

    def wait(run: TrainingRun, seconds: float) -> None:
        if not died and int(run.state.get("last_step") or 0) >= 2:
            died.append(True)
            raise WorkerDied
        real_wait(run, seconds)

    monkeypatch.setattr(TrainingRun, "wait", wait)
    project_id = _project_with_examples(ws)
    with hosted_server(provider.fake(api_key=provider.key, script=Script(steps=4))) as server:
        with pytest.raises(WorkerDied):
            _create(ws, project_id, provider, server)
        [orphan], _ = fine_tunes.list_fine_tunes(ws)
        assert orphan.status is FineTuneStatus.TRAINING and orphan.external_id is not None
        time.sleep(0.05)  # the heartbeat goes stale: another worker may take the job
        assert execute_job(ws, orphan.job_id or "") is JobStatus.SUCCESS
        assert len(server.calls("POST", provider.upload_path)) == 2
        assert len(server.calls("POST", provider.jobs_path)) == 1
    resumed = fine_tunes.get_fine_tune(ws, orphan.id)
    assert resumed.status is FineTuneStatus.COMPLETED and resumed.external_id == orphan.external_id
    assert _log_steps(ws, orphan.job_id) == [1, 2, 3, 4]  # nothing twice
    assert fine_tunes.list_models(ws)[1] == 1


def test_a_worker_that_died_right_after_creating_the_job_finds_it_again(
        crash_workspace: Workspace, provider: Provider, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = crash_workspace
    real_remember = TrainingRun.remember
    died: list[bool] = []

    def remember(run: TrainingRun, *, external_id: str | None = None, **state: Any) -> None:
        if external_id is not None and not died:
            died.append(True)
            raise WorkerDied  # the job exists at the provider; its id was never stored
        real_remember(run, external_id=external_id, **state)

    monkeypatch.setattr(TrainingRun, "remember", remember)
    project_id = _project_with_examples(ws)
    with hosted_server(provider.fake(api_key=provider.key)) as server:
        with pytest.raises(WorkerDied):
            _create(ws, project_id, provider, server)
        [orphan], _ = fine_tunes.list_fine_tunes(ws)
        assert orphan.external_id is None and orphan.state["creating"] is True
        time.sleep(0.05)
        assert execute_job(ws, orphan.job_id or "") is JobStatus.SUCCESS
        assert len(server.calls("POST", provider.upload_path)) == 2
        assert len(server.calls("POST", provider.jobs_path)) == 1
        assert server.calls("GET", provider.jobs_path)  # looked up, not created again
        [job_id] = server.provider.jobs
    resumed = fine_tunes.get_fine_tune(ws, orphan.id)
    assert resumed.status is FineTuneStatus.COMPLETED and resumed.external_id == job_id
    assert _log_steps(ws, orphan.job_id) == [1, 2, 3]
    messages = [e.data.get("message") for e in jobs.events(ws, orphan.job_id or "")]
    assert f"{provider.label}: job {job_id} found again (created before an interruption)" in messages


# --- refused before anything is stored ----------------------------------------------------------------

@pytest.mark.parametrize(("trainer", "method", "hyperparameters", "options", "match"), [
    ("openai", None, {"warmup": 3}, {}, r"no hyperparameter 'warmup' \(accepted: .*n_epochs"),
    ("openai", None, {"n_epochs": 0}, {}, "n_epochs: Input should be 'auto' or greater than or equal to 1"),
    ("openai", None, {"epochs": 2, "n_epochs": 3}, {}, "'n_epochs' is given twice"),
    ("openai", "dpo", {}, {}, "no method 'dpo'"),
    ("openai", None, {}, {"poll_every": 5}, "no option 'poll_every'"),
    ("openai", None, {}, {"poll_interval_s": 0}, "poll_interval_s: Input should be greater than 0"),
    ("mistral", None, {"learning_rate": -1}, {}, "learning_rate: Input should be greater than 0"),
    ("mistral", None, {}, {"suffix": "a-suffix-far-too-long"}, "at most 18 characters"),
    ("together", "full", {"lora_r": 8}, {}, "method 'full' takes no LoRA hyperparameters"),
    ("together", None, {"batch_size": "huge"}, {}, "batch_size"),
    ("together", "qlora", {}, {}, "no method 'qlora'"),
])
def test_bad_requests_are_refused_before_anything_is_stored(
        finetune_workspace: Workspace, monkeypatch: pytest.MonkeyPatch, trainer: str, method: str | None,
        hyperparameters: dict[str, Any], options: dict[str, Any], match: str) -> None:
    ws = finetune_workspace
    for spec in (OPENAI, MISTRAL, TOGETHER):
        monkeypatch.setenv(spec.env_var, spec.key)
    project_id = _project_with_examples(ws)
    with pytest.raises(InvalidInputError, match=match):
        fine_tunes.create_fine_tune(ws, project_id, trainer=trainer, base_model="some-model", method=method,
                                    hyperparameters=hyperparameters, options=options)
    assert fine_tunes.list_fine_tunes(ws)[1] == 0 and jobs.list_jobs(ws)[1] == 0


def test_hyperparameter_aliases_are_stored_by_their_api_name(finetune_workspace: Workspace,
                                                              provider: Provider) -> None:
    ws = finetune_workspace
    with hosted_server(provider.fake(api_key=provider.key, script=Script(steps=1))) as server:
        alias = "n_epochs" if provider.trainer == "mistral" else "epochs"
        done = _create(ws, _project_with_examples(ws), provider, server, hyperparameters={alias: 3})
    stored = "epochs" if provider.trainer == "mistral" else "n_epochs"
    assert done.hyperparameters == {stored: 3} and done.method == (provider.method or "supervised")


def test_anthropic_fine_tuning_is_refused_as_not_supported(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project_id = _project_with_examples(ws)
    with pytest.raises(NotSupportedError, match="Anthropic offers no public fine-tuning API") as excinfo:
        fine_tunes.create_fine_tune(ws, project_id, trainer="anthropic", base_model="claude-3-haiku")
    assert "`together`" in excinfo.value.message and "Amazon Bedrock" in excinfo.value.message
    assert excinfo.value.error_code == "NOT_SUPPORTED"
    assert fine_tunes.list_fine_tunes(ws)[1] == 0 and jobs.list_jobs(ws)[1] == 0


def test_openai_takes_no_new_job_from_the_day_its_fine_tuning_ends(finetune_workspace: Workspace,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    ws = finetune_workspace
    for spec in (OPENAI, TOGETHER):
        monkeypatch.setenv(spec.env_var, spec.key)
    project_id = _project_with_examples(ws)
    monkeypatch.setenv("FINETUNE_OPENAI_FINE_TUNING_ENDS", date.today().isoformat())  # the day has come
    with hosted_server(FakeOpenAI(api_key=OPENAI.key, script=Script(steps=1))) as server:
        with pytest.raises(FineTuningUnavailableError, match=f"since {date.today().isoformat()}") as refused:
            fine_tunes.create_fine_tune(ws, project_id, trainer="openai", base_model=OPENAI.base_model,
                                        options={"base_url": server.url, **FAST})
        assert server.requests == []  # nothing uploaded, nothing created
    assert "together" in refused.value.context["alternatives"]
    assert fine_tunes.list_fine_tunes(ws)[1] == 0
    monkeypatch.setenv("FINETUNE_OPENAI_FINE_TUNING_ENDS", (date.today() + timedelta(days=1)).isoformat())
    with hosted_server(FakeOpenAI(api_key=OPENAI.key, script=Script(steps=1))) as server:
        created = _create(ws, project_id, OPENAI, server)  # the day before: taken
        assert fine_tunes.wait_for(ws, created.id, timeout_s=60).status is FineTuneStatus.COMPLETED


def test_openai_refusing_the_organisation_on_its_limits_call_is_a_409_before_any_upload(
        finetune_workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = finetune_workspace
    for spec in (OPENAI, TOGETHER):
        monkeypatch.setenv(spec.env_var, spec.key)
    monkeypatch.setenv("FINETUNE_OPENAI_FINE_TUNING_ENDS", (date.today() + timedelta(days=30)).isoformat())
    project_id = _project_with_examples(ws)
    reason = "Fine-tuning is not available to organizations without recent fine-tuned model usage."
    with hosted_server(FakeOpenAI(api_key=OPENAI.key, script=Script(steps=1), forbidden=reason)) as server:
        with pytest.raises(FineTuningUnavailableError, match="without recent fine-tuned model usage") as refused:
            fine_tunes.create_fine_tune(ws, project_id, trainer="openai", base_model=OPENAI.base_model,
                                        options={"base_url": server.url, **FAST})
        assert [(call.method, call.path) for call in server.requests] == [("GET", "/v1/fine_tuning/model_limits")]
    assert refused.value.error_code == "PROVIDER_FINE_TUNING_UNAVAILABLE"
    assert "together" in refused.value.context["alternatives"] and OPENAI.key not in str(refused.value.context)
    assert fine_tunes.list_fine_tunes(ws)[1] == 0 and jobs.list_jobs(ws)[1] == 0
    with hosted_server(FakeOpenAI(api_key=OPENAI.key, script=Script(steps=1))) as server:  # the call unknown: 404
        created = _create(ws, project_id, OPENAI, server)
        assert fine_tunes.wait_for(ws, created.id, timeout_s=60).status is FineTuneStatus.COMPLETED
        assert server.calls("GET", "fine_tuning/model_limits") and server.calls("POST", "files")


def test_mistral_takes_no_new_job_and_names_the_trainers_that_would(finetune_workspace: Workspace,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    ws = finetune_workspace
    for spec in (MISTRAL, TOGETHER):
        monkeypatch.setenv(spec.env_var, spec.key)
    monkeypatch.delenv(OPENAI.env_var, raising=False)
    project_id = _project_with_examples(ws)
    with hosted_server(FakeMistral(api_key=MISTRAL.key, script=Script(steps=1))) as server:
        with pytest.raises(FineTuningUnavailableError, match="deprecated") as refused:
            fine_tunes.create_fine_tune(ws, project_id, trainer="mistral", base_model=MISTRAL.base_model,
                                        options={"base_url": server.url, **FAST})
        assert server.requests == []  # nothing uploaded, nothing created
    assert refused.value.error_code == "PROVIDER_FINE_TUNING_UNAVAILABLE"
    assert "together" in refused.value.context["alternatives"]
    assert "openai" not in refused.value.context["alternatives"]  # no key for it here
    assert fine_tunes.list_fine_tunes(ws)[1] == 0 and jobs.list_jobs(ws)[1] == 0
    # the same project, one parameter changed, goes to a trainer that takes it
    with hosted_server(TOGETHER.fake(api_key=TOGETHER.key, script=Script(steps=1))) as server:
        moved = _create(ws, project_id, TOGETHER, server)
    assert fine_tunes.wait_for(ws, moved.id, timeout_s=60).status is FineTuneStatus.COMPLETED
