"""The whole pipeline over HTTP: a live `finetune serve`, a real redis-server and real `finetune worker` processes.

Register, log in, create a project, upload a PDF and a DOCX, chunk, generate through a fake
OpenAI-compatible server on 127.0.0.1 (killing the worker mid-generation: a new one finishes the
job with every example stored once), train a tiny local LoRA while reading the SSE stream, export
the model and download its zip, whose adapter loads with peft and generates.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from finetune_core.testing import made_up_text
from finetune_providers.testing import examples_text
from kits.chat_completions import Action, Call, FakeChatServer
from kits.documents import build_docx, build_pdf
from kits.workers import STALE_AFTER_S, free_port, kill_tree, running_redis, wait_until

pytest.importorskip("finetune_worker")
pytest.importorskip("finetune_web")
pytest.importorskip("finetune_local_gpu")
pytest.importorskip("peft")

FINETUNE = Path(sys.executable).parent / "finetune"
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600),
              pytest.mark.skipif(not FINETUNE.exists(), reason="the finetune console script is not installed")]

PASSWORD = "a long enough password"
PER_REQUEST = 2  # examples asked of the model per chunk and round
TARGET = 48  # examples the generation asks for: 24 requests
ANSWER_DELAY_S = 0.35  # the fake model's latency: generation lasts long enough to be killed halfway
TRAIN = {"max_steps": 8, "per_device_batch_size": 4, "gradient_accumulation_steps": 1, "learning_rate": 5e-3,
         "eval_steps": 4, "save_steps": 4, "max_seq_length": 256}


class Processes:
    """`finetune serve` and `finetune worker` subprocesses (each in its own process group), logs under one folder."""

    def __init__(self, logs: Path, env: dict[str, str]) -> None:
        self.logs, self.env = logs, env
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("ab") as log:
            process = subprocess.Popen([str(FINETUNE), *args], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        self.started.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        """Signal the process and all below it: a worker with its work horse and reaper, or gunicorn's workers."""
        kill_tree(process, sig)

    def output(self) -> str:
        return "\n".join(f"--- {path.name}\n{path.read_text(errors='replace')[-6000:]}"
                         for path in sorted(self.logs.glob("*.log")))

    def close(self) -> None:
        for process in self.started:
            if process.poll() is None:
                self.kill(process, signal.SIGTERM)


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    folder = tmp_path / "redis"
    folder.mkdir()
    with running_redis(folder) as url:
        yield url


@pytest.fixture
def model_server() -> Iterator[FakeChatServer]:
    def slowly(call: Call) -> Action:
        return Action(delay_s=ANSWER_DELAY_S)

    server = FakeChatServer(slowly).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def tiny_base(tmp_path: Path) -> Path:
    from kits.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path / "tiny-llama")


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {**os.environ, "FINETUNE_RATE_LIMITS": "off", "FINETUNE_JOB_STALE_AFTER_S": str(STALE_AFTER_S),
           "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    for name in ("REDIS_URL", "FINETUNE_REDIS_URL", "FINETUNE_DATABASE_URL", "FINETUNE_WORKSPACE"):
        env.pop(name, None)
    started = Processes(logs, env)
    try:
        yield started
    finally:
        started.close()


def start_server(processes: Processes, workspace: Path, redis_url: str) -> str:
    port = free_port()
    process = processes.start("serve", "--workspace", str(workspace), "serve", "--port", str(port), "--workers", "2",
                              "--threads", "4", "--redis-url", redis_url)
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert process.poll() is None, processes.output()
        try:
            return httpx.get(f"{base}/health", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(healthy, 90, "finetune serve to answer /health")
    return base


def start_worker(processes: Processes, workspace: Path, redis_url: str, name: str) -> subprocess.Popen[bytes]:
    return processes.start(name, "--workspace", str(workspace), "worker", "--queues", "default,gpu",
                           "--redis-url", redis_url, "--name", name, "--reap-interval", "0.5")


def documents() -> list[tuple[str, bytes, str]]:
    """A PDF and a DOCX of made-up sentences: ("files" part name, bytes, content type)."""
    pdf = build_pdf([made_up_text(seed, sentences=10) for seed in range(4)], title="Field notes")

    def fill(document: Any) -> None:
        document.add_heading("Workshop notes", level=1)
        for seed in range(10, 14):
            document.add_paragraph(made_up_text(seed, sentences=10))

    docx = build_docx(fill)
    return [("notes.pdf", pdf, "application/pdf"),
            ("workshop.docx", docx, "application/vnd.openxmlformats-officedocument.wordprocessingml.document")]


def finished(http: httpx.Client, job_id: str, timeout_s: float = 120) -> dict[str, Any]:
    """Poll GET /api/jobs/{id} until the job has ended; its last body."""
    last: dict[str, Any] = {}

    def ended() -> bool:
        nonlocal last
        last = http.get(f"/api/jobs/{job_id}").json()
        return last["status"] in ("success", "failed", "cancelled")

    wait_until(ended, timeout_s, f"job {job_id} to end")
    return last


def all_examples(http: httpx.Client, project_id: str) -> list[dict[str, Any]]:
    """Every example of the project, read in pages of 20 (the list envelope's limit and offset)."""
    examples: list[dict[str, Any]] = []
    while True:
        page = http.get(f"/api/projects/{project_id}/dataset/examples",
                        params={"limit": 20, "offset": len(examples)}).json()
        examples += page["items"]
        if not page["items"] or len(examples) >= page["total"]:
            assert len(examples) == page["total"]
            return examples


def sse_events(response: httpx.Response) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event, data) of a Server-Sent Events body, comments skipped."""
    name, data = "message", ""
    for line in response.iter_lines():
        if line.startswith(":"):
            continue
        if not line:
            if data:
                yield name, json.loads(data)
            name, data = "message", ""
        elif line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data += line.removeprefix("data: ")


def answered_examples(server: FakeChatServer) -> set[tuple[str, str]]:
    """(question, answer) of every example the fake model answered, over distinct (passage, round) requests."""
    pairs = set()
    for call in {call.key: call for call in server.answered}.values():
        for example in json.loads(examples_text(call.passage, call.round, call.count))["examples"]:
            pairs.add((example["question"], example["answer"]))
    return pairs


def test_the_pipeline_over_http_with_a_worker_killed_during_generation(
        tmp_path: Path, redis_url: str, model_server: FakeChatServer, tiny_base: Path, processes: Processes) -> None:
    workspace = tmp_path / "ws"
    # what an operator allows its web clients: the fake model server on loopback, and the tiny model's folder
    processes.env.update(FINETUNE_ALLOWED_MODEL_HOSTS=urlsplit(model_server.url).netloc,
                         FINETUNE_MODELS_DIR=str(tiny_base.parent))
    base = start_server(processes, workspace, redis_url)
    first_worker = start_worker(processes, workspace, redis_url, "worker-1")
    with httpx.Client(base_url=base, timeout=30) as http:
        # --- an account, a project ---------------------------------------------------------------------------
        health = http.get("/api/health").json()
        assert health["db"] == "connected" and health["redis"] == "connected", health
        assert http.post("/api/auth/register", json={"email": "e2e@example.com", "password": PASSWORD}
                         ).status_code == 201
        tokens = http.post("/api/auth/login", data={"username": "e2e@example.com", "password": PASSWORD}).json()
        http.headers["Authorization"] = f"Bearer {tokens['access_token']}"
        created = http.post("/api/projects", json={"name": "end to end", "config": {
            "chunk_size_tokens": 96, "chunk_overlap_tokens": 0, "examples_per_chunk": PER_REQUEST,
            "num_examples_target": TARGET, "train_eval_split": 0.8}})
        assert created.status_code == 201, created.text
        project_id = created.json()["id"]

        # --- sources and chunks ------------------------------------------------------------------------------
        uploaded = http.post(f"/api/projects/{project_id}/files/upload",
                             files=[("files", (name, data, kind)) for name, data, kind in documents()])
        assert uploaded.status_code == 201, uploaded.text
        loaded = finished(http, uploaded.json()["job_id"])  # a chunking started before that is refused (409)
        assert loaded["status"] == "success", (loaded, processes.output())
        chunking = http.post(f"/api/projects/{project_id}/chunks/generate", json={})
        assert chunking.status_code == 202, chunking.text
        chunked = finished(http, chunking.json()["job_id"])
        assert chunked["status"] == "success", (chunked, processes.output())
        chunks = http.get(f"/api/projects/{project_id}/chunks", params={"limit": 500}).json()
        by_file = {chunk["source_file_id"] for chunk in chunks["items"]}
        assert len(by_file) == 2 and chunks["total"] >= 8, chunks["total"]

        # --- generation, its worker killed halfway -----------------------------------------------------------
        generating = http.post(f"/api/projects/{project_id}/dataset/generate", json={
            "generator": "openai-compatible", "model": "fake-model", "base_url": model_server.url,
            "concurrency": 2})
        assert generating.status_code == 202, generating.text
        job_id = generating.json()["job_id"]
        wait_until(lambda: len(model_server.answered) >= 6, 60, "the fake model to answer six requests")
        processes.kill(first_worker)  # the worker, its work horse, its reaper: SIGKILL, nothing cleaned up
        at_kill = http.get(f"/api/jobs/{job_id}").json()
        stored_at_kill = http.get(f"/api/projects/{project_id}/dataset/stats").json()
        assert at_kill["status"] == "running", at_kill
        calls_at_kill = len(model_server.calls)
        start_worker(processes, workspace, redis_url, "worker-2")
        generated = finished(http, job_id)
        assert generated["status"] == "success", (generated, processes.output())
        assert generated["attempts"] >= 2  # run again by the second worker, not finished by the first
        assert len(model_server.calls) > calls_at_kill

        examples = all_examples(http, project_id)
        pairs = [(example["data"]["instruction"], example["data"]["output"]) for example in examples]
        assert len(pairs) == len(set(pairs)), "an example was stored twice"
        assert set(pairs) == answered_examples(model_server), "stored examples differ from the model's answers"
        assert len(examples) >= TARGET > stored_at_kill["total"]
        assert {example["split"] for example in examples} == {"train", "eval"}

        # --- training, read as it happens over SSE -----------------------------------------------------------
        started = http.post(f"/api/projects/{project_id}/train/start", json={
            "trainer": "local", "method": "lora", "base_model": str(tiny_base), "hyperparams": TRAIN,
            "options": {"device": "cpu"}})
        assert started.status_code == 202, started.text
        assert "gpu_queue" in started.json()["message"]
        events: list[tuple[str, dict[str, Any]]] = []
        with http.stream("GET", f"/api/projects/{project_id}/train/logs/stream",
                         timeout=httpx.Timeout(30, read=240)) as stream:
            assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
            for name, data in sse_events(stream):
                events.append((name, data))
                if name in ("complete", "error"):
                    break
        assert events[-1][0] == "complete", (events[-3:], processes.output())
        steps = [data["step"] for name, data in events if name == "log" and "step" in data]
        assert steps == list(range(1, TRAIN["max_steps"] + 1))
        losses = [data["train_loss"] for name, data in events if name == "log" and "step" in data]
        assert losses[-1] < losses[0]
        assert [data["step"] for name, data in events if name == "eval"] == [4, 8]
        assert all(data["perplexity"] > 1 for name, data in events if name == "eval")
        assert [data["step"] for name, data in events if name == "checkpoint"] == [4, 8]
        complete = events[-1][1]
        assert complete["status"] == "success" and complete["final_train_loss"] == losses[-1]
        assert complete["duration_seconds"] > 0 and complete["model_id"]
        status = http.get(f"/api/projects/{project_id}/train/status").json()
        assert status["status"] == "success" and status["model_id"] == complete["model_id"]

        # --- export and download -----------------------------------------------------------------------------
        exporting = http.post(f"/api/projects/{project_id}/export", json={})
        assert exporting.status_code == 202, exporting.text
        exported = finished(http, exporting.json()["job_id"])
        assert exported["status"] == "success", (exported, processes.output())
        listed = {item["filename"] for item in http.get(f"/api/projects/{project_id}/export/files").json()["files"]}
        download = http.get(f"/api/projects/{project_id}/export/download")
        assert download.status_code == 200 and download.headers["content-type"] == "application/zip"
        archive = zipfile.ZipFile(io.BytesIO(download.content))
        names = set(archive.namelist())
    for name in ("adapter_model.safetensors", "adapter_config.json", "training_config.json", "metrics.json",
                 "report.md"):
        assert name in names and name in listed, (name, names, listed)
    assert json.loads(archive.read("metrics.json"))["final"]["train_loss"] == losses[-1]
    assert any(name.endswith(".png") for name in names)  # the loss plot of report.md

    # the downloaded adapter loads on its base model and generates
    adapter = tmp_path / "downloaded"
    archive.extractall(adapter)
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_base), adapter)
    prompt = tokenizer("What does the text state", return_tensors="pt")
    output = model.generate(**prompt, max_new_tokens=5, do_sample=False)
    assert output.shape[1] > prompt["input_ids"].shape[1]
