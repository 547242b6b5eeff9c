"""Fake hosted fine-tuning APIs (OpenAI, Mistral, Together AI, Fireworks AI) on 127.0.0.1, speaking each wire format.

A fake keeps the uploaded files and the jobs. A job moves on one stage each time it is polled
(`GET .../jobs/{id}`): a few preparing polls, then one training step per poll (each with its
metrics event or checkpoint), then success; `Script` makes it fail instead, or run until it is
cancelled. A test's `decide(request)` can answer any request itself first (an error status with
headers, a delay, a dropped connection), the way kits.chat_completions' FakeChatServer does.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Request:
    """One HTTP request the fake received."""

    method: str
    path: str  # without the query: "/v1/files"
    query: dict[str, str]
    headers: dict[str, str]  # names in lower case
    json: Any
    form: dict[str, str]
    files: dict[str, tuple[str, bytes]]  # multipart field -> (filename, content)
    at: float

    def jsonl(self, field_name: str = "file") -> list[dict[str, Any]]:
        """The uploaded JSONL file's records."""
        return [json.loads(line) for line in self.files[field_name][1].decode().splitlines() if line.strip()]


@dataclass
class Reply:
    """How to answer: a status and JSON body (after a delay), or by dropping the connection."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drop: bool = False
    lost: bool = False  # the fake API does handle the request, but its answer never reaches the client
    raw: bytes | None = None  # a body that is not JSON (a JSONL file behind a signed URL)


Decide = Callable[[Request], "Reply | None"]  # None: the fake API answers


@dataclass
class Script:
    """What the provider's jobs do."""

    steps: int = 3
    preparing_polls: int = 2
    fail_message: str | None = None  # the job fails after preparing, with this message
    endless: bool = False  # the job trains until it is cancelled
    cancelled_at_step: int | None = None  # someone cancels the job in the provider's console then


@dataclass
class Job:
    id: str
    body: dict[str, Any]
    stage: str = "preparing"  # preparing, validated (Mistral), running, succeeded, failed, cancelling, cancelled
    preparing_left: int = 2
    step: int = 0
    polls: int = 0
    created: float = field(default_factory=time.time)


def loss(step: int) -> float:
    return round(2.0 / step, 4)


def valid_loss(step: int) -> float:
    return round(2.5 / step, 4)


class FakeProvider:
    """The shared part: files, jobs, auth, stages; subclasses speak one wire format."""

    needs_start = False  # Mistral: a job created with auto_start=false waits to be started
    origin = ""  # "http://127.0.0.1:<port>", set by the server: for the signed URLs a fake hands out

    def __init__(self, *, api_key: str | None, script: Script | None = None) -> None:
        self.api_key = api_key
        self.script = script or Script()
        self.files: dict[str, Request] = {}
        self.jobs: dict[str, Job] = {}
        self.cancelled: list[str] = []

    def answer(self, request: Request) -> Reply:
        if self.api_key is not None and request.headers.get("authorization") != f"Bearer {self.api_key}":
            given = request.headers.get("authorization", "")[7:]
            return Reply(401, {"error": {"message": f"Incorrect API key provided: {given[:12]}...",
                                         "type": "invalid_request_error", "code": "invalid_api_key"}})
        return self.route(request)

    def route(self, request: Request) -> Reply:
        raise NotImplementedError

    def new_job(self, prefix: str, body: dict[str, Any]) -> Job:
        job = Job(id=f"{prefix}{len(self.jobs) + 1}", body=body, preparing_left=self.script.preparing_polls)
        self.jobs[job.id] = job
        return job

    def advance(self, job: Job) -> None:
        """One poll's worth of progress."""
        job.polls += 1
        if job.stage == "preparing":
            job.preparing_left -= 1
            if job.preparing_left <= 0:
                if self.script.fail_message:
                    job.stage = "failed"
                else:
                    job.stage = "validated" if self.needs_start else "running"
        elif job.stage == "running":
            job.step += 1
            if job.step == self.script.cancelled_at_step:
                job.stage = "cancelled"
            elif job.step >= self.script.steps and not self.script.endless:
                job.stage = "succeeded"
        elif job.stage == "cancelling":
            job.stage = "cancelled"

    def cancel(self, job: Job) -> Reply | None:
        """None when the job can be cancelled (it is then), else the error reply."""
        if job.stage in ("succeeded", "failed", "cancelled"):
            return Reply(400, {"error": {"message": f"Job {job.id} has already ended", "code": "invalid_state"}})
        self.cancelled.append(job.id)
        job.stage = "cancelling"
        return None

    def model_of(self, job: Job) -> str:
        return f"ft:{job.body.get('model')}:{job.id}"


class FakeOpenAI(FakeProvider):
    """POST /v1/files, /v1/fine_tuning/jobs (list, get, events newest first and paged, cancel)."""

    STATUS: ClassVar[dict[str, str]] = {"running": "running", "succeeded": "succeeded", "failed": "failed",
                                        "cancelling": "running", "cancelled": "cancelled"}

    def __init__(self, *, api_key: str | None, script: Script | None = None, page_max: int = 4,
                 forbidden: str | None = None) -> None:
        super().__init__(api_key=api_key, script=script)
        self.page_max = page_max  # the most events one page holds, whatever `limit` asks: the client must page
        self.events: dict[str, list[dict[str, Any]]] = {}
        # set: GET /v1/fine_tuning/model_limits answers 403 with this message in OpenAI's error envelope (an
        # organisation without fine-tuning rights); unset, the call is unknown here (404), as on servers without it
        self.forbidden = forbidden

    def route(self, request: Request) -> Reply:
        parts = request.path.strip("/").split("/")[1:]  # without "v1"
        if request.method == "POST" and parts == ["files"]:
            file_id = f"file-{len(self.files) + 1}"
            self.files[file_id] = request
            return Reply(body={"id": file_id, "object": "file", "purpose": request.form.get("purpose"),
                               "filename": request.files["file"][0], "bytes": len(request.files["file"][1])})
        if request.method == "GET" and parts == ["fine_tuning", "model_limits"] and self.forbidden:
            return Reply(403, {"error": {"message": self.forbidden, "type": "invalid_request_error",
                                         "param": None, "code": "fine_tuning_not_available"}})
        if parts[:2] != ["fine_tuning", "jobs"]:
            return Reply(404, {"error": {"message": f"no route {request.path}"}})
        if request.method == "POST" and len(parts) == 2:
            created = self.new_job("ftjob-", request.json)
            self.events[created.id] = []
            self._event(created, "message", "Created fine-tuning job")
            return Reply(body=self.render(created))
        if request.method == "GET" and len(parts) == 2:
            wanted = request.query.get("metadata[finetune_id]")
            found = [self.render(job) for job in self.jobs.values()
                     if wanted is None or (job.body.get("metadata") or {}).get("finetune_id") == wanted]
            return Reply(body={"object": "list", "data": found[::-1], "has_more": False})
        job = self.jobs.get(parts[2])
        if job is None:
            return Reply(404, {"error": {"message": f"No such job: {parts[2]}"}})
        if request.method == "GET" and len(parts) == 3:
            before = (job.stage, job.step)
            self.advance(job)
            self._log_progress(job, before)
            return Reply(body=self.render(job))
        if request.method == "GET" and parts[3:] == ["events"]:
            return Reply(body=self._page(job, request))
        if request.method == "POST" and parts[3:] == ["cancel"]:
            return self.cancel(job) or Reply(body=self.render(job))
        return Reply(404, {"error": {"message": f"no route {request.path}"}})

    def render(self, job: Job) -> dict[str, Any]:
        status = self.STATUS.get(job.stage) or ("validating_files" if job.preparing_left > 1 else "queued")
        error = {"code": "invalid_training_file", "message": self.script.fail_message, "param": "training_file"}
        return {"id": job.id, "object": "fine_tuning.job", "model": job.body.get("model"), "status": status,
                "training_file": job.body.get("training_file"), "metadata": job.body.get("metadata"),
                "fine_tuned_model": self.model_of(job) if job.stage == "succeeded" else None,
                "error": error if job.stage == "failed" else None, "created_at": int(job.created)}

    def _event(self, job: Job, type_: str, message: str, data: dict[str, Any] | None = None) -> None:
        events = self.events[job.id]
        events.append({"object": "fine_tuning.job.event", "id": f"ftevent-{job.id}-{len(events) + 1}",
                       "created_at": int(time.time()), "level": "info", "message": message, "type": type_,
                       "data": data or {}})

    def _log_progress(self, job: Job, before: tuple[str, int]) -> None:
        if job.step != before[1]:
            step, total = job.step, self.script.steps
            self._event(job, "metrics", f"Step {step}/{total}: training loss={loss(step)}",
                        {"step": step, "train_loss": loss(step), "valid_loss": valid_loss(step),
                         "total_steps": total, "train_mean_token_accuracy": 0.5})
        if job.stage != before[0]:
            self._event(job, "message", f"Job {job.stage}")

    def _page(self, job: Job, request: Request) -> dict[str, Any]:
        newest_first = self.events[job.id][::-1]
        after = request.query.get("after")
        if after is not None:
            index = next(i for i, event in enumerate(newest_first) if event["id"] == after)
            newest_first = newest_first[index + 1:]
        size = min(int(request.query.get("limit", 20)), self.page_max)
        return {"object": "list", "data": newest_first[:size], "has_more": len(newest_first) > size}


class FakeMistral(FakeProvider):
    """POST /v1/files, /v1/fine_tuning/jobs (list, get with checkpoints, start, cancel)."""

    needs_start = True
    STATUS: ClassVar[dict[str, str]] = {"validated": "VALIDATED", "running": "RUNNING", "succeeded": "SUCCESS",
                                        "failed": "FAILED_VALIDATION", "cancelling": "CANCELLATION_REQUESTED",
                                        "cancelled": "CANCELLED"}

    def __init__(self, *, api_key: str | None, script: Script | None = None) -> None:
        super().__init__(api_key=api_key, script=script)
        self.started: list[str] = []

    def route(self, request: Request) -> Reply:
        parts = request.path.strip("/").split("/")[1:]
        if request.method == "POST" and parts == ["files"]:
            file_id = f"00000000-0000-4000-8000-{len(self.files) + 1:012d}"
            self.files[file_id] = request
            return Reply(body={"id": file_id, "object": "file", "purpose": request.form.get("purpose"),
                               "filename": request.files["file"][0], "bytes": len(request.files["file"][1]),
                               "sample_type": "instruct", "source": "upload"})
        if parts[:2] != ["fine_tuning", "jobs"]:
            return Reply(404, {"detail": f"no route {request.path}"})
        if request.method == "POST" and len(parts) == 2:
            return Reply(body=self.render(self.new_job("ftjob-m", request.json)))
        if request.method == "GET" and len(parts) == 2:
            found = [self.render(job) for job in self.jobs.values()
                     if job.body.get("model") == request.query.get("model", job.body.get("model"))]
            return Reply(body={"object": "list", "data": found[::-1], "total": len(found), "has_more": False})
        job = self.jobs.get(parts[2])
        if job is None:
            return Reply(404, {"detail": f"No fine-tuning job {parts[2]}"})
        if request.method == "GET" and len(parts) == 3:
            self.advance(job)
            return Reply(body=self.render(job))
        if request.method == "POST" and parts[3:] == ["start"]:
            if job.stage != "validated":
                return Reply(400, {"detail": f"job {job.id} is not validated"})
            self.started.append(job.id)
            job.stage = "running"
            return Reply(body=self.render(job))
        if request.method == "POST" and parts[3:] == ["cancel"]:
            return self.cancel(job) or Reply(body=self.render(job))
        return Reply(404, {"detail": f"no route {request.path}"})

    def render(self, job: Job) -> dict[str, Any]:
        status = self.STATUS.get(job.stage) or ("QUEUED" if job.preparing_left > 1 else "VALIDATING")
        checkpoints = [{"metrics": {"train_loss": loss(step), "valid_loss": valid_loss(step),
                                    "valid_mean_token_accuracy": 0.5},
                        "step_number": step, "created_at": int(job.created) + step}
                       for step in range(job.step, 0, -1)]  # newest first
        events: list[dict[str, Any]] = [{"name": "status-updated", "data": {"status": "QUEUED"},
                                         "created_at": int(job.created)}]
        if job.stage == "failed":
            events.append({"name": "status-updated", "created_at": int(job.created) + 1,
                           "data": {"status": "FAILED_VALIDATION", "error": self.script.fail_message}})
        body = job.body
        return {"id": job.id, "object": "job", "model": body.get("model"), "status": status, "job_type": "completion",
                "auto_start": body.get("auto_start"), "hyperparameters": body.get("hyperparameters"),
                "training_files": [item["file_id"] for item in body.get("training_files", [])],
                "validation_files": body.get("validation_files", []), "suffix": body.get("suffix"),
                "fine_tuned_model": self.model_of(job) if job.stage == "succeeded" else None,
                "created_at": int(job.created), "checkpoints": checkpoints, "events": events}


class FakeTogether(FakeProvider):
    """POST /v1/files/upload, /v1/fine-tunes (list, get, events oldest first, checkpoints, cancel)."""

    STATUS: ClassVar[dict[str, str]] = {"running": "running", "succeeded": "completed", "failed": "error",
                                        "cancelling": "cancel_requested", "cancelled": "cancelled"}

    def route(self, request: Request) -> Reply:
        parts = request.path.strip("/").split("/")[1:]
        if parts[:1] in (["hardware"], ["endpoints"], ["chat"]):
            return self.serving(request, parts)
        if request.method == "POST" and parts == ["files", "upload"]:
            file_id = f"file-{len(self.files) + 1:04d}-together"
            self.files[file_id] = request
            return Reply(body={"id": file_id, "object": "file", "purpose": request.form.get("purpose"),
                               "filename": request.form.get("file_name"), "bytes": len(request.files["file"][1]),
                               "Processed": True, "FileType": "jsonl"})
        if parts[:1] != ["fine-tunes"]:
            return Reply(404, {"error": {"message": f"no route {request.path}"}})
        if request.method == "POST" and len(parts) == 1:
            return Reply(body=self.render(self.new_job("ft-", request.json)))
        if request.method == "GET" and len(parts) == 1:
            return Reply(body={"data": [self.render(job) for job in self.jobs.values()]})
        job = self.jobs.get(parts[1])
        if job is None:
            return Reply(404, {"error": {"message": f"fine-tune {parts[1]} not found"}})
        if request.method == "GET" and len(parts) == 2:
            self.advance(job)
            return Reply(body=self.render(job))
        if request.method == "GET" and parts[2:] == ["events"]:
            return Reply(body={"data": self.events(job)})
        if request.method == "GET" and parts[2:] == ["checkpoints"]:
            return Reply(body={"data": self.checkpoints(job)})
        if request.method == "POST" and parts[2:] == ["cancel"]:
            return self.cancel(job) or Reply(body=self.render(job))
        return Reply(404, {"error": {"message": f"no route {request.path}"}})

    def render(self, job: Job) -> dict[str, Any]:
        status = self.STATUS.get(job.stage) or ("pending" if job.preparing_left > 1 else "queued")
        return {"id": job.id, "status": status, "model": job.body.get("model"),
                "training_file": job.body.get("training_file"), "validation_file": job.body.get("validation_file"),
                "model_output_name": self.model_of(job), "events": self.events(job),
                "training_type": job.body.get("training_type"), "created_at": "2025-01-01T00:00:00Z"}

    def model_of(self, job: Job) -> str:
        return f"user/{job.body.get('model')}-{job.id}"

    def events(self, job: Job) -> list[dict[str, Any]]:
        def event(type_: str, message: str, **extra: Any) -> dict[str, Any]:
            return {"object": "fine-tune-event", "created_at": "2025-01-01T00:00:00Z", "level": "info",
                    "message": message, "type": type_, **extra}

        total = self.script.steps
        found = [event("job_pending", "Fine tune request created")]
        if job.stage != "preparing":
            found.append(event("job_start", "Training started"))
        found += [event("checkpoint_save", f"Step {step}/{total}: loss: {loss(step)}, eval_loss: {valid_loss(step)}",
                        step=step, total_steps=total) for step in range(1, job.step + 1)]
        if job.stage == "failed":
            found.append({**event("job_error", self.script.fail_message or "failed"), "level": "error"})
        if job.stage == "succeeded":
            found.append(event("job_complete", "Job finished"))
        return found

    # --- dedicated endpoints (https://docs.together.ai/reference/createendpoint, ...) ------------------
    HARDWARE: ClassVar[list[dict[str, Any]]] = [
        {"object": "hardware", "id": "2x_nvidia_h100_80gb_sxm", "pricing": {"cents_per_minute": 13.3},
         "specs": {"gpu_type": "h100-80gb", "gpu_link": "sxm", "gpu_memory": 80, "gpu_count": 2},
         "availability": {"status": "available"}, "updated_at": "2025-01-01T00:00:00Z"},
        {"object": "hardware", "id": "1x_nvidia_h100_80gb_sxm", "pricing": {"cents_per_minute": 6.65},
         "specs": {"gpu_type": "h100-80gb", "gpu_link": "sxm", "gpu_memory": 80, "gpu_count": 1},
         "availability": {"status": "available"}, "updated_at": "2025-01-01T00:00:00Z"},
        {"object": "hardware", "id": "1x_nvidia_a100_80gb_sxm", "pricing": {"cents_per_minute": 4.0},
         "specs": {"gpu_type": "a100-80gb", "gpu_link": "sxm", "gpu_memory": 80, "gpu_count": 1},
         "availability": {"status": "unavailable"}, "updated_at": "2025-01-01T00:00:00Z"}]
    STARTING_POLLS = 2  # GETs of an endpoint before it is STARTED

    @property
    def endpoints(self) -> dict[str, dict[str, Any]]:
        return self.__dict__.setdefault("_endpoint_store", {})

    @property
    def chats(self) -> list[Request]:
        return self.__dict__.setdefault("_chats", [])

    def serving(self, request: Request, parts: list[str]) -> Reply:
        if request.method == "GET" and parts == ["hardware"]:
            return Reply(body={"object": "list", "data": self.HARDWARE})
        if request.method == "POST" and parts == ["chat", "completions"]:
            return chat_reply(self, request, {e["name"] for e in self.endpoints.values() if e["state"] == "STARTED"})
        if request.method == "POST" and parts == ["endpoints"]:
            body = request.json or {}
            endpoint_id = f"endpoint-{len(self.endpoints) + 1:04d}"
            self.endpoints[endpoint_id] = {
                "object": "endpoint", "id": endpoint_id, "name": f"user/{body.get('model')}-{endpoint_id}",
                "display_name": body.get("display_name"), "model": body.get("model"), "hardware": body.get("hardware"),
                "type": "dedicated", "owner": "user", "state": "PENDING", "autoscaling": body.get("autoscaling"),
                "created_at": "2025-01-01T00:00:00Z", "_polls": 0}
            return Reply(body=_public(self.endpoints[endpoint_id]))
        endpoint = self.endpoints.get(parts[1]) if len(parts) == 2 and parts[0] == "endpoints" else None
        if endpoint is None:
            return Reply(404, {"error": {"message": f"no route or endpoint {request.path}"}})
        if request.method == "GET":
            endpoint["_polls"] += 1
            if endpoint["state"] in ("PENDING", "STARTING"):
                endpoint["state"] = "STARTED" if endpoint["_polls"] >= self.STARTING_POLLS else "STARTING"
            return Reply(body=_public(endpoint))
        if request.method == "PATCH":
            state = (request.json or {}).get("state")
            if state == "STOPPED":
                endpoint["state"] = "STOPPED"
            elif state == "STARTED":
                endpoint.update(state="PENDING", _polls=0)
            return Reply(body=_public(endpoint))
        if request.method == "DELETE":
            del self.endpoints[parts[1]]
            return Reply(body={})
        return Reply(404, {"error": {"message": f"no route {request.path}"}})

    def checkpoints(self, job: Job) -> list[dict[str, Any]]:
        return [{"step": step, "path": f"s3://ckpt/{job.id}/{step}", "created_at": "2025-01-01T00:00:00Z",
                 "checkpoint_type": "final" if job.stage == "succeeded" and step == job.step else "intermediate"}
                for step in range(job.step, 0, -1)]


def grpc_error(status: int, code: int, message: str) -> Reply:
    """An error as Fireworks' gateway answers it: `{"code": <gRPC code>, "message": ..., "details": []}`."""
    return Reply(status, {"code": code, "message": message, "details": []})


class FakeFireworks(FakeProvider):
    """Fireworks AI under /v1/accounts/{account}/: datasets (create with our datasetId, `:upload`, get),
    supervisedFineTuningJobs and dpoJobs (create with our job id, get, `:cancel`; DPO `:getMetricsFileEndpoint`),
    `GET /v1/accounts`, and the metrics files behind signed URLs (`/signed/...`, served without the key)."""

    STATE: ClassVar[dict[str, str]] = {"running": "JOB_STATE_RUNNING", "succeeded": "JOB_STATE_COMPLETED",
                                       "failed": "JOB_STATE_FAILED", "cancelling": "JOB_STATE_RUNNING",
                                       "cancelled": "JOB_STATE_CANCELLED"}
    ID_QUERY: ClassVar[dict[str, str]] = {"supervisedFineTuningJobs": "supervisedFineTuningJobId",
                                          "dpoJobs": "dpoJobId"}

    def __init__(self, *, api_key: str | None, script: Script | None = None,
                 accounts: tuple[str, ...] = ("acme",)) -> None:
        super().__init__(api_key=api_key, script=script)
        self.accounts = list(accounts)
        self.datasets: dict[str, dict[str, Any]] = {}  # resource name -> dataset
        self.downloads: list[Request] = []  # the requests for the signed metrics files

    def answer(self, request: Request) -> Reply:
        if request.path.startswith("/signed/"):  # object storage: the URL's signature, no key
            self.downloads.append(request)
            return self.metrics_file(request)
        if request.path.startswith("/inference/"):  # https://api.fireworks.ai/inference/v1/chat/completions
            return super().answer(Request(**{**request.__dict__, "path": "/v1/inference-chat"}))
        return super().answer(request)

    def route(self, request: Request) -> Reply:
        parts = request.path.strip("/").split("/")[1:]
        if parts == ["inference-chat"] and request.method == "POST":
            ready = {d["baseModel"] for d in self.deployments.values() if d["state"] == "READY"}
            return chat_reply(self, request, ready)
        if parts == ["accounts"] and request.method == "GET":
            return Reply(body={"accounts": [{"name": f"accounts/{a}", "displayName": a, "state": "READY"}
                                            for a in self.accounts], "totalSize": len(self.accounts)})
        if len(parts) < 3 or parts[0] != "accounts":
            return grpc_error(404, 5, f"no route {request.path}")
        if parts[1] not in self.accounts:
            return grpc_error(403, 7, f"the key has no access to account {parts[1]}")
        parent, collection, rest = f"accounts/{parts[1]}", parts[2], parts[3:]
        resource, _, verb = (rest[0].partition(":") if rest else ("", "", ""))
        if collection == "datasets":
            return self._datasets(request, parent, resource, verb)
        if collection in self.ID_QUERY:
            return self._jobs(request, parent, collection, resource, verb)
        if collection == "deployments":
            return self._deployments(request, parent, resource)
        return grpc_error(404, 5, f"no route {request.path}")

    # --- deployments (https://docs.fireworks.ai/api-reference/create-deployment, ...) ------------------
    CREATING_POLLS = 2  # GETs of a deployment before it is READY

    @property
    def deployments(self) -> dict[str, dict[str, Any]]:
        return self.__dict__.setdefault("_deployment_store", {})

    @property
    def chats(self) -> list[Request]:
        return self.__dict__.setdefault("_chats", [])

    def _deployments(self, request: Request, parent: str, resource: str) -> Reply:
        if request.method == "POST" and not resource:
            deployment_id = request.query.get("deploymentId") or f"generated-{len(self.deployments) + 1}"
            name = f"{parent}/deployments/{deployment_id}"
            if name in self.deployments:
                return grpc_error(409, 6, f"deployment {name} already exists")
            body = request.json or {}
            self.deployments[name] = {**body, "name": name, "state": "CREATING", "_polls": 0,
                                      "status": {"code": "OK", "message": ""}, "createTime": "2025-01-01T00:00:00Z"}
            return Reply(body=_public(self.deployments[name]))
        deployment = self.deployments.get(f"{parent}/deployments/{resource}")
        if deployment is None:
            return grpc_error(404, 5, f"deployment {parent}/deployments/{resource} not found")
        if request.method == "GET":
            deployment["_polls"] += 1
            if deployment["state"] == "CREATING" and deployment["_polls"] >= self.CREATING_POLLS:
                deployment["state"] = "READY"
            elif deployment["state"] == "DELETING":
                del self.deployments[deployment["name"]]
                return grpc_error(404, 5, f"deployment {deployment['name']} not found")
            return Reply(body=_public(deployment))
        if request.method == "DELETE":
            deployment["state"] = "DELETING"
            return Reply(body={})
        return grpc_error(404, 5, f"no route {request.path}")

    # --- datasets ---------------------------------------------------------------------------------
    def _datasets(self, request: Request, parent: str, resource: str, verb: str) -> Reply:
        if request.method == "POST" and not resource:
            dataset_id = (request.json or {}).get("datasetId")
            name = f"{parent}/datasets/{dataset_id}"
            if not dataset_id:
                return grpc_error(400, 3, "datasetId is required")
            if name in self.datasets:
                return grpc_error(409, 6, f"dataset {name} already exists")
            self.datasets[name] = {**(request.json.get("dataset") or {}), "name": name, "state": "UPLOADING",
                                   "status": {"code": "OK", "message": ""}, "createTime": "2025-01-01T00:00:00Z"}
            return Reply(body=self.datasets[name])
        name = f"{parent}/datasets/{resource}"
        dataset = self.datasets.get(name)
        if dataset is None:
            return grpc_error(404, 5, f"dataset {name} not found")
        if request.method == "GET" and not verb:
            return Reply(body=dataset)
        if request.method == "POST" and verb == "upload":
            if dataset["state"] == "READY":
                return grpc_error(400, 9, f"dataset {name} is already uploaded")
            filename, content = request.files["file"]
            self.files[name] = request
            dataset["state"] = "READY"
            return Reply(body={"id": resource, "object": "file", "bytes": len(content), "filename": filename,
                               "created_at": int(time.time()), "purpose": "fine-tune"})
        return grpc_error(404, 5, f"no route {request.path}")

    # --- jobs -------------------------------------------------------------------------------------
    def _jobs(self, request: Request, parent: str, collection: str, resource: str, verb: str) -> Reply:
        if request.method == "POST" and not resource:
            return self._create(request, parent, collection)
        job = self.jobs.get(f"{parent}/{collection}/{resource}")
        if job is None:
            return grpc_error(404, 5, f"{collection} {parent}/{collection}/{resource} not found")
        if request.method == "GET" and not verb:
            self.advance(job)
            return Reply(body=self.render(job))
        if request.method == "POST" and verb == "cancel":
            refused = self.cancel(job)
            return grpc_error(400, 9, f"job {job.id} has already ended") if refused else Reply(body={})
        if request.method == "GET" and verb == "getMetricsFileEndpoint" and collection == "dpoJobs":
            if job.step == 0:
                return grpc_error(404, 5, f"no metrics file for {job.id} yet")
            return Reply(body={"signedUrl": self.metrics_url(job)})
        return grpc_error(404, 5, f"no route {request.path}")

    def _create(self, request: Request, parent: str, collection: str) -> Reply:
        job_id = request.query.get(self.ID_QUERY[collection]) or f"generated-{len(self.jobs) + 1}"
        name = f"{parent}/{collection}/{job_id}"
        body = request.json or {}
        if name in self.jobs:
            return grpc_error(409, 6, f"job {name} already exists")
        for field_name in ("dataset", "evaluationDataset"):
            dataset = self.datasets.get(body.get(field_name) or "")
            if body.get(field_name) and (dataset is None or dataset["state"] != "READY"):
                return grpc_error(400, 9, f"{field_name} {body.get(field_name)} is not READY")
        job = Job(id=name, body=body, preparing_left=self.script.preparing_polls)
        self.jobs[name] = job
        return Reply(body=self.render(job))

    def render(self, job: Job) -> dict[str, Any]:
        state = self.STATE.get(job.stage) or ("JOB_STATE_CREATING" if job.preparing_left > 1
                                              else "JOB_STATE_VALIDATING")
        failed = job.stage == "failed"
        rendered: dict[str, Any] = {
            "name": job.id, "displayName": job.body.get("displayName"), "dataset": job.body.get("dataset"),
            "createTime": "2025-01-01T00:00:00Z", "state": state,
            "status": {"code": "INVALID_ARGUMENT" if failed else "OK",
                       "message": self.script.fail_message if failed else ""},
            "jobProgress": {"percent": round(100 * job.step / self.script.steps), "epoch": 0}}
        if "/dpoJobs/" in job.id:
            rendered["trainingConfig"] = {**job.body.get("trainingConfig", {}), "outputModel": self.model_of(job)}
            rendered["lossConfig"] = job.body.get("lossConfig")
        else:
            rendered.update({key: value for key, value in job.body.items() if key not in rendered})
            rendered["outputModel"] = self.model_of(job)
            if job.step:
                rendered["metricsFileSignedUrl"] = self.metrics_url(job)
        return rendered

    def model_of(self, job: Job) -> str:
        account, job_id = job.id.split("/")[1], job.id.rsplit("/", 1)[-1]
        return f"accounts/{account}/models/{job_id}"

    def metrics_url(self, job: Job) -> str:
        return f"{self.origin}/signed/{job.id.rsplit('/', 1)[-1]}/metrics.jsonl?X-Goog-Signature=f00d{job.step}"

    def metrics_file(self, request: Request) -> Reply:
        if "X-Goog-Signature" not in request.query:
            return Reply(403, {"error": {"message": "signature required"}})
        job_id = request.path.split("/")[2]
        job = next((j for j in self.jobs.values() if j.id.endswith(f"/{job_id}")), None)
        if job is None or job.step == 0:
            return Reply(404, {"error": {"message": "no such object"}})
        lines = [{"step": step, "max_steps": self.script.steps, "timestamp": "2025-01-01T00:00:00Z",
                  "data": {"train/loss": loss(step), "eval/loss": valid_loss(step), "train/epoch": 0}}
                 for step in range(1, job.step + 1)]
        return Reply(raw="".join(json.dumps(line) + "\n" for line in lines).encode())


def _public(resource: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in resource.items() if not key.startswith("_")}


def chat_reply(provider: Any, request: Request, served: set[str]) -> Reply:
    """A Chat Completions answer from a deployed model (recorded in `provider.chats`); 404 for one not served."""
    provider.chats.append(request)
    model = (request.json or {}).get("model")
    if model not in served:
        return Reply(404, {"error": {"message": f"Unable to access model {model}: not deployed",
                                     "type": "invalid_request_error", "code": "model_not_available"}})
    return Reply(body={"id": "chatcmpl-1", "object": "chat.completion", "created": 1735689600, "model": model,
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": f"Hello from {model}"},
                                    "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11}})


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        return None  # a client that gave up resets its connection: expected here


class HostedServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 in front of one fake provider."""

    def __init__(self, provider: FakeProvider, decide: Decide | None = None) -> None:
        self.provider = provider
        self.decide = decide
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_GET(self) -> None:
                server._handle(self)

            def do_POST(self) -> None:
                server._handle(self)

            def do_PATCH(self) -> None:
                server._handle(self)

            def do_DELETE(self) -> None:
                server._handle(self)

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        host, port = self.httpd.server_address[:2]
        provider.origin = f"http://{host!s}:{port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def calls(self, method: str, path: str) -> list[Request]:
        """The requests made to `path` (under /v1), in order."""
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path == f"/v1/{path.lstrip('/')}"]

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        request = _read(handler)
        with self._lock:
            self.requests.append(request)
            reply = (self.decide(request) if self.decide else None) or self.provider.answer(request)
            if reply.lost:
                self.provider.answer(request)
        if reply.delay_s:
            time.sleep(reply.delay_s)
        if reply.drop or reply.lost:
            handler.close_connection = True
            with suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)
            return
        data = reply.raw if reply.raw is not None else json.dumps(reply.body if reply.body is not None else {}).encode()
        try:
            handler.send_response(reply.status)
            handler.send_header("Content-Type", "application/jsonl" if reply.raw is not None else "application/json")
            handler.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            handler.close_connection = True

    def start(self) -> HostedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _read(handler: BaseHTTPRequestHandler) -> Request:
    raw = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
    headers = {name.lower(): value for name, value in handler.headers.items()}
    split = urlsplit(handler.path)
    body: Any = None
    form: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    content_type = headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            payload = payload if isinstance(payload, bytes) else b""
            if part.get_filename() is not None:
                files[str(name)] = (part.get_filename() or "", payload)
            else:
                form[str(name)] = payload.decode()
    elif raw:
        with suppress(ValueError):
            body = json.loads(raw)
    return Request(method=handler.command, path=split.path, query=dict(parse_qsl(split.query)), headers=headers,
                   json=body, form=form, files=files, at=time.monotonic())


@contextmanager
def hosted_server(provider: FakeProvider, decide: Decide | None = None) -> Iterator[HostedServer]:
    server = HostedServer(provider, decide).start()
    try:
        yield server
    finally:
        server.stop()
