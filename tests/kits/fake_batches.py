"""Fake batch APIs on 127.0.0.1 (OpenAI's Batch API, Anthropic's Message Batches), each in its documented wire format.

They run behind kits.hosted_providers' `HostedServer` (so a test's `decide(request)` can answer any
request itself: an error status, a drop). A batch moves on one stage each time it is polled
(`GET .../batches/{id}`): `polls` polls in progress, then it ends and its results are ready, each
request answered by finetune_providers.testing's `answer` (examples quoting the passage, token counts
from the lengths). `BatchScript.errored(index)` makes the request at that index of the batch fail
instead (an error line: OpenAI's error file, Anthropic's `errored` result); a cancelled batch ends
with the first half of its requests answered.

OpenAI (`FakeOpenAIBatches`, key as `Authorization: Bearer`): `POST /v1/files` (multipart, purpose
`batch`), `POST /v1/batches`, `GET /v1/batches` (newest first, `limit`/`after`), `GET /v1/batches/{id}`,
`POST /v1/batches/{id}/cancel`, `GET /v1/files/{id}/content` (the output and error JSONL files).

Anthropic (`FakeAnthropicBatches`, key as `x-api-key`, or `Authorization: Bearer` as anthropic 2.x
sends it): `POST /v1/messages/batches`, `GET /v1/messages/batches` (newest first), `GET
/v1/messages/batches/{id}`, `POST .../{id}/cancel`, `GET .../{id}/results` (the JSONL behind `results_url`).

Mistral (`FakeMistralBatches`, key as `Authorization: Bearer`, behind `batch_server`, which sends a file's
content as `application/octet-stream` as Mistral does): `POST /v1/files` (multipart, purpose `batch`),
`POST /v1/batch/jobs`, `GET /v1/batch/jobs` (newest first, `page`/`page_size`), `GET /v1/batch/jobs/{id}`,
`POST /v1/batch/jobs/{id}/cancel`, `GET /v1/files/{id}/content`.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

from finetune_providers.testing import answer
from kits.hosted_providers import FakeProvider, HostedServer, Reply, Request, _read


@dataclass
class BatchScript:
    """What the provider's batches do."""

    polls: int = 2  # polls that find a batch still in progress before it ends
    errored: Callable[[int], bool] = lambda index: False  # which requests (by index in the batch) fail
    endless: bool = False  # a batch that runs until it is cancelled


@dataclass
class Batch:
    id: str
    lines: list[dict[str, Any]]  # the requests as sent (OpenAI's file lines, Anthropic's {custom_id, params})
    body: dict[str, Any]
    created: float = field(default_factory=time.time)
    polls: int = 0
    stage: str = "in_progress"  # in_progress, cancelling, ended, cancelled
    answered: int = 0  # how many requests (the first ones) have an answer once it ended


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FakeBatches(FakeProvider):
    """The shared part: batches that advance one stage per poll."""

    def __init__(self, *, api_key: str | None, batch_script: BatchScript | None = None) -> None:
        super().__init__(api_key=api_key)
        self.batch_script = batch_script or BatchScript()
        self.batches: dict[str, Batch] = {}

    def new_batch(self, prefix: str, lines: list[dict[str, Any]], body: dict[str, Any]) -> Batch:
        batch = Batch(id=f"{prefix}{len(self.batches) + 1}", lines=lines, body=body)
        self.batches[batch.id] = batch
        return batch

    def advance_batch(self, batch: Batch) -> None:
        batch.polls += 1
        if batch.stage == "in_progress" and batch.polls > self.batch_script.polls and not self.batch_script.endless:
            batch.stage, batch.answered = "ended", len(batch.lines)
        elif batch.stage == "cancelling":
            batch.stage, batch.answered = "cancelled", len(batch.lines) // 2

    def cancel_batch(self, batch: Batch) -> Reply | None:
        if batch.stage != "in_progress":
            return Reply(400, {"error": {"type": "invalid_request_error",
                                         "message": f"Batch {batch.id} cannot be cancelled: it is {batch.stage}"}})
        self.cancelled.append(batch.id)
        batch.stage = "cancelling"
        return None

    def outcomes(self, batch: Batch) -> list[tuple[int, dict[str, Any], dict[str, Any] | None]]:
        """(index, line, completion body or None when it errored) of each request answered."""
        results = []
        for index, line in enumerate(batch.lines[:batch.answered]):
            body = line.get("body") or line.get("params") or {}
            results.append((index, line, None if self.batch_script.errored(index) else answer(body)))
        return results


class FakeOpenAIBatches(FakeBatches):
    """OpenAI's Files and Batch APIs (see the module doc)."""

    STATUS: ClassVar[dict[str, str]] = {"in_progress": "in_progress", "cancelling": "cancelling", "ended": "completed",
              "cancelled": "cancelled"}

    def __init__(self, *, api_key: str | None, batch_script: BatchScript | None = None) -> None:
        super().__init__(api_key=api_key, batch_script=batch_script)
        self.contents: dict[str, bytes] = {}  # the files: uploaded, and the output and error files made

    def route(self, request: Request) -> Reply:
        parts = request.path.strip("/").split("/")[1:]  # without "v1"
        if request.method == "POST" and parts == ["files"]:
            file_id = self.new_file_id()
            self.files[file_id] = request
            name, data = request.files["file"]
            self.contents[file_id] = data
            return Reply(body=self.file_object(file_id, name, data, request.form.get("purpose")))
        if request.method == "GET" and len(parts) == 3 and parts[0] == "files" and parts[2] == "content":
            if parts[1] not in self.contents:
                return Reply(404, {"error": {"message": f"No such File object: {parts[1]}"}})
            return Reply(raw=self.contents[parts[1]])
        if parts[:1] != ["batches"]:
            return Reply(404, {"error": {"message": f"no route {request.path}"}})
        if request.method == "POST" and len(parts) == 1:
            return self._create(request.json or {})
        if request.method == "GET" and len(parts) == 1:
            return Reply(body=self._list(request))
        batch = self.batches.get(parts[1])
        if batch is None:
            return Reply(404, {"error": {"message": f"No batch found with id '{parts[1]}'."}})
        if request.method == "GET" and len(parts) == 2:
            self.advance_batch(batch)
            return Reply(body=self.render(batch))
        if request.method == "POST" and parts[2:] == ["cancel"]:
            return self.cancel_batch(batch) or Reply(body=self.render(batch))
        return Reply(404, {"error": {"message": f"no route {request.path}"}})

    def new_file_id(self) -> str:
        return f"file-{len(self.contents) + 1}"

    def file_object(self, file_id: str, name: str, data: bytes, purpose: str | None) -> dict[str, Any]:
        return {"id": file_id, "object": "file", "purpose": purpose, "filename": name, "bytes": len(data),
                "created_at": int(time.time()), "status": "processed"}

    def _create(self, body: dict[str, Any]) -> Reply:
        data = self.contents.get(str(body.get("input_file_id")))
        if data is None:
            return Reply(400, {"error": {"message": "input_file_id not found", "type": "invalid_request_error"}})
        if body.get("endpoint") != "/v1/chat/completions" or body.get("completion_window") != "24h":
            return Reply(400, {"error": {"message": "unsupported endpoint or window", "type": "invalid_request_error"}})
        lines = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
        return Reply(body=self.render(self.new_batch("batch_", lines, body)))

    def _list(self, request: Request) -> dict[str, Any]:
        newest_first = [self.render(batch) for batch in self.batches.values()][::-1]
        after = request.query.get("after")
        if after is not None:
            index = next(i for i, batch in enumerate(newest_first) if batch["id"] == after)
            newest_first = newest_first[index + 1:]
        size = int(request.query.get("limit", 20))
        page = newest_first[:size]
        return {"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None, "has_more": len(newest_first) > size}

    def render(self, batch: Batch) -> dict[str, Any]:
        status = self.STATUS[batch.stage]
        if status == "in_progress" and batch.polls <= 1:
            status = "validating" if batch.polls == 0 else "in_progress"
        ended = batch.stage in ("ended", "cancelled")
        output_id = error_id = None
        failed = 0
        if ended:
            output_id, error_id, failed = self._files(batch)
        now = int(time.time())
        return {
            "id": batch.id, "object": "batch", "endpoint": batch.body["endpoint"], "errors": None,
            "input_file_id": batch.body["input_file_id"], "completion_window": "24h", "status": status,
            "output_file_id": output_id, "error_file_id": error_id, "created_at": int(batch.created),
            "in_progress_at": int(batch.created), "expires_at": int(batch.created) + 86400,
            "finalizing_at": now if ended else None, "completed_at": now if batch.stage == "ended" else None,
            "failed_at": None, "expired_at": None, "cancelling_at": now if batch.stage != "in_progress" else None,
            "cancelled_at": now if batch.stage == "cancelled" else None,
            "request_counts": {"total": len(batch.lines), "completed": batch.answered - failed, "failed": failed},
            "metadata": batch.body.get("metadata"),
        }

    def _files(self, batch: Batch) -> tuple[str | None, str | None, int]:
        """The output and error files of an ended batch (made once), and the count of failed requests."""
        output_id, error_id = f"file-{batch.id}-output", f"file-{batch.id}-errors"
        outputs, errors = [], []
        for index, line, completion in self.outcomes(batch):
            record: dict[str, Any] = {"id": f"batch_req_{batch.id}_{index}", "custom_id": line["custom_id"]}
            if completion is None:
                error = {"message": "This model's maximum context length was exceeded.",
                         "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}
                errors.append({**record, "response": {"status_code": 400, "request_id": f"req_{index}",
                                                      "body": {"error": error}}, "error": None})
            else:
                outputs.append({**record, "response": {"status_code": 200, "request_id": f"req_{index}",
                                                       "body": completion}, "error": None})
        for file_id, records in ((output_id, outputs), (error_id, errors)):
            self.contents.setdefault(file_id, "".join(json.dumps(r) + "\n" for r in records).encode())
        return (output_id if outputs else None), (error_id if errors else None), len(errors)


class FakeAnthropicBatches(FakeBatches):
    """Anthropic's Message Batches API (see the module doc)."""

    def answer(self, request: Request) -> Reply:
        given = request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix("Bearer ")
        if self.api_key is not None and given != self.api_key:
            return Reply(401, {"type": "error", "error": {"type": "authentication_error",
                                                          "message": "invalid x-api-key"}})
        if "anthropic-version" not in request.headers:
            return Reply(400, {"type": "error", "error": {"type": "invalid_request_error",
                                                          "message": "anthropic-version: header is required"}})
        return self.route(request)

    def route(self, request: Request) -> Reply:
        parts = request.path.strip("/").split("/")[1:]  # without "v1"
        if parts[:2] != ["messages", "batches"]:
            return Reply(404, {"type": "error", "error": {"type": "not_found_error", "message": "no route"}})
        if request.method == "POST" and len(parts) == 2:
            lines = list((request.json or {}).get("requests") or [])
            return Reply(body=self.render(self.new_batch("msgbatch_0", lines, request.json or {})))
        if request.method == "GET" and len(parts) == 2:
            data = [self.render(batch) for batch in self.batches.values()][::-1]
            return Reply(body={"data": data, "has_more": False, "first_id": data[0]["id"] if data else None,
                               "last_id": data[-1]["id"] if data else None})
        batch = self.batches.get(parts[2])
        if batch is None:
            return Reply(404, {"type": "error", "error": {"type": "not_found_error",
                                                          "message": f"no batch {parts[2]}"}})
        if request.method == "GET" and len(parts) == 3:
            self.advance_batch(batch)
            return Reply(body=self.render(batch))
        if request.method == "POST" and parts[3:] == ["cancel"]:
            return self.cancel_batch(batch) or Reply(body=self.render(batch))
        if request.method == "GET" and parts[3:] == ["results"]:
            if batch.stage not in ("ended", "cancelled"):
                return Reply(400, {"type": "error", "error": {"type": "invalid_request_error",
                                                              "message": "the batch is still processing"}})
            return Reply(raw="".join(json.dumps(line) + "\n" for line in self._results(batch)).encode())
        return Reply(404, {"type": "error", "error": {"type": "not_found_error", "message": "no route"}})

    def render(self, batch: Batch) -> dict[str, Any]:
        ended = batch.stage in ("ended", "cancelled")
        counts = {"processing": 0 if ended else len(batch.lines), "succeeded": 0, "errored": 0, "canceled": 0,
                  "expired": 0}
        if ended:
            for result in self._results(batch):
                counts[result["result"]["type"]] += 1
        return {
            "id": batch.id, "type": "message_batch",
            "processing_status": "ended" if ended else ("canceling" if batch.stage == "cancelling" else "in_progress"),
            "request_counts": counts, "ended_at": _iso(time.time()) if ended else None,
            "created_at": _iso(batch.created), "expires_at": _iso(batch.created + 86400), "archived_at": None,
            "cancel_initiated_at": _iso(time.time()) if batch.stage in ("cancelling", "cancelled") else None,
            "results_url": f"{self.origin}/v1/messages/batches/{batch.id}/results" if ended else None,
        }

    def _results(self, batch: Batch) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        for index, line, completion in self.outcomes(batch):
            if completion is None:
                results.append({"custom_id": line["custom_id"], "result": {"type": "errored", "error": {
                    "type": "error", "error": {"type": "invalid_request_error",
                                               "message": "prompt is too long: 210000 tokens > 200000 maximum"}}}})
                continue
            text = completion["choices"][0]["message"]["content"]
            usage = completion["usage"]
            message = {"id": f"msg_{batch.id}_{index}", "type": "message", "role": "assistant",
                       "model": line["params"].get("model"), "content": [{"type": "text", "text": text}],
                       "stop_reason": "end_turn", "stop_sequence": None,
                       "usage": {"input_tokens": usage["prompt_tokens"], "output_tokens": usage["completion_tokens"]}}
            results.append({"custom_id": line["custom_id"], "result": {"type": "succeeded", "message": message}})
        results.extend({"custom_id": line["custom_id"], "result": {"type": "canceled"}}
                       for line in batch.lines[batch.answered:])
        return results


class FakeMistralBatches(FakeOpenAIBatches):
    """Mistral's Files and Batch APIs: OpenAI's files and answer lines, its own jobs (see the module doc)."""

    MISTRAL_STATUS: ClassVar[dict[str, str]] = {"in_progress": "RUNNING", "cancelling": "CANCELLATION_REQUESTED",
                                                "ended": "SUCCESS", "cancelled": "CANCELLED"}

    def route(self, request: Request) -> Reply:
        parts = request.path.strip("/").split("/")[1:]  # without "v1"
        if parts[:1] == ["files"]:
            return super().route(request)
        if parts[:2] != ["batch", "jobs"]:
            return Reply(404, {"detail": f"no route {request.path}"})
        if request.method == "POST" and len(parts) == 2:
            body = request.json or {}
            [file_id] = body.get("input_files") or [None]
            data = self.contents.get(str(file_id))
            if data is None or body.get("endpoint") != "/v1/chat/completions" or not body.get("model"):
                return Reply(422, {"detail": "input_files, endpoint and model are required"})
            lines = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
            batch = self.new_batch("b0000000-0000-4000-8000-00000000000", lines, body)
            return Reply(body=self.render(batch))
        if request.method == "GET" and len(parts) == 2:
            jobs = [self.render(batch) for batch in self.batches.values()][::-1]
            page, size = int(request.query.get("page", 0)), int(request.query.get("page_size", 100))
            return Reply(body={"object": "list", "data": jobs[page * size:(page + 1) * size], "total": len(jobs)})
        batch = self.batches.get(parts[2])
        if batch is None:
            return Reply(404, {"detail": f"No batch job {parts[2]}"})
        if request.method == "GET" and len(parts) == 3:
            self.advance_batch(batch)
            return Reply(body=self.render(batch))
        if request.method == "POST" and parts[3:] == ["cancel"]:
            return self.cancel_batch(batch) or Reply(body=self.render(batch))
        return Reply(404, {"detail": f"no route {request.path}"})

    def new_file_id(self) -> str:
        return f"00000000-0000-4000-8000-{len(self.contents) + 1:012d}"

    def file_object(self, file_id: str, name: str, data: bytes, purpose: str | None) -> dict[str, Any]:
        return {**super().file_object(file_id, name, data, purpose), "sample_type": "batch_request",
                "source": "upload"}

    def render(self, batch: Batch) -> dict[str, Any]:
        ended = batch.stage in ("ended", "cancelled")
        output_id, error_id, failed = self._files(batch) if ended else (None, None, 0)
        return {
            "id": batch.id, "object": "batch", "input_files": batch.body["input_files"],
            "endpoint": batch.body["endpoint"], "model": batch.body["model"], "metadata": batch.body.get("metadata"),
            "errors": [], "status": self.MISTRAL_STATUS[batch.stage], "created_at": int(batch.created),
            "started_at": int(batch.created), "completed_at": int(time.time()) if ended else None,
            "output_file": output_id, "error_file": error_id, "total_requests": len(batch.lines),
            "completed_requests": batch.answered, "succeeded_requests": batch.answered - failed,
            "failed_requests": failed,
        }


class _OctetStreamServer(HostedServer):
    """A HostedServer whose files (raw bodies) go as application/octet-stream, as Mistral serves them."""

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        request = _read(handler)
        with self._lock:
            self.requests.append(request)
            reply = (self.decide(request) if self.decide else None) or self.provider.answer(request)
        if reply.drop:
            handler.close_connection = True
            with suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)
            return
        data = reply.raw if reply.raw is not None else json.dumps(reply.body if reply.body is not None else {}).encode()
        try:
            handler.send_response(reply.status)
            handler.send_header("Content-Type",
                                "application/octet-stream" if reply.raw is not None else "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            handler.close_connection = True


@contextmanager
def batch_server(provider: FakeProvider) -> Iterator[HostedServer]:
    """The fake on 127.0.0.1: Mistral's behind a server that sends files as octet-stream, the others as usual."""
    server = (_OctetStreamServer if isinstance(provider, FakeMistralBatches) else HostedServer)(provider).start()
    try:
        yield server
    finally:
        server.stop()
