"""A fake Together AI Batch API on 127.0.0.1, in its documented wire format (docs.together.ai/docs/batch-inference).

Behind kits.hosted_providers' `HostedServer` (through kits.fake_batches' `batch_server`), key as
`Authorization: Bearer`. Batches move on as kits.fake_batches' do (one stage per `GET /v1/batches/{id}`;
`BatchScript` says how many polls, which requests fail, or a batch that runs until cancelled).

    POST /v1/files/upload           multipart: purpose=batch-api, file_name, file_type=jsonl, file
    POST /v1/batches                {"input_file_id", "endpoint", "completion_window"} -> {"job": <batch>, "warning"}
    GET  /v1/batches                a JSON array of batches, oldest first (the order is not documented)
    GET  /v1/batches/{id}           the batch itself: status VALIDATING, IN_PROGRESS, COMPLETED, CANCELLED;
                                    progress 0-100, created_at ISO 8601, output_file_id, error_file_id, error
    POST /v1/batches/{id}/cancel    the batch
    GET  /v1/files/{id}/content     the output file, `{"custom_id", "response": {"status_code", "body"}}` lines,
                                    and the error file, `{"custom_id", "error": {"message", "code"}}` lines

The output file's lines are in another order than the input's (Together does not keep it).
"""

from __future__ import annotations

import json
import time
from typing import Any, ClassVar

from kits.fake_batches import Batch, BatchScript, FakeBatches, _iso
from kits.hosted_providers import Reply, Request

ENDPOINT = "/v1/chat/completions"


class FakeTogetherBatches(FakeBatches):
    """Together AI's Files and Batch APIs (see the module doc)."""

    STATUS: ClassVar[dict[str, str]] = {"in_progress": "IN_PROGRESS", "cancelling": "IN_PROGRESS",
                                        "ended": "COMPLETED", "cancelled": "CANCELLED"}

    def __init__(self, *, api_key: str | None, batch_script: BatchScript | None = None) -> None:
        super().__init__(api_key=api_key, batch_script=batch_script)
        self.contents: dict[str, bytes] = {}  # the files: uploaded, and the output and error files made

    def route(self, request: Request) -> Reply:
        parts = request.path.strip("/").split("/")[1:]  # without "v1"
        if request.method == "POST" and parts == ["files", "upload"]:
            return self._upload(request)
        if request.method == "GET" and len(parts) == 3 and parts[0] == "files" and parts[2] == "content":
            if parts[1] not in self.contents:
                return Reply(404, {"error": {"message": f"file {parts[1]} not found"}})
            return Reply(raw=self.contents[parts[1]])
        if parts[:1] != ["batches"]:
            return Reply(404, {"error": {"message": f"no route {request.path}"}})
        if request.method == "POST" and len(parts) == 1:
            return self._create(request.json or {})
        if request.method == "GET" and len(parts) == 1:
            return Reply(body=[self.render(batch) for batch in self.batches.values()])
        batch = self.batches.get(parts[1])
        if batch is None:
            return Reply(404, {"error": {"message": f"batch job {parts[1]} not found"}})
        if request.method == "GET" and len(parts) == 2:
            self.advance_batch(batch)
            return Reply(body=self.render(batch))
        if request.method == "POST" and parts[2:] == ["cancel"]:
            return self.cancel_batch(batch) or Reply(body=self.render(batch))
        return Reply(404, {"error": {"message": f"no route {request.path}"}})

    def _upload(self, request: Request) -> Reply:
        form = request.form
        if form.get("purpose") != "batch-api" or not form.get("file_name") or "file" not in request.files:
            return Reply(400, {"error": {"message": "purpose, file_name and file are required"}})
        file_id = f"file-{len(self.contents) + 1:04d}-together"
        self.files[file_id] = request
        data = request.files["file"][1]
        self.contents[file_id] = data
        return Reply(body={"id": file_id, "object": "file", "created_at": int(time.time()),
                           "filename": form["file_name"], "bytes": len(data), "purpose": form["purpose"],
                           "Processed": True, "FileType": form.get("file_type", "jsonl")})

    def _create(self, body: dict[str, Any]) -> Reply:
        data = self.contents.get(str(body.get("input_file_id")))
        if data is None:
            return Reply(400, {"error": {"message": "input file not found"}})
        if body.get("endpoint") != ENDPOINT:
            return Reply(400, {"error": {"message": f"unsupported endpoint {body.get('endpoint')}"}})
        lines = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
        batch = self.new_batch("0b7c1a2e-0000-4000-8000-00000000000", lines, body)
        return Reply(201, {"job": self.render(batch), "warning": None})

    def add_other_batch(self, input_file_id: str, *, age_s: float = 0.0) -> Batch:
        """A batch of someone else's file (listed, never ours), created `age_s` ago."""
        batch = self.new_batch("0a0a0a0a-0000-4000-8000-00000000000", [], {
            "input_file_id": input_file_id, "endpoint": ENDPOINT})
        batch.created -= age_s
        return batch

    def render(self, batch: Batch) -> dict[str, Any]:
        status = self.STATUS[batch.stage]
        if batch.stage == "in_progress" and batch.polls <= 1:
            status = "VALIDATING"  # the first poll finds it validating, the next ones in progress
        ended = batch.stage in ("ended", "cancelled")
        output_id, error_id = self._files(batch) if ended else (None, None)
        progress = 100.0 if batch.stage == "ended" else min(90.0, 30.0 * max(0, batch.polls - 1))
        return {
            "id": batch.id, "user_id": "user_fake", "input_file_id": batch.body["input_file_id"],
            "file_size_bytes": len(self.contents.get(batch.body["input_file_id"], b"")), "status": status,
            "job_deadline": _iso(batch.created + 86400), "created_at": _iso(batch.created),
            "endpoint": batch.body["endpoint"], "progress": progress, "model_id": None,
            "output_file_id": output_id, "error_file_id": error_id, "error": None,
            "completed_at": _iso(time.time()) if ended else None,
        }

    def _files(self, batch: Batch) -> tuple[str | None, str | None]:
        """The output and error files of an ended batch (made once)."""
        output_id, error_id = f"file-{batch.id}-output", f"file-{batch.id}-errors"
        outputs, errors = [], []
        for _, line, completion in self.outcomes(batch):
            if completion is None:
                errors.append({"custom_id": line["custom_id"], "error": {
                    "message": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 8193",
                    "code": "invalid_request_error"}})
            else:
                outputs.append({"custom_id": line["custom_id"], "response": {"status_code": 200, "body": completion}})
        outputs = outputs[1::2] + outputs[::2]  # not in the input's order
        for file_id, records in ((output_id, outputs), (error_id, errors)):
            self.contents.setdefault(file_id, "".join(json.dumps(r) + "\n" for r in records).encode())
        return (output_id if outputs else None), (error_id if errors else None)
