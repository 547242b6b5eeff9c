"""The real `finetune` executable's exit status: 0 only when every input was accepted and every job succeeded,
1 when something was refused or failed (after the whole table or --json output), 2 for bad usage.

A small OpenAI-compatible server on 127.0.0.1 plays the model for the job that fails and the one cancelled.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from finetune_core import Job, JobStatus, Workspace
from finetune_core.services import jobs as jobs_service
from kits.chat_completions import Action, Call, chat_server
from kits.cli import FINETUNE, finetune, finetune_json
from kits.samples import SAMPLES

pytestmark = pytest.mark.skipif(FINETUNE is None, reason="the finetune console script is not installed")

REFUSED_URL = "http://127.0.0.1/x"  # loopback: refused before any fetch
CORRUPT_PDF = b"%PDF-1.4\n1 0 obj garbage, no xref, no trailer"
GOOD_TEXT = "Sourdough needs a lively starter. Feed it flour and water every day.\n" * 20
OTHER_TEXT = "Jupiter is the largest planet of the solar system. It has a great red spot.\n" * 10


class QueueOnly:
    """A runner that runs nothing: the test's own Workspace only reads and cancels."""

    def submit(self, workspace: Workspace, job: Job) -> None:
        return None

    def shutdown(self, wait: bool = True) -> None:
        return None


class ChatServer:
    """An OpenAI-compatible endpoint on 127.0.0.1: `reject` answers every request 400 (a request the provider
    refuses, which stops the job); otherwise each request waits, unanswered, until `release` is set."""

    def __init__(self, *, reject: bool) -> None:
        self.received = threading.Event()
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.set()
                if not reject:
                    outer.release.wait(timeout=300)
                    return
                data = json.dumps({"error": {"message": "the model 'nope' does not exist",
                                             "type": "invalid_request_error"}}).encode()
                self.send_response(400)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"


def serve(reject: bool) -> Iterator[ChatServer]:
    chat = ChatServer(reject=reject)
    chat.thread.start()
    try:
        yield chat
    finally:
        chat.release.set()
        chat.httpd.shutdown()
        chat.httpd.server_close()


@pytest.fixture
def rejecting_server() -> Iterator[ChatServer]:
    yield from serve(reject=True)


@pytest.fixture
def silent_server() -> Iterator[ChatServer]:
    yield from serve(reject=False)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    workspace = tmp_path / "ws"
    finetune(workspace, "project", "create", "p")
    return workspace


def write(folder: Path, name: str, data: bytes | str) -> Path:
    path = folder / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def ingest_chunked(ws: Path, tmp_path: Path) -> None:
    finetune(ws, "ingest", "--project", "p", str(write(tmp_path, "good.txt", GOOD_TEXT)))
    finetune(ws, "chunk", "--project", "p", "--size", "64", "--overlap", "0")


def test_a_refused_url_exits_1_after_printing_the_table(ws: Path) -> None:
    result = finetune(ws, "ingest", "--project", "p", REFUSED_URL, check=False)
    assert result.returncode == 1
    assert REFUSED_URL in result.stdout and "refused" in result.stdout and "loopback" in result.stdout
    assert "1 of 1 inputs refused or failed" in result.stderr and "Traceback" not in result.stderr


def test_a_corrupt_pdf_exits_1_with_its_error_in_the_table(ws: Path, tmp_path: Path) -> None:
    result = finetune(ws, "ingest", "--project", "p", str(write(tmp_path, "corrupt.pdf", CORRUPT_PDF)),
                      check=False)
    assert result.returncode == 1
    row = next(line for line in result.stdout.splitlines() if "corrupt.pdf" in line)
    assert "error" in row and "PDF is damaged" in row
    assert "no source could be loaded" in result.stderr and "Traceback" not in result.stderr


def test_a_good_and_a_bad_file_exit_1_and_the_good_one_is_still_loaded(ws: Path, tmp_path: Path) -> None:
    good = write(tmp_path, "good.txt", GOOD_TEXT)
    bad = write(tmp_path, "corrupt.pdf", CORRUPT_PDF)
    result = finetune(ws, "ingest", "--project", "p", str(good), str(bad), check=False)
    assert result.returncode == 1
    assert "1 of 2 inputs refused or failed" in result.stderr
    statuses = {s["name"]: s["status"] for s in finetune_json(ws, "sources", "--project", "p")["items"]}
    assert statuses == {"good.txt": "ready", "corrupt.pdf": "error"}


def test_every_input_accepted_and_loaded_exits_0(ws: Path, tmp_path: Path) -> None:
    result = finetune(ws, "ingest", "--project", "p", str(write(tmp_path, "good.txt", GOOD_TEXT)),
                      str(SAMPLES / "guide-du-levain.md"), check=False)
    assert result.returncode == 0, result.stderr
    assert "Error" not in result.stderr
    rows = [line for line in result.stdout.splitlines() if "good.txt" in line or "guide-du-levain.md" in line]
    assert len(rows) == 2 and all("ready" in row for row in rows), result.stdout


def test_bad_usage_exits_2(ws: Path) -> None:
    missing = finetune(ws, "ingest", "--project", "p", check=False)
    assert missing.returncode == 2 and "Missing argument" in missing.stderr
    unknown = finetune(ws, "generate", "--project", "p", "--no-such-option", check=False)
    assert unknown.returncode == 2 and "No such option" in unknown.stderr
    for wrong, said in (("fast", "neither a number nor auto"), ("0", "not between 1 and 1024")):
        bad = finetune(ws, "generate", "--project", "p", "--concurrency", wrong, check=False)
        assert bad.returncode == 2 and said in bad.stderr


def test_help_documents_the_exit_statuses(tmp_path: Path) -> None:
    shown = finetune(tmp_path / "ws", "--help").stdout
    assert "Exit status: 0 when every input was accepted" in " ".join(shown.split())
    assert "2 for bad usage" in " ".join(shown.split())


def test_an_empty_file_says_the_file_is_empty(ws: Path, tmp_path: Path) -> None:
    result = finetune(ws, "--json", "ingest", "--project", "p", str(write(tmp_path, "empty.txt", b"")),
                      check=False)
    assert result.returncode == 1
    [source] = json.loads(result.stdout)["sources"]
    assert (source["name"], source["status"], source["error_message"]) == ("empty.txt", "error", "the file is empty")
    listed = finetune_json(ws, "sources", "--project", "p")["items"]
    assert [s["error_message"] for s in listed] == ["the file is empty"]


def test_an_empty_folder_is_refused(ws: Path, tmp_path: Path) -> None:
    (tmp_path / "nothing").mkdir()
    result = finetune(ws, "ingest", "--project", "p", str(tmp_path / "nothing"), check=False)
    assert result.returncode == 1 and "the folder holds no file" in result.stdout


def test_json_output_is_complete_when_inputs_fail(ws: Path, tmp_path: Path) -> None:
    good = write(tmp_path, "good.txt", GOOD_TEXT)
    bad = write(tmp_path, "corrupt.pdf", CORRUPT_PDF)
    result = finetune(ws, "--json", "ingest", "--project", "p", str(good), str(bad), REFUSED_URL, check=False)
    assert result.returncode == 1
    output = json.loads(result.stdout)  # the whole object, nothing else on stdout
    assert {s["name"]: s["status"] for s in output["sources"]} == {"good.txt": "ready", "corrupt.pdf": "error"}
    assert list(output["refused"]) == [REFUSED_URL]
    assert output["job"]["status"] == "success" and output["job"]["result_summary"]["partial"] is True

    only_bad = finetune(ws, "--json", "ingest", "--project", "p", str(bad), check=False)
    assert only_bad.returncode == 1
    failed = json.loads(only_bad.stdout)
    assert failed["job"]["status"] == "failed" and "no source could be loaded" in failed["job"]["error_message"]
    assert failed["job"]["result_summary"]["errors"] == {"corrupt.pdf": failed["sources"][0]["error_message"]}


def test_a_failed_generation_job_exits_1_and_says_why(ws: Path, tmp_path: Path,
                                                       rejecting_server: ChatServer) -> None:
    ingest_chunked(ws, tmp_path)
    args = ["generate", "--project", "p", "--generator", "openai-compatible", "--base-url", rejecting_server.url,
            "--model", "nope", "--target", "4"]
    shown = finetune(ws, *args, check=False)
    assert shown.returncode == 1 and rejecting_server.received.is_set()
    assert "Generating failed" in shown.stderr and "does not exist" in shown.stderr
    assert "Traceback" not in shown.stderr

    as_json = finetune(ws, "--json", *args, check=False)
    assert as_json.returncode == 1
    output = json.loads(as_json.stdout)
    assert output["error"]["error_code"] == "JOB_FAILED" and "does not exist" in output["error"]["detail"]
    assert output["job"]["type"] == "dataset_generate" and output["job"]["status"] == "failed"
    assert "does not exist" in output["job"]["error_message"]


def test_requests_that_ran_out_of_retries_exit_1_and_a_rerun_that_finishes_them_exits_0(
        ws: Path, tmp_path: Path) -> None:
    finetune(ws, "ingest", "--project", "p", str(write(tmp_path, "good.txt", GOOD_TEXT)),
             str(write(tmp_path, "other.txt", OTHER_TEXT)))
    finetune(ws, "chunk", "--project", "p", "--size", "512", "--overlap", "0")
    healed = threading.Event()

    def decide(call: Call) -> Action:
        if "Jupiter" in call.passage and not healed.is_set():  # Retry-After: 0 spends its 7 attempts at once
            return Action(503, headers={"Retry-After": "0"}, body={"error": {"message": "overloaded"}})
        return Action()

    args = ["--json", "generate", "--project", "p", "--generator", "openai-compatible", "--model", "fake-model",
            "--target", "4", "--per-chunk", "2"]
    with chat_server(decide) as server:
        first = finetune(ws, *args, "--base-url", server.url, check=False)
        assert first.returncode == 1, first.stderr
        summary = json.loads(first.stdout)
        assert (summary["requests"], summary["failed_requests"], summary["new_examples"]) == (2, 1, 2)
        assert "a rerun retries them" in summary["message"]
        assert sum(1 for call in server.calls if "Jupiter" in call.passage) == 7  # every retry was spent
        healed.set()
        second = finetune(ws, *args, "--base-url", server.url, check=False)
    assert second.returncode == 0, second.stderr
    summary = json.loads(second.stdout)
    assert (summary["requests"], summary["failed_requests"], summary["new_examples"]) == (1, 0, 2)

    quoted = finetune(ws, "generate", "--project", "p", "--generator", "openai-compatible", "--model", "fake-model",
                      "--target", "4", "--base-url", "http://127.0.0.1:9/v1", check=False)
    assert quoted.returncode == 0  # nothing left to ask: no request, nothing failed


def test_a_cancelled_job_exits_1(ws: Path, tmp_path: Path, silent_server: ChatServer) -> None:
    ingest_chunked(ws, tmp_path)
    assert FINETUNE is not None
    command = [FINETUNE, "--workspace", str(ws), "--json", "generate", "--project", "p", "--generator",
               "openai-compatible", "--base-url", silent_server.url, "--model", "m", "--target", "4"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    library = Workspace.open(ws, runner=QueueOnly())
    try:
        wait_for(silent_server.received.is_set, "the generation's first request")
        [running], _ = jobs_service.list_jobs(library, type="dataset_generate", status=JobStatus.RUNNING.value)
        jobs_service.cancel_job(library, running.id)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        library.close()
    assert process.returncode == 1, stderr
    output = json.loads(stdout)
    assert output["error"]["error_code"] == "JOB_CANCELLED" and output["job"]["status"] == "cancelled"


def test_a_failed_fine_tuning_exits_1_after_showing_it(ws: Path, tmp_path: Path, rejecting_server: ChatServer,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    ingest_chunked(ws, tmp_path)
    finetune(ws, "generate", "--project", "p", "--target", "20")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-CLITESTKEY0123456789abcdef")
    args = ["train", "--project", "p", "--trainer", "openai", "--base-model", "gpt-4o-mini-2024-07-18",
            "--option", f"base_url={rejecting_server.url}"]
    as_json = finetune(ws, "--json", *args, check=False)
    assert as_json.returncode == 1 and rejecting_server.received.is_set()
    fine_tune = json.loads(as_json.stdout)
    assert fine_tune["status"] == "error" and "does not exist" in fine_tune["error_message"]

    shown = finetune(ws, *args, check=False)
    assert shown.returncode == 1 and ": error" in shown.stdout
    assert "the fine-tuning failed" in shown.stderr and "Traceback" not in shown.stderr
