"""The conventions of API.md on every route: the error body, router 404/405, 500, CORS, the OpenAPI document and
that the document says what the app does (OPTIONS, required bodies, strict JSON, installed plugins)."""

from __future__ import annotations

import re

import pytest
from finetune_core import hookimpl
from finetune_core.keys import ProviderSpec
from finetune_web.routes import BLUEPRINTS, projects
from flask import Flask
from flask.testing import FlaskClient
from kits.web_api import Account, assert_error, field_errors


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
                      "/api/auth/signin", "/api/auth/refresh-token", "/api/checkout/webhook", "/api/stripe-webhook",
                      # the forum is read without an account (crealia); writing needs one
                      "/api/forum/topics", "/api/forum/topics/{topic_id}"}


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
    assert b'src="/api/docs/assets/swagger-ui-bundle.js"' in page.data  # the app's own copy, not a CDN's


def test_options_allows_the_documented_methods_of_each_path(client: FlaskClient) -> None:
    """`/api/contents/upload` is also a `/api/contents/<content_id>`: its OPTIONS still allows only its own POST."""
    spec = _spec(client)
    for path, item in spec["paths"].items():
        documented = {method.upper() for method in item if method in {"get", "post", "put", "patch", "delete"}}
        allowed = set(client.options(re.sub(r"{[^}]+}", "some-id", path)).headers["Allow"].split(", "))
        assert allowed == documented | {"OPTIONS"} | ({"HEAD"} if "GET" in documented else set()), path
    assert set(client.options("/api/contents/upload").headers["Allow"].split(", ")) == {"POST", "OPTIONS"}


def test_a_required_body_must_be_sent(client: FlaskClient, alice: Account) -> None:
    body = assert_error(client.put("/api/users/me", headers=alice.headers), 422, "VALIDATION_ERROR")
    assert body["context"]["errors"] == [{"field": None, "location": "body", "message": "the request body is required"}]
    assert client.put("/api/users/me", json={}, headers=alice.headers).status_code == 200  # a partial update of nothing
    spec = _spec(client)
    assert spec["paths"]["/api/users/me"]["put"]["requestBody"]["required"] is True
    optional = spec["paths"]["/api/projects/{project_id}/chunks/generate"]["post"]["requestBody"]
    assert optional["required"] is False


def test_a_json_body_is_read_strictly_as_documented(client: FlaskClient, alice: Account) -> None:
    for config in ({"seed": False}, {"seed": "42"}, {"train_eval_split": True}):
        refused = client.post("/api/projects", json={"name": "strict", "config": config}, headers=alice.headers)
        assert set(field_errors(refused)) == {f"config.{next(iter(config))}"}
    created = client.post("/api/projects", json={"name": "strict", "config": {"seed": 7.0}}, headers=alice.headers)
    assert created.status_code == 201 and created.get_json()["config"]["seed"] == 7  # 7.0 is the JSON number 7


def test_plugin_names_are_documented_as_installed(make_app, register_finetune_plugin, alice: Account) -> None:
    register_finetune_plugin(_VaultProvider(), name="test-vault-provider")
    app: Flask = make_app()
    client = app.test_client()
    spec = _spec(client)
    providers = spec["components"]["schemas"]["KeyBody"]["properties"]["provider"]["enum"]
    assert "vault" in providers and {"openai", "anthropic"} <= set(providers)
    assert spec["paths"]["/api/users/me/api-keys/{provider}"]["parameters"][0]["schema"]["enum"] == providers
    keys = spec["components"]["schemas"]["KeyBody"]["allOf"][0]["anyOf"]
    assert {"properties": {"provider": {"const": "vault"}, "key": {"pattern": "^(?:vlt-[0-9]{6})$"}}} in keys
    headers = {"Authorization": alice.headers["Authorization"]}
    stored = client.post("/api/users/me/api-keys", json={"provider": "vault", "key": "vlt-123456"}, headers=headers)
    assert stored.status_code == 201, stored.get_json()
    assert_error(client.post("/api/users/me/api-keys", json={"provider": "vault", "key": "vlt-12"}, headers=headers),
                 400, "INVALID_API_KEY")  # the documented pattern is checked too
    generators = spec["components"]["schemas"]["GenerateBody"]["properties"]["generator"]["anyOf"][0]["enum"]
    assert "extractive" in generators
    methods = spec["components"]["schemas"]["TrainStartBody"]["allOf"][0]["anyOf"]
    assert all(branch["properties"]["trainer"]["const"] in spec["components"]["schemas"]["TrainStartBody"][
        "properties"]["trainer"]["enum"] for branch in methods)


class _VaultProvider:
    """A provider plugin whose keys are `vlt-` and six digits."""

    @hookimpl
    def finetune_register_providers(self, register) -> None:
        register(ProviderSpec(name="vault", label="Vault", key_pattern="vlt-[0-9]{6}"))


def test_multipart_bodies_list_the_file_types_read_and_have_no_nulls(client: FlaskClient) -> None:
    spec = _spec(client)
    upload = spec["paths"]["/api/datasets/upload"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert upload["encoding"]["file"]["contentType"] == "application/json, application/jsonl, text/csv"
    files = spec["paths"]["/api/projects/{project_id}/files/upload"]["post"]["requestBody"]["content"]
    assert "application/pdf" in files["multipart/form-data"]["encoding"]["files"]["contentType"]
    kind = spec["components"]["schemas"]["FilesForm"]["properties"]["kind"]
    assert "anyOf" not in kind and "default" not in kind  # a form field is sent or absent, never null


def test_a_status_report_in_the_query_fits_the_request_line() -> None:
    """Each character may take 12 bytes percent-encoded (4 UTF-8 bytes, %XX each); gunicorn takes 8190 a line."""
    from finetune_web.schemas.finetune_jobs import FinetuneStatusQuery

    text_fields = [field.metadata for name, field in FinetuneStatusQuery.model_fields.items()
                   if name in ("current_step", "logs")]
    longest = sum(12 * next(rule.max_length for rule in rules if hasattr(rule, "max_length")) for rules in text_fields)
    rest = len("PATCH /api/finetune/") + 64 + len("/status?status_update=training&progress=100.0&current_step=&logs="
                                                  " HTTP/1.1")
    assert longest + rest < 8190
