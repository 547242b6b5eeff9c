"""Schemathesis against `finetune serve`: the OpenAPI document and the API's behaviour agree.

A real server (gunicorn on 127.0.0.1) and a real signed-up user whose project, files, examples,
fine-tunings, model and keys exist, so path parameters are real ids. Every schemathesis check runs,
in positive and negative generation, through all four phases (examples, coverage, fuzzing, stateful):
a request the document allows is accepted, one it forbids is refused, no request causes a 5xx, every
answer fits its documented status, content type, headers and schema, OPTIONS allows exactly the
documented methods, a deleted resource is gone, a created one is there, auth is never ignored.
Derandomized and bounded, so it takes the same path every run.

Nothing leaves the machine: the Hugging Face Hub is a fake on 127.0.0.1, every other client of the
server meets a proxy that refuses, and a URL the fuzzer draws as valid is moved under `.invalid`
(RFC 6761: a name that never resolves), so no page is ever fetched. Uploaded files are drawn as CSV
of question/answer rows: a type the document lists for every upload, and one a dataset takes. Where a
check cannot apply as it stands, `RELAXED` says what else that operation may answer, and why.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from finetune_web.schemas.urls import MAX_URL, PUBLIC_URL_PATTERN, VIDEO_URL_PATTERN
from hypothesis import find, settings
from hypothesis import strategies as st
from kits.chat_completions import Action, chat_server
from kits.fake_stripe import serve_stripe
from kits.live_server import finetune_serve, wait_until

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import CHECKS  # noqa: E402
from schemathesis.core.jsonschema import make_validator  # noqa: E402
from schemathesis.core.parameters import ParameterLocation  # noqa: E402
from schemathesis.engine import Status, events  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402
from schemathesis.generation.meta import ComponentInfo  # noqa: E402
from schemathesis.hooks import GLOBAL_HOOK_DISPATCHER  # noqa: E402
from schemathesis.specs.openapi.formats import unregister_string_format  # noqa: E402
from schemathesis.transport.serialization import Binary  # noqa: E402

PASSWORD = "a long enough password"
WORKER_TOKEN = "worker-token-for-the-conformance-test"
CRON_SECRET = "cron-secret-for-the-conformance-test"
PLANS = [{"id": "free", "name": "Free"}, {"id": "pro", "name": "Pro", "prices": {"monthly": "price_pro_m",
                                                                                "yearly": "price_pro_y"}}]
MAX_EXAMPLES = 10
NOTE = ("# Starter care\n\nSourdough starters need regular feeding with equal weights of flour and water. A healthy "
        "starter doubles in volume within six hours at room temperature.\n\nBakers discard part of the starter "
        "before each feeding to keep its acidity in balance, and keep it in the fridge between bakes.\n")
URL_FIELDS = ("url", "base_url")
NOWHERE = ".invalid"
DEFAULT_CHECKS = schemathesis.Config().projects.get_default().checks
DEFAULT_STATUSES = {name: list(DEFAULT_CHECKS.get_by_name(name=name).expected_statuses)
                    for name in ("positive_data_acceptance", "negative_data_rejection")}


@dataclass(frozen=True)
class Also:
    """A check that takes more statuses on one operation than by default (none: it is off there), and why."""

    statuses: tuple[str, ...]
    why: str

    def config(self, check: str) -> dict[str, Any]:
        if not self.statuses:
            return {"enabled": False}
        return {"expected-statuses": [*DEFAULT_STATUSES[check], *self.statuses]}


OUT_OF_REACH = "the answer depends on a service on the internet, out of reach in this test"
# (method, path) -> {check: what else it takes there}; every other check runs there as it is
RELAXED: dict[tuple[str, str], dict[str, Also]] = {
    ("POST", "/api/helpers/scrape-web"): {"positive_data_acceptance": Also(("422",), (
        f"{OUT_OF_REACH}: the page is fetched at once, and every URL is on a {NOWHERE} name here, so a valid one "
        "answers 422 CONTENT_NOT_EXTRACTED (could not resolve the host)"))},
    ("POST", "/api/helpers/video-transcript"): {"positive_data_acceptance": Also(("422",), (
        f"{OUT_OF_REACH}: the captions are read from YouTube at once, so a valid video URL answers 422 "
        "TRANSCRIPT_UNAVAILABLE (could not reach YouTube)"))},
    ("POST", "/api/users/me/api-keys/{provider}/check"): {"positive_data_acceptance": Also(("400",), (
        f"{OUT_OF_REACH}: the key is checked by a call to the provider's API, so a well-formed key answers 400 "
        "INVALID_API_KEY (the API could not be reached)"))},
    ("POST", "/api/projects/{project_id}/chunks/generate"): {"positive_data_acceptance": Also(("400",), (
        "the overlap must be smaller than the size, each one from the body or else from the project's config: a "
        "comparison JSON Schema cannot state, answered 400"))},
    ("POST", "/api/projects/{project_id}/files/upload"): {"positive_data_acceptance": Also(("415",), (
        "a file's type, read from its bytes, must suit the `kind` given (raw_doc: PDF, DOCX, HTML, Markdown, text; "
        "dataset_upload: CSV, JSONL, JSON): a rule between a field and a file's content that JSON Schema cannot "
        "state, answered 415"))},
    ("PATCH", "/api/finetune/{finetune_id}/status"): {"positive_data_acceptance": Also(("400",), (
        "a report gives at least one of status_update, progress, current_step or logs, in the query or in the "
        "body: a rule across the two that JSON Schema cannot state, answered 400 NO_CHANGES"))},
    **{("POST", path): {"positive_data_acceptance": Also(("400",), (
        "a trainer's hyperparameters and options are its plugin's own, checked by it with no schema the document "
        "could show, and a run needs the project's base model and valid examples (a project the stateful phase "
        "made has neither): answered 400"))}
       for path in ("/api/fine-tunings", "/api/finetune", "/api/projects/{project_id}/train/start")},
    **{("DELETE", path): {"ensure_resource_availability": Also((), (
        "the child's id is pinned to one of the test project's, so when the stateful phase gives a project it has "
        "just made, the 404 is the child's (not in that project), which the check takes for the project's"))}
       for path in ("/api/projects/{project_id}/files/{file_id}", "/api/projects/{project_id}/dataset/examples/"
                    "{example_id}", "/api/datasets/{dataset_id}/pairs/{pair_id}")},
    ("POST", "/api/projects/{project_id}/model/resolve"): {"ensure_resource_availability": Also((), (
        f"{OUT_OF_REACH}: the Hub here knows no model, so a resolve answers 404 MODEL_NOT_FOUND, the model's 404, "
        "which the check takes for the project's just made"))},
    ("POST", "/api/datasets/{dataset_id}/pairs/bulk"): {"negative_data_rejection": Also(("413",), (
        "5001 pairs, one more than the schema allows, can be larger than the body this route takes (32 MiB): "
        "refused with 413 before the body is read, a refusal all the same"))},
}

RELAXED[("POST", "/api/billing/portal")] = {"positive_data_acceptance": Also(("400",), (
    "the portal is Stripe's page for a customer, and the run's user has bought nothing: 400 NO_BILLING_ACCOUNT"))}
RELAXED[("POST", "/api/checkout/create-session")] = {"positive_data_acceptance": Also(("400",), (
    "`planId` must name one of the operator's plans with a price, and `affiliateCode` a promotion code Stripe "
    "knows: answered 400 UNKNOWN_PLAN, PLAN_NOT_PURCHASABLE or INVALID_PROMOTION_CODE"))}
RELAXED[("POST", "/api/gdpr/delete")] = {"positive_data_acceptance": Also(("400",), (
    "`confirmation` must be the words DELETE_MY_DATA, as crealia has it (anything else is 400, not 422): "
    "answered 400 CONFIRMATION_REQUIRED"))}
RELAXED |= {("POST", path): {"positive_data_acceptance": Also(("400",), (
    "Stripe signs a webhook's body with the server's secret (`Stripe-Signature`): any other body or header is "
    "answered 400 INVALID_SIGNATURE"))} for path in ("/api/checkout/webhook", "/api/stripe-webhook")}
RELAXED[("POST", "/api/projects/{project_id}/evaluate")] = {"positive_data_acceptance": Also(("400",), (
    "an evaluation needs the project's chunks, and named models or a finished fine-tune (a project the stateful phase "
    "made has none of them): answered 400"))}

NO_MEDIA_MODEL = ("no image or transcription model runs offline, and none is configured in this test: answered 503 "
                  "NO_MODEL_CONFIGURED naming the setting (FINETUNE_IMAGE_MODEL, FINETUNE_TRANSCRIPTION_MODEL)")
RELAXED[("POST", "/api/ai/images")] = {"not_a_server_error": Also((), NO_MEDIA_MODEL)}
RELAXED[("POST", "/api/ai/subtitles")] = {"not_a_server_error": Also((), NO_MEDIA_MODEL),
                                          "positive_data_acceptance": Also(("400", "503"), (
    "exactly one of `audio_url` and `file_id`: a rule across two fields, answered 400; " + NO_MEDIA_MODEL))}
RELAXED[("POST", "/api/studio/upload")] = {"positive_data_acceptance": Also(("415",), (
    "the file's bytes must be video, audio or an image (read from its magic numbers), which JSON Schema cannot "
    "state: answered 415"))}
RELAXED[("POST", "/api/models/{model_id}/deployment")] = {"positive_data_acceptance": Also(("400", "409"), (
    "only a Together or Fireworks fine-tune can be deployed (the run's models are entered by hand: 400 "
    "NOT_SUPPORTED), and a deployment starts only once its estimated cost is confirmed (409 "
    "DEPLOYMENT_COST_UNCONFIRMED)"))}

# --- the outside world, on 127.0.0.1 ---------------------------------------------------------------------------

@contextmanager
def fake_hub() -> Iterator[str]:
    """A Hugging Face Hub on 127.0.0.1 that knows no model (404 RepoNotFound, as the Hub says it)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"error": "Repository not found"}'
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Error-Code", "RepoNotFound")
            self.end_headers()
            self.wfile.write(body)

        do_HEAD = do_GET

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def refusing_port() -> Iterator[int]:
    """A port bound but never listening: a connection to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@contextmanager
def live_server(tmp_path: Path, hub: str) -> Iterator[str]:
    """`finetune serve` on a free port, its Hub `hub`: every other client of the server meets a refusing proxy.
    Chats answer with a fake Chat Completions server on 127.0.0.1 (a model at the HTTP boundary, answering at once)."""
    with refusing_port() as dead, chat_server(lambda call: Action(text="A short answer.")) as model, \
            serve_stripe() as stripe:
        proxy = f"http://127.0.0.1:{dead}"
        model_host = model.url.removeprefix("http://").split("/")[0]
        # billing against a fake Stripe on 127.0.0.1, its limits off (the runs create what they like)
        billing = {f"FINETUNE_{name.upper()}": value for name, value in stripe.settings().items()}
        billing |= {"FINETUNE_PLANS": json.dumps(PLANS), "FINETUNE_ENFORCE_PLAN_LIMITS": "off",
                    "FINETUNE_CRON_SECRET": CRON_SECRET}
        env = {**billing, "FINETUNE_DEFAULT_CHAT_MODEL": f"openai-compatible:fake@{model.url}",
               "FINETUNE_ALLOWED_MODEL_HOSTS": model_host,
               "FINETUNE_WORKER_TOKEN": WORKER_TOKEN, "HF_ENDPOINT": hub, "HF_HUB_OFFLINE": "0",
               "HTTP_PROXY": proxy, "HTTPS_PROXY": proxy, "ALL_PROXY": proxy, "NO_PROXY": "127.0.0.1,localhost",
               "http_proxy": proxy, "https_proxy": proxy, "all_proxy": proxy, "no_proxy": "127.0.0.1,localhost"}
        with finetune_serve(tmp_path, "--workers", "1", env=env) as live:
            yield live.base


# --- a user with one of everything -----------------------------------------------------------------------------

@dataclass
class World:
    """Real ids for the path parameters, and tokens."""

    token: str
    logout_token: str
    erase_token: str  # another account's: POST /api/gdpr/delete may erase it, never the run's
    ids: dict[str, str]  # path parameter -> an id of the user's
    victims: dict[str, dict[str, str]]  # DELETE path -> path parameters naming something made to be deleted


class Api:
    def __init__(self, http: httpx.Client, token: str) -> None:
        self.http, self.headers = http, {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, status: int, **kwargs: Any) -> Any:
        response = self.http.request(method, path, headers=self.headers, **kwargs)
        assert response.status_code == status, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def job_done(self, job_id: str) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            job = self.call("GET", f"/api/jobs/{job_id}", 200)
            return job if job["status"] in ("success", "failed", "cancelled") else None

        job: dict[str, Any] = wait_until(finished, f"job {job_id}", timeout=120, every=0.2)
        return job

    def upload(self, project_id: str, name: str) -> dict[str, Any]:
        uploaded = self.call("POST", f"/api/projects/{project_id}/files/upload", 201,
                             files={"files": (name, NOTE.encode(), "text/markdown")})
        assert self.job_done(uploaded["job_id"])["status"] == "success"
        return dict(uploaded["files"][0])

    def fine_tuning(self, project_id: str) -> str:
        started = self.call("POST", "/api/fine-tunings", 201, json={
            "dataset_id": project_id, "model": "gpt-4o-mini-2024-07-18", "options": {"max_retries": 0}})
        self.job_done(started["job_id"])  # the provider is out of reach: it ends in error, at once
        return str(started["id"])


def signed_up(http: httpx.Client, email: str = "fuzz@example.com") -> tuple[str, str]:
    http.post("/api/auth/register", json={"email": email, "password": PASSWORD}).raise_for_status()
    tokens = [http.post("/api/auth/login", json={"email": email, "password": PASSWORD}).json() for _ in range(2)]
    return tokens[0]["access_token"], tokens[1]["access_token"]


def make_world(base: str) -> World:
    with httpx.Client(base_url=base, timeout=60) as http:
        token, logout_token = signed_up(http)
        erase_token = signed_up(http, "erase@example.com")[0]
        api = Api(http, token)
        project = api.call("POST", "/api/projects", 201, json={"name": "starters"})["id"]
        file = api.upload(project, "care.md")
        spare = [api.upload(project, f"gone-{index}.md")["id"] for index in range(3)]  # documents: any source
        chunked = api.call("POST", f"/api/projects/{project}/chunks/generate", 202, json={})
        assert api.job_done(chunked["job_id"])["status"] == "success"
        generated = api.call("POST", f"/api/projects/{project}/dataset/generate", 202, json={"num_examples_target": 8})
        assert api.job_done(generated["job_id"])["status"] == "success"
        examples = api.call("GET", f"/api/projects/{project}/dataset/examples", 200)["items"]
        assert len(examples) >= 3, examples
        api.call("POST", "/api/users/me/api-keys", 201, json={"provider": "openai", "key": "sk-" + "a1" * 12})
        fine_tuning, fine_tuning_victim = api.fine_tuning(project), api.fine_tuning(project)
        model = api.call("POST", "/api/models", 201, json={"name": "m", "base_model": "b", "version": "1"})["id"]
        project_victim = api.call("POST", "/api/projects", 201, json={"name": "to delete"})["id"]
        dataset_victim = api.call("POST", "/api/projects", 201, json={"name": "dataset to delete"})["id"]
        # file_id, example_id and pair_id name a thing to delete: see `victims`
        ids = {"project_id": project, "dataset_id": project, "content_id": file["id"], "document_id": file["id"],
               "job_id": generated["job_id"], "fine_tuning_id": fine_tuning, "finetune_id": fine_tuning,
               "model_id": model, "filename": "adapter_config.json", "plan_id": "pro"}
        victims = {
            "/api/projects/{project_id}": {"project_id": project_victim},
            "/api/datasets/{dataset_id}": {"dataset_id": dataset_victim},
            "/api/projects/{project_id}/files/{file_id}": {"file_id": spare[0]},
            "/api/contents/{content_id}": {"content_id": spare[1]},
            "/api/documents/{document_id}": {"document_id": spare[2]},
            "/api/projects/{project_id}/dataset/examples/{example_id}": {"example_id": examples[1]["id"]},
            "/api/datasets/{dataset_id}/pairs/{pair_id}": {"pair_id": examples[2]["id"]},
            "/api/fine-tunings/{fine_tuning_id}": {"fine_tuning_id": fine_tuning_victim},
        }
        return World(token, logout_token, erase_token, ids, victims)


# --- the run ----------------------------------------------------------------------------------------------------

def config_for(world: World) -> Any:
    """Every check, both generation modes, every phase; ids and tokens as `world` has them."""
    # an operation is named by its label: `include-method` with `include-path` would take either one
    operations: list[dict[str, Any]] = [
        {"include-name": f"DELETE {path}", "parameters": params} for path, params in world.victims.items()
    ]
    operations.append({"include-name": "POST /api/auth/logout",  # ends its own session, not the run's
                       "headers": {"Authorization": f"Bearer {world.logout_token}"}})
    operations.append({"include-name": "PATCH /api/finetune/{finetune_id}/status",  # for workers: their bearer
                       "headers": {"Authorization": f"Bearer {WORKER_TOKEN}"}})
    operations.append({"include-name": "POST /api/gdpr/delete",  # erases its own account, not the run's
                       "headers": {"Authorization": f"Bearer {world.erase_token}"}})
    operations.extend({"include-name": f"GET /api/cron/{task}", "headers": {"Authorization": f"Bearer {CRON_SECRET}"}}
                      for task in ("cleanup", "metrics"))
    for (method, path), checks in RELAXED.items():
        operations.append({"include-name": f"{method} {path}",
                           "checks": {name: also.config(name) for name, also in checks.items()}})
    return schemathesis.Config.from_dict({
        "headers": {"Authorization": f"Bearer {world.token}"},
        "parameters": world.ids,
        "workers": 1,
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True},
                   "stateful": {"enabled": True}},
        "checks": {"enabled": True},
        "request-timeout": 60,
        "operations": operations,
    })


def nowhere(url: str) -> str:
    """The URL with its host under `.invalid`, still valid: `http://a.example:80/x` -> `http://a.example.invalid:80/x`."""
    moved = re.sub(r"^([A-Za-z]+://[^/:?#]+)", rf"\1{NOWHERE}", url)
    return moved if len(moved) <= MAX_URL else f"http://page{NOWHERE}/"


def to_nowhere(_context: Any, case: Any) -> Any:
    """A `map_case` hook: every URL drawn as valid is moved under `.invalid`, so that no fetch leaves the machine (a
    YouTube video URL stays: its loader reaches YouTube only, through the refusing proxy)."""
    public, video = re.compile(PUBLIC_URL_PATTERN), re.compile(VIDEO_URL_PATTERN)
    if case.meta is None or case.meta.generation.mode is not GenerationMode.POSITIVE or not isinstance(case.body, dict):
        return case
    for field in URL_FIELDS:
        value = case.body.get(field)
        if isinstance(value, str) and public.match(value) and not video.match(value) and NOWHERE not in value:
            case.body[field] = nowhere(value)
    return case


def valid_as_sent(case: Any) -> bool | None:
    """Whether a multipart case with a file part is valid as the server reads it; None for any other case.

    A form field arrives as text: a number drawn for a text field is that number's text, which the field takes
    (schemathesis reads a multipart body back as sent only when it has no file part, and these all have one).
    """
    form = "multipart/form-data"
    if case.media_type != form or not isinstance(case.body, dict):
        return None
    sent: dict[str, Any] = {}
    for name, value in case.body.items():
        first = value[0] if isinstance(value, list) and value else value
        if isinstance(first, Binary):
            sent[name] = ["a file"] if isinstance(value, list) else "a file"
        elif value not in ([], {}):  # an empty list or object sends nothing
            sent[name] = first if isinstance(first, str) else json.dumps(first)
    schema = case.operation.get_body_for_media_type(form).optimized_schema
    return bool(make_validator(schema, case.operation.schema.adapter.jsonschema_validator_cls).is_valid(sent))


def text_on_the_wire(_context: Any, case: Any) -> bool:
    """A `filter_case` hook: a negative multipart case that is valid as sent is no negative case, and is dropped."""
    negative = case.meta is not None and case.meta.generation.mode.is_negative
    return not negative or valid_as_sent(case) is not True


def positive_as_sent(_context: Any, case: Any, _kwargs: dict[str, Any]) -> None:
    """A `before_call` hook: a multipart case valid as sent goes out as the positive case it is.

    Schemathesis re-judges a case whose body changed after generation (the stateful phase writes a link's value,
    such as a real `project_id`, into it) and counts any body holding a file part as invalid, so a valid upload
    would be checked as negative data that must be refused.
    """
    meta = case.meta
    if meta is None or not meta.generation.mode.is_negative or valid_as_sent(case) is not True:
        return
    if ParameterLocation.BODY in meta.components and all(
            info.mode.is_positive for location, info in meta.components.items() if location != ParameterLocation.BODY):
        meta.components[ParameterLocation.BODY] = ComponentInfo(mode=GenerationMode.POSITIVE)
        meta.generation.mode = GenerationMode.POSITIVE


@contextmanager
def hooked(name: str, function: Any) -> Iterator[None]:
    """`function` as a global schemathesis hook for this test only (`before_call` is dispatched from the global
    dispatcher alone)."""
    schemathesis.hook(name)(function)
    try:
        yield
    finally:
        GLOBAL_HOOK_DISPATCHER.unregister(function)


@st.composite
def qa_csv(draw: st.DrawFn) -> bytes:
    """A CSV of question/answer rows: a file every upload reads (a document, or a dataset's examples)."""
    words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=9)
    sentence = st.lists(words, min_size=4, max_size=12).map(lambda found: " ".join(found).capitalize())
    rows = draw(st.lists(st.tuples(sentence, sentence), min_size=1, max_size=5))
    return ("question,answer\n" + "".join(f"{question}?,{answer}.\n" for question, answer in rows)).encode()


@contextmanager
def uploads_as_csv() -> Iterator[None]:
    """File parts (`format: binary`) are drawn as `qa_csv`, for this test only (schemathesis's formats are global)."""
    schemathesis.openapi.format("binary", qa_csv().map(Binary))
    try:
        yield
    finally:
        unregister_string_format("binary")


def answer_of(recorder: Any, case_id: str) -> str:
    interaction = recorder.interactions.get(case_id)
    response = interaction.response if interaction is not None else None
    if response is None:
        return "no response"
    return f"{response.status_code}: {response.content[:300]!r}"


@dataclass
class Outcome:
    """What a run did: its failures and errors, readable, and the checks it ran (passed or not)."""

    failures: list[str]
    checks_run: set[str]


def outcome_of(stream: Any) -> Outcome:
    outcome = Outcome([], set())
    for event in stream:
        if isinstance(event, events.ScenarioFinished):
            for case_id, checks in event.recorder.checks.items():
                outcome.checks_run.update(check.name for check in checks)
                outcome.failures.extend(
                    f"{check.failure_info.failure.operation or event.label} [{check.name}] "
                    f"{check.failure_info.failure.title}: {check.failure_info.failure.message}\n"
                    f"    {check.failure_info.code_sample}\n    -> {answer_of(event.recorder, case_id)}"
                    for check in checks if check.failure_info is not None)
            if event.status is Status.ERROR:
                outcome.failures.append(f"{event.label}: errored ({event.skip_reason or 'see the run'})")
        elif isinstance(event, (events.NonFatalError, events.FatalError)):
            outcome.failures.append(f"error: {getattr(event, 'info', None) or event}")
    return outcome


@pytest.mark.timeout(900)
def test_the_api_keeps_to_its_document(tmp_path: Path) -> None:
    with fake_hub() as hub, live_server(tmp_path, hub) as base, uploads_as_csv(), \
            hooked("before_call", positive_as_sent):
        world = make_world(base)
        schema = schemathesis.openapi.from_url(f"{base}/api/openapi.json", config=config_for(world))
        operations = {(result.ok().method.upper(), result.ok().path) for result in schema.get_all_operations()}
        assert len(operations) >= 80 and set(RELAXED) <= operations, set(RELAXED) - operations
        schema.hook("map_case")(to_nowhere)
        schema.hook("filter_case")(text_on_the_wire)
        outcome = outcome_of(schemathesis.engine.from_schema(schema).execute())
        (tmp_path / "failures.txt").write_text("\n\n".join(outcome.failures))
        (tmp_path / "checks.txt").write_text("\n".join(sorted(outcome.checks_run)))
    assert not outcome.failures, f"{len(outcome.failures)} failures:\n\n" + "\n\n".join(outcome.failures[:60])
    # every check ran somewhere; max_response_time is one only when given a limit, which this test does not set
    assert outcome.checks_run == set(CHECKS.get_all_names()), set(CHECKS.get_all_names()) - outcome.checks_run


def test_an_upload_changed_after_generation_goes_out_as_the_positive_case_it_is(client: Any) -> None:
    """The stateful phase writes a link's value into a drawn upload; schemathesis then judges it negative (a body
    with a file part never validates), and `positive_as_sent` gives it back its mode."""
    schema = schemathesis.openapi.from_dict(client.get("/api/openapi.json").get_json())
    upload = schema["/api/contents/upload"]["POST"]
    with uploads_as_csv():
        case = find(upload.as_strategy(generation_mode=GenerationMode.POSITIVE),
                    lambda drawn: drawn.media_type == "multipart/form-data", settings=settings(database=None))
    case.body["project_id"] = "a project id from a link"
    assert case.meta.generation.mode is GenerationMode.NEGATIVE  # schemathesis's misjudgement, which the hook undoes
    positive_as_sent(None, case, {})
    assert case.meta.generation.mode is GenerationMode.POSITIVE
    assert all(info.mode is GenerationMode.POSITIVE for info in case.meta.components.values())

    case.body["project_id"] = ""  # too short: negative as sent, and it stays so
    assert case.meta.generation.mode is GenerationMode.NEGATIVE
    positive_as_sent(None, case, {})
    assert case.meta.generation.mode is GenerationMode.NEGATIVE
