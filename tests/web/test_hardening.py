"""The API's input and output bounds: list offsets, body sizes, field lengths, how user files are served,
and the error body from every layer (gunicorn's own refusals: tests/web/test_serve.py).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from finetune_web.pagination import MAX_LIMIT, MAX_OFFSET
from finetune_web.user_content import inert_type
from flask import Flask
from flask.testing import FlaskClient
from kits.web_api import Account, assert_error, field_errors
from kits.web_uploads import NOTE, upload_files
from werkzeug.test import TestResponse

MIB = 1024 * 1024
SQLITE_OVERFLOW = "7329429960017891557376"  # past 2**63: SQLite cannot take it as an integer
LIST_ROUTES = ["/api/projects", "/api/models", "/api/projects/{project_id}/files", "/api/projects/{project_id}/jobs",
               "/api/projects/{project_id}/chunks", "/api/projects/{project_id}/dataset/examples", "/api/datasets",
               "/api/datasets/{dataset_id}/pairs", "/api/contents", "/api/fine-tunings", "/api/finetune",
               "/api/users/me/api-keys", "/api/projects/{project_id}/export/files"]
LIST_ROUTES += ["/api/projects/{project_id}/evaluations", "/api/agents", "/api/agents/my", "/api/chats",
                "/api/messages/chat/{chat_id}", "/api/apikeys"]
PAGED_ROUTES = {"/api/forum/topics"}
NEEDS_A_MODEL = {"/api/projects/{project_id}/export/files"}  # 409 NO_TRAINED_MODEL before a local training
HTML_PAGE = b"<!doctype html><html><body><script>fetch('/api/users/me')</script><p>hello</p></body></html>\n"


@pytest.fixture
def project_id(client: FlaskClient, alice: Account) -> str:
    return str(client.post("/api/projects", json={"name": "bounds"}, headers=alice.headers).get_json()["id"])


@pytest.fixture
def ids(client: FlaskClient, alice: Account, project_id: str) -> dict[str, str]:
    """Alice's project, dataset (a dataset with a project of its own) and chat, by their names in the routes."""
    dataset = client.post("/api/datasets", json={"name": "pairs"}, headers=alice.headers).get_json()
    chat = client.post("/api/chats", json={"title": "bounds"}, headers=alice.headers).get_json()
    return {"project_id": project_id, "dataset_id": dataset["id"], "chat_id": chat["id"]}


def json_post(client: FlaskClient, url: str, text: str, account: Account) -> TestResponse:
    """A POST of `text` as a JSON body, as written (NaN included)."""
    return client.post(url, data=text, content_type="application/json", headers=account.headers)


def announced(size: int) -> dict[str, str]:
    return {"CONTENT_LENGTH": str(size)}


class Unread(io.BytesIO):
    """A body that fails the test if anybody reads it."""

    def read(self, *_args: object) -> bytes:
        raise AssertionError("the body was read")


# --- limit and offset ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("route", LIST_ROUTES)
def test_list_routes_refuse_an_offset_or_a_limit_past_its_bound(client: FlaskClient, alice: Account,
                                                                ids: dict[str, str], route: str) -> None:
    url = route.format(**ids)
    for query, field in ((f"offset={SQLITE_OVERFLOW}", "offset"), (f"offset={MAX_OFFSET + 1}", "offset"),
                         ("offset=-1", "offset"), (f"limit={SQLITE_OVERFLOW}", "limit"),
                         (f"limit={MAX_LIMIT + 1}", "limit"), ("limit=0", "limit")):
        refused = client.get(f"{url}?{query}", headers=alice.headers)
        assert set(field_errors(refused)) == {field}, query
        assert refused.get_json()["context"]["errors"][0]["location"] == "query"
    at_the_bounds = client.get(f"{url}?offset={MAX_OFFSET}&limit={MAX_LIMIT}", headers=alice.headers)
    if route in NEEDS_A_MODEL:  # its bounds are checked before it looks for the model this project lacks
        assert_error(at_the_bounds, 409, "NO_TRAINED_MODEL")
        return
    assert at_the_bounds.status_code == 200, at_the_bounds.get_json()
    body = at_the_bounds.get_json()
    assert (body["items"], body["offset"], body["limit"]) == ([], MAX_OFFSET, MAX_LIMIT)


def test_every_list_route_documents_the_bounds_and_is_tested_here(client: FlaskClient) -> None:
    """A list route added without ListArgs, or without a line in LIST_ROUTES, fails here."""
    paths = client.get("/api/openapi.json").get_json()["paths"]
    listed = set()
    for path, operations in paths.items():
        parameters = {parameter["name"]: parameter for parameter in operations.get("get", {}).get("parameters", [])}
        if "page" in parameters:  # crealia's page/limit (the forum): bounded too, tested in test_forum.py
            assert path in PAGED_ROUTES, path
            assert parameters["limit"]["schema"]["maximum"] <= MAX_LIMIT, path
            assert "maximum" in parameters["page"]["schema"], path
            continue
        if "offset" in parameters or "limit" in parameters:
            listed.add(path)
            assert parameters["offset"]["schema"]["maximum"] == MAX_OFFSET, path
            assert parameters["limit"]["schema"]["maximum"] == MAX_LIMIT, path
            assert str(MAX_OFFSET) in parameters["offset"]["description"], path
    assert listed == set(LIST_ROUTES)


# --- body size -----------------------------------------------------------------------------------------------

def test_a_json_body_over_one_mib_answers_413_and_stores_nothing(client: FlaskClient, alice: Account) -> None:
    huge = client.post("/api/projects", json={"name": "huge", "description": "a" * (20 * MIB)},
                       headers=alice.headers)
    assert_error(huge, 413, "PAYLOAD_TOO_LARGE")
    just_over = client.post("/api/projects", json={"name": "over", "description": "a" * MIB}, headers=alice.headers)
    assert_error(just_over, 413, "PAYLOAD_TOO_LARGE")
    unread = client.post("/api/projects", input_stream=Unread(), content_type="application/json",
                         headers=alice.headers, environ_overrides=announced(MIB + 1))
    assert_error(unread, 413, "PAYLOAD_TOO_LARGE")  # refused on its Content-Length, before it is read
    assert client.get("/api/projects", headers=alice.headers).get_json()["total"] == 0


def test_the_json_limit_is_a_setting(make_app: Callable[..., Flask], alice: Account) -> None:
    client = make_app(max_json_bytes=4096).test_client()
    assert_error(client.post("/api/projects", json={"name": "n", "description": "d" * 5000}, headers=alice.headers),
                 413, "PAYLOAD_TOO_LARGE")
    assert client.post("/api/projects", json={"name": "n", "description": "d" * 3000},
                       headers=alice.headers).status_code == 201


def test_a_streamed_body_over_the_limit_answers_413_not_a_cut_off_body(make_app: Callable[..., Flask],
                                                                         alice: Account) -> None:
    """Chunked, without a Content-Length (a server that ends the stream says so): read up to the limit, no further."""
    client = make_app(max_json_bytes=4096).test_client()

    def streamed(size: int) -> TestResponse:
        body = b'{"name": "streamed"}'.ljust(size)
        return client.post("/api/projects", input_stream=io.BytesIO(body), content_type="application/json",
                           headers={**alice.headers, "Transfer-Encoding": "chunked"},
                           environ_overrides={"wsgi.input_terminated": True})

    assert_error(streamed(4097), 413, "PAYLOAD_TOO_LARGE")  # werkzeug alone: the first 4096 bytes, as if all
    assert streamed(4096).status_code == 201  # at the limit exactly: taken
    assert streamed(100).status_code == 201


def test_bulk_pairs_take_a_body_of_their_own_size(client: FlaskClient, alice: Account) -> None:
    dataset = client.post("/api/datasets", json={"name": "bulk"}, headers=alice.headers).get_json()
    url = f"/api/datasets/{dataset['id']}/pairs/bulk"
    pairs = [{"question": f"Question {index}: " + "why does dough rise? " * 2500,
              "answer": f"Answer {index}: " + "the yeast makes gas. " * 2500} for index in range(12)]
    body = json.dumps({"pairs": pairs})
    assert MIB < len(body) < 32 * MIB
    added = client.post(url, data=body, content_type="application/json", headers=alice.headers)
    assert added.status_code == 201, added.get_json()
    assert len(added.get_json()["pairs"]) == 12
    over = client.post(url, input_stream=Unread(), content_type="application/json", headers=alice.headers,
                       environ_overrides=announced(32 * MIB + 1))
    assert_error(over, 413, "PAYLOAD_TOO_LARGE")
    one_pair = client.post(f"/api/datasets/{dataset['id']}/pairs", input_stream=Unread(), headers=alice.headers,
                           content_type="application/json", environ_overrides=announced(MIB + 1))
    assert_error(one_pair, 413, "PAYLOAD_TOO_LARGE")  # the route beside it keeps the app's limit


# --- field lengths -------------------------------------------------------------------------------------------

TOO_MANY_KEYS = {f"key{index}": index for index in range(101)}
TOO_LONG_FIELDS: list[tuple[str, str, Any, str]] = [
    ("POST", "/api/projects", {"name": "n" * 201}, "name"),  # a limit that was there already
    ("POST", "/api/projects", {"name": "n", "description": "d" * 10_001}, "description"),
    ("POST", "/api/projects", {"name": "n", "config": {"system_prompt": "s" * 20_001}}, "config.system_prompt"),
    ("POST", "/api/projects", {"name": "n", "config": {"plugin_notes": "p" * 70_000}}, "config"),
    ("PATCH", "/api/projects/{project_id}", {"description": "d" * 10_001}, "description"),
    ("PATCH", "/api/projects/{project_id}", {"config": {"model": "m" * 301}}, "config.model"),
    ("POST", "/api/fine-tunings", {"dataset_id": "{project_id}", "model": "m", "hyperparameters": TOO_MANY_KEYS},
     "hyperparameters"),
    ("POST", "/api/fine-tunings", {"dataset_id": "{project_id}", "model": "m", "options": {"suffix": "s" * 17_000}},
     "options"),
    ("POST", "/api/fine-tunings", {"dataset_id": "{project_id}", "model": "m", "description": "d" * 10_001},
     "description"),
    ("POST", "/api/finetune", {"dataset_id": "{project_id}", "base_model": "m", "options": TOO_MANY_KEYS}, "options"),
    ("POST", "/api/projects/{project_id}/train/start", {"hyperparams": {"notes": "n" * 17_000}}, "hyperparams"),
    ("POST", "/api/projects/{project_id}/train/start", {"description": "d" * 10_001}, "description"),
    ("POST", "/api/datasets/{dataset_id}/pairs", {"question": "q", "answer": "a", "metadata": TOO_MANY_KEYS},
     "metadata"),
    ("POST", "/api/datasets", {"name": "n", "content_ids": ["c" * 65]}, "content_ids.0"),
    ("POST", "/api/contents/url", {"project_id": "p" * 65, "url": "https://example.com/"}, "project_id"),
    ("POST", "/api/auth/refresh-token", {"refresh_token": "t" * 5000}, "refresh_token"),
]


@pytest.mark.parametrize(("method", "route", "body", "field"), TOO_LONG_FIELDS,
                         ids=[f"{method} {route} {field}" for method, route, _body, field in TOO_LONG_FIELDS])
def test_an_over_long_field_answers_422_naming_it(client: FlaskClient, alice: Account, ids: dict[str, str],
                                                  method: str, route: str, body: Any, field: str) -> None:
    body = json.loads(json.dumps(body).replace("{project_id}", ids["project_id"]))
    refused = client.open(route.format(**ids), method=method, json=body, headers=alice.headers)
    assert set(field_errors(refused)) == {field}
    assert client.get("/api/projects", headers=alice.headers).get_json()["total"] == 2  # the fixtures' two
    project = client.get(f"/api/projects/{ids['project_id']}", headers=alice.headers).get_json()
    assert (project["description"], project["config"]["model"]) == (None, None)


def unbounded_strings(schema: dict[str, Any], components: dict[str, Any], where: str) -> Iterator[str]:
    """Where a JSON Schema lets a client send a string of any length."""
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    if "properties" not in schema:  # beside properties, anyOf only adds constraints (LoginBody's: one of two)
        for option in (*schema.get("anyOf", ()), *schema.get("oneOf", ()), *schema.get("allOf", ())):
            yield from unbounded_strings(option, components, where)
    if schema.get("type") == "string" and not {"maxLength", "enum", "const", "pattern"} & set(schema) \
            and schema.get("format") != "binary":
        yield where
    for name, field in schema.get("properties", {}).items():
        yield from unbounded_strings(field, components, f"{where}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from unbounded_strings(schema["items"], components, f"{where}[]")


def test_every_string_a_client_sends_is_bounded(client: FlaskClient) -> None:
    """Bodies and query arguments, as the OpenAPI document shows them (the app validates with the same models)."""
    document = client.get("/api/openapi.json").get_json()
    components = document["components"]["schemas"]
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query":
                    found += unbounded_strings(parameter["schema"], components, f"{method} {path} ?{parameter['name']}")
            for media in operation.get("requestBody", {}).get("content", {}).values():
                found += unbounded_strings(media["schema"], components, f"{method} {path} body")
    assert found == []


@pytest.mark.parametrize(("route", "text", "field"), [
    ("/api/models", '{"name": "m", "base_model": "b", "version": "1", "accuracy": NaN}', "accuracy"),
    ("/api/models", '{"name": "m", "base_model": "b", "version": "1", "loss": "Infinity"}', "loss"),
    ("/api/fine-tunings", '{"dataset_id": "d", "model": "m", "hyperparameters": {"lr": NaN}}', "hyperparameters"),
    ("/api/projects", '{"name": "n", "config": {"plugin_weight": -Infinity}}', "config"),
])
def test_numbers_json_cannot_hold_answer_422(client: FlaskClient, alice: Account, route: str, text: str,
                                             field: str) -> None:
    """Python reads NaN and Infinity in JSON; stored, they would come back as invalid JSON or as "nan"."""
    assert set(field_errors(json_post(client, route, text, alice))) == {field}


def test_filters_in_the_query_string_are_bounded(client: FlaskClient, alice: Account) -> None:
    for url, field in (("/api/fine-tunings?dataset_id=" + "d" * 65, "dataset_id"),
                       ("/api/models?dataset_id=" + "d" * 65, "dataset_id"),
                       ("/api/contents?project_id=" + "p" * 65, "project_id"),
                       ("/api/datasets?project_id=" + "p" * 65, "project_id")):
        refused = client.get(url, headers=alice.headers)
        assert set(field_errors(refused)) == {field}, url
        assert refused.get_json()["context"]["errors"][0]["location"] == "query"


def test_a_long_query_string_answers_in_the_error_body(make_app: Callable[..., Flask]) -> None:
    """The status report of workers takes query arguments; logs over their bound are named (not an HTML page)."""
    client = make_app(worker_token="w" * 40).test_client()
    refused = client.patch("/api/finetune/some-run/status?progress=10&logs=" + "x" * 10_001,
                           headers={"Authorization": "Bearer " + "w" * 40})
    assert field_errors(refused).keys() == {"logs"}
    assert refused.get_json()["context"]["errors"][0]["location"] == "query"
    assert refused.headers["X-Content-Type-Options"] == "nosniff"


def test_a_last_event_id_past_what_sql_compares_answers_400(client: FlaskClient, alice: Account,
                                                           project_id: str) -> None:
    job_id = upload_files(client, alice, project_id, (NOTE.encode(), "note.txt")).get_json()["job_id"]
    stream = f"/api/jobs/{job_id}/events/stream"
    refused = client.get(stream, headers={**alice.headers, "Last-Event-ID": SQLITE_OVERFLOW})
    assert_error(refused, 400, "INVALID_LAST_EVENT_ID")
    assert_error(client.get(f"{stream}?last_event_id={SQLITE_OVERFLOW}", headers=alice.headers), 400,
                 "INVALID_LAST_EVENT_ID")
    resumed = client.get(stream, headers={**alice.headers, "Last-Event-ID": "1"})
    assert resumed.status_code == 200 and b"event: complete" in resumed.data


# --- what comes back -----------------------------------------------------------------------------------------

def test_every_response_carries_nosniff(client: FlaskClient, alice: Account) -> None:
    responses = {
        "ok": client.get("/api/health"),
        "openapi": client.get("/api/openapi.json"),
        "list": client.get("/api/projects", headers=alice.headers),
        "404": client.get("/api/nowhere"),
        "405": client.delete("/api/health"),
        "401": client.get("/api/projects"),
        "400": json_post(client, "/api/projects", "{not json", alice),
        "422": client.post("/api/projects", json={}, headers=alice.headers),
        "413": client.post("/api/projects", json={"name": "n", "description": "d" * MIB}, headers=alice.headers),
    }
    for name, response in responses.items():
        assert response.headers.get("X-Content-Type-Options") == "nosniff", name
        assert response.mimetype == "application/json", name


def test_werkzeugs_own_refusals_answer_in_the_error_body(client: FlaskClient) -> None:
    """Errors werkzeug raises while it reads a request, before any schema: the error body, never its HTML page."""
    too_many_parts = client.post("/api/auth/login", data={f"field{index}": "x" for index in range(1200)},
                                 content_type="multipart/form-data")
    assert_error(too_many_parts, 413, "PAYLOAD_TOO_LARGE")  # werkzeug's max_form_parts
    one_big_field = client.post("/api/auth/login", data={"username": "u" * 600_000, "password": "p"},
                                content_type="multipart/form-data")
    assert_error(one_big_field, 413, "PAYLOAD_TOO_LARGE")  # werkzeug's max_form_memory_size
    assert_error(client.post("/api/auth/login", data="{", content_type="application/json"), 400, "INVALID_JSON")


def test_errors_in_request_hooks_answer_in_the_error_body(make_app: Callable[..., Flask]) -> None:
    def broken_before() -> None:
        raise RuntimeError("before_request failed")

    before = make_app()
    before.before_request(broken_before)
    refused = before.test_client().get("/api/health")
    assert_error(refused, 500, "INTERNAL_ERROR")
    assert refused.headers["X-Content-Type-Options"] == "nosniff"

    def broken_after(_response: Any) -> Any:
        raise RuntimeError("after_request failed")

    after = make_app()
    after.after_request(broken_after)
    assert_error(after.test_client().get("/api/health"), 500, "INTERNAL_ERROR")


def test_an_uploaded_html_page_downloads_as_an_inert_attachment(client: FlaskClient, alice: Account,
                                                                project_id: str) -> None:
    stored = upload_files(client, alice, project_id, (HTML_PAGE, "page.html")).get_json()["files"][0]
    assert stored["mime_type"] == "text/html"  # what it is, as read from its bytes
    downloaded = client.get(f"/api/documents/{stored['id']}", headers=alice.headers)
    assert downloaded.status_code == 200 and downloaded.data == HTML_PAGE
    assert downloaded.mimetype == "application/octet-stream"
    assert downloaded.headers["Content-Disposition"].startswith("attachment;")
    assert "page.html" in downloaded.headers["Content-Disposition"]
    assert downloaded.headers["X-Content-Type-Options"] == "nosniff"
    assert downloaded.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"

    text = upload_files(client, alice, project_id, (NOTE.encode(), "note.txt")).get_json()["files"][0]
    plain = client.get(f"/api/documents/{text['id']}", headers=alice.headers)
    assert plain.mimetype == "text/plain" and plain.data == NOTE.encode()  # an inert type keeps its own
    assert plain.headers["Content-Disposition"].startswith("attachment;")


@pytest.mark.parametrize(("given", "served"), [
    ("text/html", "application/octet-stream"), ("image/svg+xml", "application/octet-stream"),
    ("application/javascript", "application/octet-stream"), ("text/xml", "application/octet-stream"),
    ("application/xhtml+xml", "application/octet-stream"), (None, "application/octet-stream"),
    ("", "application/octet-stream"), ("application/pdf", "application/pdf"),
    ("text/plain; charset=utf-8", "text/plain"), ("IMAGE/PNG", "image/png"),
])
def test_only_inert_types_are_served_as_themselves(given: str | None, served: str) -> None:
    assert inert_type(given) == served
