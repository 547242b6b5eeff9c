"""The conventions of API.md on every route: the error body, router 404/405, 500, CORS, the OpenAPI document."""

from __future__ import annotations

import re

import pytest
from finetune_web.routes import BLUEPRINTS, projects
from flask import Flask
from flask.testing import FlaskClient
from web_testkit import Account, assert_error


def test_router_404_and_405_answer_in_the_error_body(client: FlaskClient, alice: Account) -> None:
    assert_error(client.get("/api/no-such-thing"), 404, "NOT_FOUND")
    assert_error(client.get("/nowhere"), 404, "NOT_FOUND")
    refused = client.delete("/api/projects", headers=alice.headers)
    body = assert_error(refused, 405, "METHOD_NOT_ALLOWED")
    assert {"GET", "POST"} <= set(body["context"]["allowed_methods"])
    assert "GET" in refused.headers["Allow"]
    assert_error(client.put("/api/auth/login"), 405)  # no token needed to learn the method is wrong


def test_an_unexpected_error_answers_500_without_the_details(make_app, alice: Account,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    app: Flask = make_app()
    client = app.test_client()
    token = client.post("/api/auth/login", json={"email": alice.email, "password": alice.password}).get_json()

    def crash(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(projects.projects, "list_projects", crash)
    body = assert_error(client.get("/api/projects", headers={"Authorization": f"Bearer {token['access_token']}"}),
                        500, "INTERNAL_ERROR")
    assert "secret" not in body["detail"]


def test_core_errors_map_to_their_status() -> None:
    from finetune_core import errors
    from finetune_web.errors import status_of

    assert status_of(errors.NotFoundError("x")) == 404
    assert status_of(errors.JobAlreadyFinishedError("x")) == 409
    assert status_of(errors.UrlNotAllowedError("x")) == 400
    assert status_of(errors.UnknownPluginError("x")) == 400
    assert status_of(errors.UnsupportedFileTypeError("x")) == 415
    assert status_of(errors.FileTooLargeError("x")) == 413
    assert status_of(errors.MissingApiKeyError("x")) == 401
    assert status_of(errors.AuthenticationError("x")) == 401
    assert status_of(errors.PermissionDeniedError("x")) == 403
    assert status_of(errors.FinetuneError("x")) == 500


def test_list_envelope_limits_and_offsets(client: FlaskClient, alice: Account) -> None:
    for index in range(3):
        client.post("/api/projects", json={"name": f"p{index}"}, headers=alice.headers)
    body = client.get("/api/projects?limit=2&offset=1", headers=alice.headers).get_json()
    assert set(body) == {"items", "total", "limit", "offset"}
    assert (body["total"], body["limit"], body["offset"], len(body["items"])) == (3, 2, 1, 2)
    assert client.get("/api/projects", headers=alice.headers).get_json()["limit"] == 50
    for bad in ("limit=0", "limit=501", "offset=-1", "limit=many"):
        body = assert_error(client.get(f"/api/projects?{bad}", headers=alice.headers), 422, "VALIDATION_ERROR")
        assert body["context"]["errors"][0]["location"] == "query"


def test_ids_are_strings_and_times_are_utc_with_z(client: FlaskClient, alice: Account) -> None:
    project = client.post("/api/projects", json={"name": "times"}, headers=alice.headers).get_json()
    assert isinstance(project["id"], str)
    for key in ("created_at", "updated_at"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", project[key]), project[key]


def test_cors_allows_the_configured_origins_only(make_app) -> None:
    client = make_app(cors_origins=("https://app.example",)).test_client()
    preflight = client.options("/api/projects", headers={"Origin": "https://app.example",
                                                         "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    other = client.get("/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


def _spec(client: FlaskClient) -> dict:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_openapi_document_lists_every_route(app: Flask, client: FlaskClient) -> None:
    spec = _spec(client)
    documented = {(path, method.upper()) for path, item in spec["paths"].items() for method in item
                  if method in {"get", "post", "put", "patch", "delete"}}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] not in {blueprint.name for blueprint in BLUEPRINTS}:
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        served |= {(path, method) for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert served == documented
    for path, method in documented:
        operation = spec["paths"][path][method.lower()]
        assert operation.get("summary"), (path, method)
    public = {path for path, item in spec["paths"].items() for method, operation in item.items()
              if method != "parameters" and operation.get("security") == []}
    assert public == {"/health", "/api/health", "/api/auth/register", "/api/auth/signup", "/api/auth/login",
                      "/api/auth/signin", "/api/auth/refresh-token"}


def test_openapi_document_is_valid_openapi_3_1(client: FlaskClient) -> None:
    schemathesis = pytest.importorskip("schemathesis")
    spec = _spec(client)
    assert spec["openapi"].startswith("3.1")
    schemathesis.openapi.from_dict(spec).validate()
    assert spec["components"]["responses"]["DEFAULT_ERROR"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"}


def test_docs_page_is_served(client: FlaskClient) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200 and b"swagger" in page.data.lower() and b"/api/openapi.json" in page.data
