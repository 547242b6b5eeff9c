"""The `fireworks` hosted trainer end to end against a fake Fireworks API on 127.0.0.1, and DPO (option `method=dpo`)
for Fireworks, Together AI and OpenAI.

Each fine-tuning runs through the core (`fine_tunes.create_fine_tune`), the trainer found by name through the
providers' entry point. The DPO runs train on ranked preference examples (the chosen answer in the assistant turn,
`metadata["rejected"]` the other) exported by the core's `openai-preference` exporter; `preference_export` records
the formats the trainer asks for (and stands in for that exporter where a checkout does not have it yet).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from finetune_core import Workspace
from finetune_core.domain import Example, FineTune, FineTuneStatus, JobStatus, Message
from finetune_core.errors import InvalidApiKeyError, InvalidInputError, NoPreferencePairsError
from finetune_core.jobs import InProcessRunner
from finetune_core.jobs.execute import execute_job
from finetune_core.services import fine_tunes, jobs, trainers
from finetune_core.services.keys import set_key
from finetune_core.testing import open_test_workspace
from finetune_core.training import TrainingRun
from finetune_providers.training.fireworks_trainer import metric_points, resource_id
from kits.hosted_providers import (
    FakeFireworks,
    FakeOpenAI,
    FakeTogether,
    HostedServer,
    Reply,
    Request,
    Script,
    hosted_server,
    loss,
    valid_loss,
)

KEY = "fw_" + "T3stKey9" * 3
ENV_VARS = ("FIREWORKS_API_KEY", "FIREWORKS_ACCOUNT_ID", "OPENAI_API_KEY", "TOGETHER_API_KEY", "MISTRAL_API_KEY")
OTHER_KEYS = {"OPENAI_API_KEY": "sk-test-" + "a1B2" * 6, "TOGETHER_API_KEY": "tgp_v1_" + "x9Y8" * 10,
              "MISTRAL_API_KEY": "Ab3" * 10 + "Zz"}
FAST = {"poll_interval_s": 0.01, "retry_initial_s": 0.01, "retry_max_s": 0.05}
BASE_MODEL = "llama-v3p1-8b-instruct"
HYPERPARAMETERS = {"epochs": 2, "lora_rank": 8, "learning_rate": 0.0001}
PREFERENCE = "openai-preference"
DISPREFERRED = "I would rather not say."


class WorkerDied(BaseException):
    """Escapes every handler, as a killed worker would stop everything."""


@pytest.fixture(autouse=True)
def _fireworks_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FIREWORKS_API_KEY", KEY)


@pytest.fixture
def crash_workspace(tmp_path: Path) -> Iterator[Workspace]:
    ws = open_test_workspace(tmp_path / "ws", job_stale_after_s=0.01)
    try:
        yield ws
    finally:
        ws.close()


@pytest.fixture
def preference_export(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """`run.dataset_file`, recording every format asked for in the list returned."""
    asked: list[str] = []
    real = TrainingRun.dataset_file

    def dataset_file(run: TrainingRun, split: str, format: str) -> Path | None:
        asked.append(format)
        return real(run, split, format)

    monkeypatch.setattr(TrainingRun, "dataset_file", dataset_file)
    return asked


def _project_with_examples(ws: Workspace, count: int = 6) -> str:
    project = ws.create_project("handbook")
    examples = [Example(project_id=project.id, request_key=f"manual:{i}", split="train" if i % 3 else "eval",
                        messages=[Message(role="user", content=f"What is item {i}?"),
                                  Message(role="assistant", content=f"Item {i} is the number {i} of the list.")])
                for i in range(count)]
    with ws.unit_of_work() as uow:
        uow.examples.add(examples)
    return project.id


def _project_with_preferences(ws: Workspace, *, eval_pairs: bool = True) -> str:
    """Ranked preference examples (4 train, 2 eval; the eval ones plain chat examples unless `eval_pairs`)."""
    project = ws.create_project("preferences")
    examples = []
    for i in range(6):
        split = "train" if i % 3 else "eval"
        chosen = f"Item {i} is the number {i} of the list."
        ranked = {"candidates": [chosen, DISPREFERRED], "rejected": DISPREFERRED, "chosen_score": 5,
                  "rejected_score": 2, "margin": 3, "tie": False, "ranked_by": "grounding"}
        examples.append(Example(project_id=project.id, request_key=f"manual:{i}", split=split,
                                messages=[Message(role="user", content=f"What is item {i}?"),
                                          Message(role="assistant", content=chosen)],
                                metadata=ranked if split == "train" or eval_pairs else {}))
    with ws.unit_of_work() as uow:
        uow.examples.add(examples)
    return project.id


def _create(ws: Workspace, project_id: str, server: HostedServer, *, hyperparameters: dict[str, Any] | None = None,
            objective: str | None = None, **options: Any) -> FineTune:
    """A `fireworks` fine-tuning on the fake; `objective` is the option `method` (sft, dpo); an option None is
    left out."""
    options = {"base_url": server.url, "account_id": "acme", "method": objective, **FAST, **options}
    return fine_tunes.create_fine_tune(
        ws, project_id, trainer="fireworks", base_model=BASE_MODEL,
        hyperparameters=HYPERPARAMETERS if hyperparameters is None else hyperparameters,
        options={key: value for key, value in options.items() if value is not None})


def _events(ws: Workspace, fine_tune: FineTune) -> list[dict[str, Any]]:
    return [event.data for event in jobs.events(ws, fine_tune.job_id or "")]


def _log_steps(ws: Workspace, fine_tune: FineTune) -> list[int]:
    return [e.data["step"] for e in jobs.events(ws, fine_tune.job_id or "") if e.type == "log" and "step" in e.data]


def _messages(ws: Workspace, fine_tune: FineTune) -> list[str]:
    return [str(data.get("message")) for data in _events(ws, fine_tune)]


def _is_preference_line(row: dict[str, Any]) -> bool:
    return (set(row) == {"input", "preferred_output", "non_preferred_output"}
            and row["input"]["messages"][-1]["role"] == "user"
            and [m["role"] for m in row["preferred_output"]] == ["assistant"]
            and row["non_preferred_output"] == [{"role": "assistant", "content": DISPREFERRED}])


# --- a whole run ----------------------------------------------------------------------------------

def test_a_fireworks_fine_tuning_uploads_creates_follows_and_registers_its_model(
        finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    with hosted_server(FakeFireworks(api_key=KEY, script=Script(steps=3))) as server:
        done = _create(ws, _project_with_examples(ws), server)
        assert done.status is FineTuneStatus.COMPLETED, done.error_message
        datasets = server.calls("POST", "accounts/acme/datasets")
        uploads = {name: server.calls("POST", f"{name}:upload") for name in server.provider.datasets}
        [create] = server.calls("POST", "accounts/acme/supervisedFineTuningJobs")
        downloads = server.provider.downloads
        api_calls = [r for r in server.requests if not r.path.startswith("/signed/")]

    ft = f"finetune-{done.id}"
    assert [d.json for d in datasets] == [
        {"datasetId": f"{ft}-{split}", "dataset": {"displayName": f"{done.id}-{split}.jsonl",
                                                   "exampleCount": count, "userUploaded": {}, "format": "CHAT"}}
        for split, count in (("train", "4"), ("eval", "2"))]
    assert {name: len(calls) for name, calls in uploads.items()} == {
        f"accounts/acme/datasets/{ft}-train": 1, f"accounts/acme/datasets/{ft}-eval": 1}  # each uploaded once
    train = uploads[f"accounts/acme/datasets/{ft}-train"][0].jsonl()
    assert len(train) == 4 and all(set(row) == {"messages"} for row in train)
    assert create.query == {"supervisedFineTuningJobId": ft}
    assert create.json == {"dataset": f"accounts/acme/datasets/{ft}-train",
                           "evaluationDataset": f"accounts/acme/datasets/{ft}-eval", "displayName": done.name,
                           "baseModel": f"accounts/fireworks/models/{BASE_MODEL}", "epochs": 2, "loraRank": 8,
                           "learningRate": 0.0001}
    assert done.external_id == f"accounts/acme/supervisedFineTuningJobs/{ft}"
    assert done.method == "lora" and done.hyperparameters == {"epochs": 2, "loraRank": 8, "learningRate": 0.0001}
    assert done.progress == 100.0 and done.error_message is None
    assert done.metrics == {"step": 3, "total_steps": 3, "train_loss": loss(3), "valid_loss": valid_loss(3)}
    model = fine_tunes.get_model(ws, done.model_id or "")
    assert model.provider_model_id == f"accounts/acme/models/{ft}" and model.provider == "fireworks"
    assert _log_steps(ws, done) == [1, 2, 3]  # every step once, though the metrics file is read whole each poll
    losses = [(e["train_loss"], e["valid_loss"]) for e in _events(ws, done) if "step" in e and "message" not in e]
    assert losses == [(loss(s), valid_loss(s)) for s in (1, 2, 3)]
    assert [e["status"] for e in _events(ws, done) if "status" in e] == ["preparing", "training", "completed"]
    assert [e["remote_status"] for e in _events(ws, done) if "remote_status" in e] == [
        "JOB_STATE_VALIDATING", "JOB_STATE_RUNNING", "JOB_STATE_COMPLETED"]
    assert {r.headers.get("authorization") for r in api_calls} == {f"Bearer {KEY}"}
    assert downloads and all("authorization" not in r.headers for r in downloads)  # the key stays with the API
    assert jobs.get_job(ws, done.job_id or "").status is JobStatus.SUCCESS


def test_lost_answers_create_neither_a_dataset_nor_a_job_twice(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    seen: dict[str, int] = {}

    def decide(request: Request) -> Reply | None:
        kind = f"{request.method} {request.path.rsplit(':', 1)[-1] if ':' in request.path else request.path}"
        seen[kind] = count = seen.get(kind, 0) + 1
        if kind in ("POST /v1/accounts/acme/datasets", "POST upload",
                    "POST /v1/accounts/acme/supervisedFineTuningJobs") and count == 1:
            return Reply(lost=True)  # done at the provider; the answer never arrives
        return None

    with hosted_server(FakeFireworks(api_key=KEY), decide) as server:
        done = _create(ws, _project_with_examples(ws), server)
        assert done.status is FineTuneStatus.COMPLETED, done.error_message
        assert len(server.provider.datasets) == 2 and len(server.provider.jobs) == 1
        assert len(server.calls("POST", "accounts/acme/supervisedFineTuningJobs")) == 1  # found, not sent again
    assert f"Fireworks AI: job {done.external_id} found again (created before an interruption)" in _messages(ws, done)


def test_a_worker_that_died_right_after_creating_the_job_finds_it_again(
        crash_workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = crash_workspace
    real_remember = TrainingRun.remember
    died: list[bool] = []

    def remember(run: TrainingRun, *, external_id: str | None = None, **state: Any) -> None:
        if external_id is not None and not died:
            died.append(True)
            raise WorkerDied  # the job exists at Fireworks; its name was never stored
        real_remember(run, external_id=external_id, **state)

    monkeypatch.setattr(TrainingRun, "remember", remember)
    project_id = _project_with_examples(ws)
    with hosted_server(FakeFireworks(api_key=KEY)) as server:
        with pytest.raises(WorkerDied):
            _create(ws, project_id, server)
        [orphan], _ = fine_tunes.list_fine_tunes(ws)
        assert orphan.external_id is None and orphan.state["creating"] is True
        time.sleep(0.05)  # the heartbeat goes stale: another worker may take the job
        assert execute_job(ws, orphan.job_id or "") is JobStatus.SUCCESS
        assert len(server.calls("POST", "accounts/acme/datasets")) == 2
        assert len(server.calls("POST", "accounts/acme/supervisedFineTuningJobs")) == 1
        [job_name] = server.provider.jobs
    resumed = fine_tunes.get_fine_tune(ws, orphan.id)
    assert resumed.status is FineTuneStatus.COMPLETED and resumed.external_id == job_name
    assert _log_steps(ws, resumed) == [1, 2, 3]
    assert f"Fireworks AI: job {job_name} found again (created before an interruption)" in _messages(ws, resumed)
    assert fine_tunes.list_models(ws)[1] == 1


def test_a_run_whose_worker_died_while_training_resumes_the_same_job(
        crash_workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = crash_workspace
    real_wait = TrainingRun.wait
    died: list[bool] = []

    def wait(run: TrainingRun, seconds: float) -> None:
        if not died and int(run.state.get("last_step") or 0) >= 2:
            died.append(True)
            raise WorkerDied
        real_wait(run, seconds)

    monkeypatch.setattr(TrainingRun, "wait", wait)
    with hosted_server(FakeFireworks(api_key=KEY, script=Script(steps=4))) as server:
        with pytest.raises(WorkerDied):
            _create(ws, _project_with_examples(ws), server)
        [orphan], _ = fine_tunes.list_fine_tunes(ws)
        time.sleep(0.05)
        assert execute_job(ws, orphan.job_id or "") is JobStatus.SUCCESS
        assert len(server.calls("POST", "accounts/acme/supervisedFineTuningJobs")) == 1
    assert _log_steps(ws, orphan) == [1, 2, 3, 4]  # nothing twice


# --- failure and cancel ---------------------------------------------------------------------------

def test_a_job_fireworks_fails_ends_in_error_with_its_message(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    with hosted_server(FakeFireworks(api_key=KEY, script=Script(fail_message="row 3 has no assistant turn"))) \
            as server:
        created = _create(ws, _project_with_examples(ws), server)
    failed = fine_tunes.get_fine_tune(ws, created.id)
    assert failed.status is FineTuneStatus.ERROR and failed.model_id is None
    assert failed.error_message == "Fireworks AI: row 3 has no assistant turn"


def test_cancel_mid_training_stops_the_remote_job(tmp_path: Path) -> None:
    ws = open_test_workspace(tmp_path / "ws", runner=InProcessRunner(2))
    try:
        with hosted_server(FakeFireworks(api_key=KEY, script=Script(endless=True))) as server:
            created = _create(ws, _project_with_examples(ws), server)
            deadline = time.monotonic() + 120  # a bound, never a pace
            while fine_tunes.get_fine_tune(ws, created.id).metrics.get("step", 0) < 2:
                assert time.monotonic() < deadline, "the run never reached step 2"
                time.sleep(0.02)
            fine_tunes.cancel_fine_tune(ws, created.id)
            ended = fine_tunes.wait_for(ws, created.id, timeout_s=120)
            assert ended.status is FineTuneStatus.CANCELLED and ended.model_id is None
            assert server.provider.cancelled == [ended.external_id]
            assert len(server.calls("POST", f"{ended.external_id}:cancel")) == 1
        assert f"Fireworks AI: cancel requested for the job {ended.external_id}" in _messages(ws, ended)
    finally:
        ws.close()


def test_a_job_cancelled_at_fireworks_ends_cancelled(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    with hosted_server(FakeFireworks(api_key=KEY, script=Script(steps=5, cancelled_at_step=2))) as server:
        created = _create(ws, _project_with_examples(ws), server)
    ended = fine_tunes.get_fine_tune(ws, created.id)
    assert ended.status is FineTuneStatus.CANCELLED and ended.model_id is None
    assert f"Fireworks AI: the job {ended.external_id} was cancelled at the provider" in _messages(ws, ended)


def test_a_refused_key_fails_at_once_naming_the_provider_not_the_key(finetune_workspace: Workspace,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    ws = finetune_workspace
    monkeypatch.delenv("FIREWORKS_API_KEY")
    stored = KEY[:-4] + "QQQQ"
    set_key(ws, "fireworks", stored)
    with hosted_server(FakeFireworks(api_key=KEY)) as server:
        created = _create(ws, _project_with_examples(ws), server)
        assert len(server.requests) == 1
    failed = fine_tunes.get_fine_tune(ws, created.id)
    assert failed.error_message == ("the Fireworks AI key was refused (401); store another with "
                                    "`finetune keys set fireworks` or set FIREWORKS_API_KEY")
    assert stored[:12] not in str(_events(ws, failed))


# --- the account ----------------------------------------------------------------------------------

def test_without_an_account_id_the_only_account_of_the_key_is_used(finetune_workspace: Workspace,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    ws = finetune_workspace
    with hosted_server(FakeFireworks(api_key=KEY, accounts=("solo",), script=Script(steps=1))) as server:
        done = _create(ws, _project_with_examples(ws), server, account_id=None)
        assert len(server.calls("GET", "accounts")) == 1  # asked once, then remembered
    assert done.status is FineTuneStatus.COMPLETED and done.external_id == f"accounts/solo/supervisedFineTuningJobs/" \
        f"finetune-{done.id}"
    assert done.state["fireworks_account"] == "solo"

    monkeypatch.setenv("FIREWORKS_ACCOUNT_ID", "team")
    project_id = ws.create_project("second").id
    with ws.unit_of_work() as uow:
        uow.examples.add([Example(project_id=project_id, split="train", messages=[
            Message(role="user", content="Hi?"), Message(role="assistant", content="Hello.")])])
    with hosted_server(FakeFireworks(api_key=KEY, accounts=("team", "other"), script=Script(steps=1))) as server:
        second = _create(ws, project_id, server, account_id=None)
        assert server.calls("GET", "accounts") == []
    assert second.external_id == f"accounts/team/supervisedFineTuningJobs/finetune-{second.id}"


def test_a_key_with_several_accounts_and_no_account_id_ends_in_error(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    with hosted_server(FakeFireworks(api_key=KEY, accounts=("one", "two"))) as server:
        created = _create(ws, _project_with_examples(ws), server, account_id=None)
        assert server.provider.datasets == {}
    failed = fine_tunes.get_fine_tune(ws, created.id)
    assert failed.status is FineTuneStatus.ERROR
    assert failed.error_message == ("Fireworks AI: this key reaches 2 accounts (one, two): give the account with "
                                    "the option account_id or set FIREWORKS_ACCOUNT_ID")


# --- DPO ------------------------------------------------------------------------------------------

def test_fireworks_dpo_uploads_preference_pairs_and_creates_a_dpo_job(finetune_workspace: Workspace,
                                                                     preference_export: list[str]) -> None:
    ws = finetune_workspace
    with hosted_server(FakeFireworks(api_key=KEY, script=Script(steps=3))) as server:
        done = _create(ws, _project_with_preferences(ws), server, objective="dpo",
                       hyperparameters={"epochs": 1, "lora_rank": 16, "beta": 0.2})
        assert done.status is FineTuneStatus.COMPLETED, done.error_message
        [dataset] = server.calls("POST", "accounts/acme/datasets")
        [upload] = server.calls("POST", f"accounts/acme/datasets/finetune-{done.id}-train:upload")
        [create] = server.calls("POST", "accounts/acme/dpoJobs")
        assert server.calls("POST", "accounts/acme/supervisedFineTuningJobs") == []
        assert server.calls("GET", f"{done.external_id}:getMetricsFileEndpoint")
        assert server.provider.downloads and all("authorization" not in r.headers for r in server.provider.downloads)

    ft = f"finetune-{done.id}"
    assert preference_export == [PREFERENCE]  # the train split only: a DPO job takes no evaluation dataset
    assert "format" not in dataset.json["dataset"]
    rows = upload.jsonl()
    assert len(rows) == 4 and all(_is_preference_line(row) for row in rows)
    assert create.query == {"dpoJobId": ft}
    assert create.json == {"dataset": f"accounts/acme/datasets/{ft}-train", "displayName": done.name,
                           "trainingConfig": {"baseModel": f"accounts/fireworks/models/{BASE_MODEL}", "epochs": 1,
                                              "loraRank": 16},
                           "lossConfig": {"klBeta": 0.2}}
    assert done.external_id == f"accounts/acme/dpoJobs/{ft}"
    assert fine_tunes.get_model(ws, done.model_id or "").provider_model_id == f"accounts/acme/models/{ft}"
    assert _log_steps(ws, done) == [1, 2, 3]


def test_together_dpo_sends_the_dpo_training_method_with_preference_files(finetune_workspace: Workspace,
                                                                          monkeypatch: pytest.MonkeyPatch,
                                                                          preference_export: list[str]) -> None:
    ws = finetune_workspace
    monkeypatch.setenv("TOGETHER_API_KEY", OTHER_KEYS["TOGETHER_API_KEY"])
    with hosted_server(FakeTogether(api_key=OTHER_KEYS["TOGETHER_API_KEY"], script=Script(steps=2))) as server:
        done = fine_tunes.create_fine_tune(
            ws, _project_with_preferences(ws), trainer="together", base_model="meta-llama/Meta-Llama-3.1-8B-Instruct",
            hyperparameters={"n_epochs": 1, "beta": 0.3, "lora_r": 8},
            options={"base_url": server.url, "method": "dpo", **FAST})
        assert done.status is FineTuneStatus.COMPLETED, done.error_message
        uploads = server.calls("POST", "files/upload")
        [create] = server.calls("POST", "fine-tunes")
    assert preference_export == [PREFERENCE, PREFERENCE]
    assert len(uploads) == 2 and all(_is_preference_line(row) for upload in uploads for row in upload.jsonl())
    assert create.json["training_method"] == {"method": "dpo", "dpo_beta": 0.3}
    assert create.json["training_type"] == {"type": "Lora", "lora_r": 8, "lora_alpha": 16}
    assert create.json["n_epochs"] == 1 and "dpo_beta" not in create.json
    assert done.hyperparameters == {"n_epochs": 1, "dpo_beta": 0.3, "lora_r": 8}


def test_openai_dpo_sends_the_dpo_method_with_preference_files(finetune_workspace: Workspace,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               preference_export: list[str]) -> None:
    ws = finetune_workspace
    monkeypatch.setenv("OPENAI_API_KEY", OTHER_KEYS["OPENAI_API_KEY"])
    with hosted_server(FakeOpenAI(api_key=OTHER_KEYS["OPENAI_API_KEY"], script=Script(steps=2))) as server:
        done = fine_tunes.create_fine_tune(
            ws, _project_with_preferences(ws, eval_pairs=False), trainer="openai",
            base_model="gpt-4o-mini-2024-07-18", hyperparameters={"beta": 0.1, "n_epochs": 1},
            options={"base_url": server.url, "method": "dpo", **FAST})
        assert done.status is FineTuneStatus.COMPLETED, done.error_message
        [upload] = server.calls("POST", "files")  # the eval split has no ranked pair: trained without validation
        [create] = server.calls("POST", "fine_tuning/jobs")
    assert preference_export == [PREFERENCE, PREFERENCE]
    rows = upload.jsonl()
    assert len(rows) == 4 and all(_is_preference_line(row) for row in rows)
    assert create.json["method"] == {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.1, "n_epochs": 1}}}
    assert "validation_file" not in create.json


def test_a_dpo_fine_tuning_without_ranked_pairs_is_refused_before_anything_is_sent(
        finetune_workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = finetune_workspace
    monkeypatch.setenv("TOGETHER_API_KEY", OTHER_KEYS["TOGETHER_API_KEY"])
    project_id = _project_with_examples(ws)
    with hosted_server(FakeTogether(api_key=OTHER_KEYS["TOGETHER_API_KEY"])) as server:
        with pytest.raises(NoPreferencePairsError) as refused:
            fine_tunes.create_fine_tune(
                ws, project_id, trainer="together", base_model="meta-llama/Meta-Llama-3.1-8B-Instruct",
                options={"base_url": server.url, "method": "dpo", **FAST})
        assert server.requests == []  # nothing uploaded, no job
    assert refused.value.error_code == "NO_PREFERENCE_PAIRS"
    assert "ranked preference pair" in refused.value.message
    assert fine_tunes.list_fine_tunes(ws, project_id=project_id)[0] == []  # nothing stored either


# --- refused before anything is stored --------------------------------------------------------------

@pytest.mark.parametrize(("trainer", "method", "hyperparameters", "options", "match"), [
    ("mistral", None, {}, {"method": "dpo"}, r"the Mistral trainer does not do DPO .*accepted: sft"),
    ("fireworks", None, {}, {"method": "ppo"}, "method: Input should be 'sft' or 'dpo'"),
    ("fireworks", None, {"beta": 0.1}, {}, r"'klBeta' are for the method 'dpo' only \(option method='sft'\)"),
    ("fireworks", None, {"early_stop": True}, {"method": "dpo"}, "'earlyStop' are for the method 'sft' only"),
    ("together", None, {"dpo_beta": 0.1}, {}, "'dpo_beta' are for the method 'dpo' only"),
    ("openai", None, {"beta": 0.1}, {}, "'beta' are for the method 'dpo' only"),
    ("openai", "dpo", {}, {}, r"no method 'dpo' \(accepted: supervised\); SFT or DPO is chosen with the option"),
    ("fireworks", "full", {}, {}, r"no method 'full' \(accepted: lora\)"),
    ("fireworks", None, {"lora_rank": 0}, {}, "loraRank: Input should be greater than or equal to 1"),
    ("fireworks", None, {"warmup": 3}, {}, r"no hyperparameter 'warmup' \(accepted: .*lora_rank"),
    ("fireworks", None, {}, {"account_id": "Not Valid"}, "account_id: String should match pattern"),
    ("fireworks", None, {}, {"suffix": "a-suffix-far-too-long"}, "at most 17 characters"),
])
def test_bad_requests_are_refused_before_anything_is_stored(
        finetune_workspace: Workspace, monkeypatch: pytest.MonkeyPatch, trainer: str, method: str | None,
        hyperparameters: dict[str, Any], options: dict[str, Any], match: str) -> None:
    ws = finetune_workspace
    for name, key in OTHER_KEYS.items():
        monkeypatch.setenv(name, key)
    project_id = _project_with_examples(ws)
    with pytest.raises(InvalidInputError, match=match):
        fine_tunes.create_fine_tune(ws, project_id, trainer=trainer, base_model="some-model", method=method,
                                    hyperparameters=hyperparameters, options=options)
    assert fine_tunes.list_fine_tunes(ws)[1] == 0 and jobs.list_jobs(ws)[1] == 0


# --- listed with the others -------------------------------------------------------------------------

def test_fireworks_is_listed_as_a_trainer_and_a_key_provider(finetune_workspace: Workspace,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    ws = finetune_workspace
    [choice] = [c for c in trainers.availability(ws, None) if c.name == "fireworks"]
    assert (choice.label, choice.methods, choice.needs_key, choice.available) == (
        "Fireworks AI", ["lora"], "fireworks", True)
    monkeypatch.delenv("FIREWORKS_API_KEY")
    [choice] = [c for c in trainers.availability(ws, None) if c.name == "fireworks"]
    assert not choice.available and choice.reason == "no Fireworks AI API key"
    spec = ws.plugins.providers.get("fireworks")
    assert (spec.label, spec.env_var, spec.prefix) == ("Fireworks AI", "FIREWORKS_API_KEY", "fw_")
    with pytest.raises(InvalidApiKeyError, match="expected format"):
        set_key(ws, "fireworks", "fw_short")
    set_key(ws, "fireworks", KEY)


def test_the_metrics_file_is_read_whatever_its_nesting_and_bad_lines_are_skipped() -> None:
    content = b"\n".join([
        b'{"step": 1, "max_steps": 4, "data": {"train/loss": 1.5}}',
        b"not json",
        b'{"step": 2, "loss": 1.25, "eval_loss": 1.4, "total_steps": 4}',
        b'{"step": 0, "loss": 9}',
        b'{"step": 3, "metrics": {"train_loss": 1.0, "valid_loss": 1.2}}',
    ])
    points = metric_points(content)
    assert [(p.step, p.train_loss, p.valid_loss, p.total_steps) for p in points] == [  # type: ignore[union-attr]
        (1, 1.5, None, 4), (2, 1.25, 1.4, 4), (3, 1.0, 1.2, None)]
    assert resource_id("Hand_Book.v2--X") == "hand-book-v2-x"
