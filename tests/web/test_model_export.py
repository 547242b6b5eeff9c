"""Export of a project's trained model (finetuneflow §9): POST …/export (a job), GET …/export/files and downloads.

Most tests train with kits.scripted_trainer's `scripted` trainer and export with a stand-in for the local-GPU
plugin's `export_model`; the last one trains with the `local` trainer (its training replaced by one that
writes the files a real run leaves) and exports with the plugin's own exporter.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from finetune_core.domain import FineTuneStatus, JobStatus
from finetune_core.plugins import Registry, registries
from finetune_core.services import jobs, model_exports
from finetune_core.training import TrainingRun
from finetune_core.workspace import Workspace
from flask.testing import FlaskClient
from kits.scripted_trainer import Script, dataset_project
from kits.web_api import Account, assert_error

export_plugin = pytest.importorskip("finetune_local_gpu.export")
ZIP_NAME = "finetuneflow_export.zip"


@pytest.fixture
def project_id(client: FlaskClient, alice: Account, workspace: Workspace) -> str:
    return dataset_project(client, alice, workspace)


@pytest.fixture
def fake_exporter(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """The plugin's export_model replaced: it writes two files and their zip where the plugin would."""
    calls: list[tuple[str, bool]] = []

    def export_model(workspace: Workspace, fine_tune_id: str, *, merge: bool = False,
                     out_dir: str | Path | None = None) -> Any:
        calls.append((fine_tune_id, merge))
        project_id = jobs.list_jobs(workspace, type="model_export")[0][0].project_id or ""
        folder = workspace.files.local_path(export_plugin.export_key(project_id, fine_tune_id))
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "adapter_config.json").write_text('{"r": 16}')
        (folder / "report.md").write_text("# report\n")
        with zipfile.ZipFile(folder / ZIP_NAME, "w") as archive:
            for name in ("adapter_config.json", "report.md"):
                archive.write(folder / name, name)
        names = ["adapter_config.json", "report.md", ZIP_NAME]
        return export_plugin.ExportedModel(fine_tune_id, folder, [(name, (folder / name).stat().st_size)
                                                                  for name in names])

    monkeypatch.setattr(export_plugin, "export_model", export_model)
    return calls


def trained(client: FlaskClient, account: Account, project_id: str, trainer: str = "scripted") -> dict[str, Any]:
    started = client.post(f"/api/projects/{project_id}/train/start", json={"trainer": trainer},
                          headers=account.headers)
    assert started.status_code == 202 and started.get_json()["status"] == "success", started.get_json()
    body: dict[str, Any] = started.get_json()
    return body


def url(project_id: str, tail: str = "") -> str:
    return f"/api/projects/{project_id}/export{tail}"


def test_nothing_trained_answers_409_no_trained_model(client: FlaskClient, alice: Account, scripted: type[Script],
                                                      project_id: str) -> None:
    for response in (client.post(url(project_id), headers=alice.headers),
                     client.get(url(project_id, "/files"), headers=alice.headers),
                     client.get(url(project_id, "/download"), headers=alice.headers),
                     client.get(url(project_id, "/download/report.md"), headers=alice.headers)):
        assert_error(response, 409, "NO_TRAINED_MODEL")
    scripted.fail_at = 2
    client.post(f"/api/projects/{project_id}/train/start", json={"trainer": "scripted"}, headers=alice.headers)
    assert_error(client.post(url(project_id), headers=alice.headers), 409, "NO_TRAINED_MODEL")  # failed: no model


def test_a_hosted_model_has_no_files_to_export(client: FlaskClient, alice: Account, project_id: str,
                                               workspace: Workspace, scripted: type[Script],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    original = TrainingRun.register_model

    def hosted(run: TrainingRun, **_ignored: Any) -> Any:
        return original(run, provider_model_id="ft:remote-model")

    monkeypatch.setattr(TrainingRun, "register_model", hosted)
    trained(client, alice, project_id)
    assert_error(client.post(url(project_id), headers=alice.headers), 409, "NO_TRAINED_MODEL")


def test_export_is_a_job_whose_files_are_listed_and_downloaded(client: FlaskClient, alice: Account,
                                                               scripted: type[Script], project_id: str,
                                                               workspace: Workspace,
                                                               fake_exporter: list[tuple[str, bool]]) -> None:
    run = trained(client, alice, project_id)
    assert client.get(url(project_id, "/files"), headers=alice.headers).get_json() == {
        "files": [], "items": [], "total": 0, "limit": 50, "offset": 0, "fine_tune_id": None,
        "job_id": None}  # trained, not exported yet
    assert_error(client.get(url(project_id, "/download"), headers=alice.headers), 404, "NO_EXPORT")

    accepted = client.post(url(project_id), json={"merge": True}, headers=alice.headers)
    assert accepted.status_code == 202
    body = accepted.get_json()
    assert (body["status"], body["message"]) == ("success", "Export job enqueued")  # inline: already done
    assert fake_exporter == [(run["run_id"], True)]
    job = jobs.get_job(workspace, body["job_id"])
    assert (job.type, job.queue, job.params["fine_tune_id"]) == ("model_export", "default", run["run_id"])

    files = client.get(url(project_id, "/files"), headers=alice.headers).get_json()
    assert files["fine_tune_id"] == run["run_id"] and files["job_id"] == job.id
    assert [item["filename"] for item in files["files"]] == ["adapter_config.json", "report.md", ZIP_NAME]
    assert files["files"][0]["size_bytes"] == len('{"r": 16}')
    assert (files["items"], files["total"], files["limit"], files["offset"]) == (files["files"], 3, 50, 0)

    one = client.get(url(project_id, "/download/adapter_config.json"), headers=alice.headers)
    assert one.status_code == 200 and one.data == b'{"r": 16}'
    assert one.mimetype == "application/octet-stream"
    assert 'attachment; filename=adapter_config.json' in one.headers["Content-Disposition"]
    archive = client.get(url(project_id, "/download"), headers=alice.headers)
    assert archive.status_code == 200 and archive.mimetype == "application/zip"
    assert ZIP_NAME in archive.headers["Content-Disposition"]
    assert zipfile.ZipFile(io.BytesIO(archive.data)).namelist() == ["adapter_config.json", "report.md"]


def test_the_file_list_has_the_list_envelope_and_pages_items(client: FlaskClient, alice: Account,
                                                            scripted: type[Script], project_id: str,
                                                            fake_exporter: list[tuple[str, bool]]) -> None:
    trained(client, alice, project_id)
    client.post(url(project_id), headers=alice.headers)
    every = ["adapter_config.json", "report.md", ZIP_NAME]
    second = client.get(url(project_id, "/files?limit=1&offset=1"), headers=alice.headers).get_json()
    assert [item["filename"] for item in second["items"]] == ["report.md"]
    assert (second["total"], second["limit"], second["offset"]) == (3, 1, 1)
    assert [item["filename"] for item in second["files"]] == every  # finetuneflow's key: always the whole list
    past = client.get(url(project_id, "/files?offset=3"), headers=alice.headers).get_json()
    assert past["items"] == [] and past["total"] == 3 and len(past["files"]) == 3
    for query in ("limit=0", "limit=501", "offset=-1", "limit=many"):
        assert_error(client.get(url(project_id, f"/files?{query}"), headers=alice.headers), 422)


@pytest.mark.parametrize("name", ["secret.txt", "../../../finetune.db", "..%2F..%2Ffinetune.db",
                                  "/etc/passwd", "adapter_config.json/.."])
def test_only_listed_files_are_served(client: FlaskClient, alice: Account, scripted: type[Script], project_id: str,
                                      workspace: Workspace, fake_exporter: list[tuple[str, bool]], name: str) -> None:
    trained(client, alice, project_id)
    client.post(url(project_id), headers=alice.headers)
    folder = workspace.files.local_path(model_exports.latest_export(workspace, project_id).folder)  # type: ignore[union-attr]
    (folder / "secret.txt").write_text("not exported")
    response = client.get(url(project_id, f"/download/{name}"), headers=alice.headers, follow_redirects=True)
    assert response.status_code == 404, response.data
    assert b"not exported" not in response.data


def test_a_file_gone_since_is_404_and_others_see_nothing(client: FlaskClient, alice: Account, bob: Account,
                                                         scripted: type[Script], project_id: str,
                                                         workspace: Workspace,
                                                         fake_exporter: list[tuple[str, bool]]) -> None:
    trained(client, alice, project_id)
    client.post(url(project_id), headers=alice.headers)
    folder = workspace.files.local_path(model_exports.latest_export(workspace, project_id).folder)  # type: ignore[union-attr]
    (folder / "report.md").unlink()
    assert_error(client.get(url(project_id, "/download/report.md"), headers=alice.headers), 404)
    for response in (client.post(url(project_id), headers=bob.headers),
                     client.get(url(project_id, "/files"), headers=bob.headers),
                     client.get(url(project_id, "/download"), headers=bob.headers)):
        assert_error(response, 404)
    assert_error(client.get(url(project_id, "/files")), 401)


def test_without_the_plugin_export_is_501_and_a_worker_fails_the_job_saying_why(
        client: FlaskClient, alice: Account, scripted: type[Script], project_id: str, workspace: Workspace,
        monkeypatch: pytest.MonkeyPatch) -> None:
    run = trained(client, alice, project_id)
    monkeypatch.setattr(registries(), "model_tools", Registry("model tool"))  # as if no plugin registered any
    assert_error(client.post(url(project_id), headers=alice.headers), 501, "PLUGIN_NOT_INSTALLED")
    job = jobs.enqueue(workspace, "model_export", project_id=project_id, fine_tune_id=run["run_id"])
    failed = jobs.get_job(workspace, job.id)
    assert failed.status is JobStatus.FAILED and "finetune-local-gpu" in (failed.error_message or "")


def fake_local_training(run: TrainingRun) -> None:
    """What a real local run leaves behind (the plugin's artifacts layout), without torch."""
    from finetune_local_gpu.training.artifacts import RunFiles, artifacts_key

    run.set_status(FineTuneStatus.TRAINING)
    files = RunFiles(run.artifacts_dir())
    files.final.mkdir(parents=True, exist_ok=True)
    (files.final / "adapter_config.json").write_text(json.dumps({"r": 16, "lora_alpha": 32}))
    (files.final / "adapter_model.safetensors").write_bytes(b"\0" * 64)
    (files.final / "README.md").write_text("stub model card")
    files.training_config.write_text(json.dumps({"hyperparameters": run.fine_tune.hyperparameters,
                                                 "dataset": {"train_examples": 4, "eval_examples": 2}}))
    points = [{"step": step, "train_loss": 2.0 / step} for step in (1, 2)]
    final = {"step": 2, "train_loss": 1.0, "eval_loss": 1.2}
    files.metrics.write_text(json.dumps({"train": points, "eval": [{"step": 2, "eval_loss": 1.2}], "final": final}))
    run.report(progress=100.0, **final)
    run.register_model(artifact_path=f"{artifacts_key(run.fine_tune.id)}/final", metrics=final)


def test_the_local_plugins_exporter_end_to_end(client: FlaskClient, alice: Account, project_id: str,
                                               workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from finetune_local_gpu.training.trainer import LocalTrainer

    monkeypatch.setattr(LocalTrainer, "train", lambda self, run: fake_local_training(run))
    run = trained(client, alice, project_id, trainer="local")
    accepted = client.post(url(project_id), headers=alice.headers).get_json()
    job = jobs.get_job(workspace, accepted["job_id"])
    assert job.status is JobStatus.SUCCESS, job.error_message
    assert job.queue == "gpu"  # where the local trainer ran, so where its files are
    listed = client.get(url(project_id, "/files"), headers=alice.headers).get_json()
    names = [item["filename"] for item in listed["files"]]
    assert {"adapter_config.json", "adapter_model.safetensors", "training_config.json", "metrics.json",
            "report.md"} <= set(names) and names[-1] == ZIP_NAME and "README.md" not in names
    assert listed["fine_tune_id"] == run["run_id"]
    report = client.get(url(project_id, "/download/report.md"), headers=alice.headers)
    assert report.status_code == 200 and b"## Final metrics" in report.data
    archive = zipfile.ZipFile(io.BytesIO(client.get(url(project_id, "/download"), headers=alice.headers).data))
    assert set(archive.namelist()) == set(names) - {ZIP_NAME}
