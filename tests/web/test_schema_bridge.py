"""The pydantic ↔ flask-smorest bridge: loading, dumping, errors, query lists, OpenAPI components, and what makes
the document say what the app checks (strict JSON bodies, required bodies, installed plugins, forms)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import marshmallow as ma
import pytest
from apispec import APISpec
from finetune_web.openapi import ApiBlueprint
from finetune_web.pagination import Page
from finetune_web.schemas.bridge import (
    ALL_KINDS,
    KEYS,
    MEDIA,
    METHODS,
    NO_BODY,
    FormModel,
    Installed,
    PydanticPlugin,
    plugin_name,
    schema_for,
    with_installed,
)
from flask import Flask
from flask.views import MethodView
from pydantic import BaseModel, ConfigDict, Field
from webargs.multidictproxy import MultiDictProxy
from werkzeug.datastructures import MultiDict


class Inner(BaseModel):
    ratio: float = Field(0.5, gt=0, le=1)


class Thing(BaseModel):
    name: str = Field(min_length=1)
    tags: list[str] = Field(default_factory=list)
    inner: Inner = Field(default_factory=Inner)
    when: datetime | None = None


def test_load_gives_the_model_and_errors_name_dotted_paths() -> None:
    loaded = schema_for(Thing)().load({"name": "x", "inner": {"ratio": 1}})
    assert isinstance(loaded, Thing) and loaded.inner.ratio == 1
    with pytest.raises(ma.ValidationError) as refused:
        schema_for(Thing)().load({"name": "", "inner": {"ratio": 2}})
    assert set(refused.value.messages) == {"name", "inner.ratio"}
    with pytest.raises(ma.ValidationError) as not_an_object:
        schema_for(Thing)().load(["x"])
    assert set(not_an_object.value.messages) == {"_body"}


def test_query_strings_keep_every_value_of_a_list_field() -> None:
    proxy = MultiDictProxy(MultiDict([("name", "x"), ("tags", "a"), ("tags", "b")]), schema_for(Thing)())
    assert schema_for(Thing)().load(proxy).tags == ["a", "b"]


def test_dump_writes_json_with_utc_times_from_other_models_or_dicts() -> None:
    class Wider(BaseModel):
        name: str
        when: datetime
        secret: str = "not in Thing"

    dumped = schema_for(Thing)().dump(Wider(name="w", when=datetime(2026, 2, 14, 10, tzinfo=UTC)))
    assert dumped["when"] == "2026-02-14T10:00:00Z" and "secret" not in dumped
    assert schema_for(Page[Thing])().dump({"items": [{"name": "a"}], "total": 1, "limit": 50, "offset": 0})[
        "items"] == [{"name": "a", "tags": [], "inner": {"ratio": 0.5}, "when": None}]
    assert schema_for(Thing) is schema_for(Thing)


def spec_of(*models: type[BaseModel]) -> dict:
    spec = APISpec("t", "1", "3.1.0", plugins=[PydanticPlugin()])
    for model in models:
        spec.plugins[0].converter.model_ref(model)
    return spec.to_dict()


def test_models_and_the_models_they_nest_become_components() -> None:
    components = spec_of(Page[Thing])["components"]["schemas"]
    assert set(components) == {"Page_Thing_", "Thing", "Inner"}
    assert components["Page_Thing_"]["properties"]["items"]["items"] == {"$ref": "#/components/schemas/Thing"}


def test_two_models_with_one_name_are_refused() -> None:
    first = Thing

    class Thing2(BaseModel):
        other: int

    Thing2.__name__ = "Thing"
    with pytest.raises(ValueError, match="two API models are named 'Thing'"):
        spec_of(first, Thing2)


def test_query_arguments_are_documented_one_parameter_each() -> None:
    class Args(BaseModel):
        limit: int = 50
        status: str | None = None

    blp = ApiBlueprint("t", __name__)

    @blp.route("/t")
    class View(MethodView):
        @blp.arguments(schema_for(Args), location="query")
        @blp.response(200)
        def get(self, args: Args) -> dict[str, int]:
            """Doc"""
            return {"limit": args.limit}

    from flask_smorest import Api

    app = Flask("t")
    app.config.update(API_TITLE="t", API_VERSION="1", OPENAPI_VERSION="3.1.0")
    api = Api(app, spec_kwargs={"marshmallow_plugin": PydanticPlugin()})
    api.register_blueprint(blp)
    parameters = api.spec.to_dict()["paths"]["/t"]["get"]["parameters"]
    assert [(p["name"], p["in"], p["required"]) for p in parameters] == [("limit", "query", False),
                                                                          ("status", "query", False)]
    assert parameters[1]["schema"] == {"type": "string", "title": "Status"}  # no null branch in a query string
    assert app.test_client().get("/t?limit=7").get_json() == {"limit": 7}


class Counts(BaseModel):
    size: int = Field(512, ge=16)
    ratio: float = 0.5
    on: bool = False


def test_a_json_body_is_read_as_its_json_schema_reads_it() -> None:
    load = schema_for(Counts)().load
    for wrong in ({"size": True}, {"size": "512"}, {"ratio": False}, {"on": 1}, {"on": "true"}):
        with pytest.raises(ma.ValidationError):
            load(wrong)
    assert load({"size": 512.0, "ratio": 1}) == Counts(size=512, ratio=1.0)  # JSON has one kind of number
    query = MultiDictProxy(MultiDict([("size", "64"), ("on", "true")]), schema_for(Counts)())
    assert load(query) == Counts(size=64, on=True)  # a query string is text: converted


def test_a_required_body_must_be_sent_and_an_optional_one_may_be_left_out() -> None:
    with pytest.raises(ma.ValidationError) as refused:
        schema_for(Counts)().load(NO_BODY)
    assert refused.value.messages == {"_body": ["the request body is required"]}
    assert schema_for(Counts, body_required=False)().load(NO_BODY) == Counts()
    assert schema_for(Counts)().load({}) == Counts()


def test_a_view_refuses_a_missing_required_body_but_not_an_empty_one() -> None:
    blp = ApiBlueprint("t", __name__)

    @blp.route("/required")
    class Required(MethodView):
        @blp.arguments(schema_for(Counts))
        @blp.response(200)
        def put(self, body: Counts) -> dict[str, int]:
            """Doc"""
            return {"size": body.size}

    @blp.route("/optional")
    class Optional(MethodView):
        @blp.arguments(schema_for(Counts), required=False)
        @blp.response(200)
        def post(self, body: Counts) -> dict[str, int]:
            """Doc"""
            return {"size": body.size}

    from flask_smorest import Api

    app = Flask("t")
    app.config.update(API_TITLE="t", API_VERSION="1", OPENAPI_VERSION="3.1.0")
    api = Api(app, spec_kwargs={"marshmallow_plugin": PydanticPlugin()})
    api.register_blueprint(blp)
    client = app.test_client()
    assert client.put("/required").status_code == 422
    assert client.put("/required", json={}).get_json() == {"size": 512}
    assert client.post("/optional").get_json() == {"size": 512}
    paths = api.spec.to_dict()["paths"]
    assert paths["/required"]["put"]["requestBody"]["required"] is True
    assert paths["/optional"]["post"]["requestBody"]["required"] is False


class Choice(BaseModel):
    model_config = ConfigDict(json_schema_extra={METHODS: {"trainer": "trainer", "default": "fast"},
                                                 KEYS: "provider"})

    generator: Annotated[str, plugin_name("generators")] | None = None
    format: Annotated[str, plugin_name("exporters", "jsonl")] = "jsonl"
    trainer: str = "fast"
    method: str | None = None
    provider: str = "a"
    key: str = "k"


INSTALLED = Installed(names={"generators": ["extractive", "openai"], "exporters": ["alpaca"]},
                      methods={"fast": ["lora", "full"], "hosted": []}, key_patterns={"a": "ka-[0-9]+"},
                      media_types={"raw_doc": ["text/plain"], "dataset_upload": ["text/csv"]})


def test_what_plugins_provide_is_documented_as_installed() -> None:
    schema = with_installed(Choice.model_json_schema(), INSTALLED)
    assert schema["properties"]["generator"]["anyOf"][0] == {"type": "string", "enum": ["extractive", "openai"]}
    assert schema["properties"]["format"]["enum"] == ["jsonl", "alpaca"]
    methods, keys = (branch["anyOf"] for branch in schema["allOf"])
    assert methods == [  # the default trainer's methods when none is named; another one must be named
        {"properties": {"trainer": {"const": "fast"}, "method": {"anyOf": [{"enum": ["lora", "full"]},
                                                                              {"type": "null"}]}}},
        {"properties": {"trainer": {"const": "hosted"}, "method": {"type": "null"}}, "required": ["trainer"]},
    ]
    assert keys == [{"properties": {"provider": {"const": "a"}, "key": {"pattern": "^(?:ka-[0-9]+)$"}}}]
    assert "x-finetune" not in json.dumps(schema)
    bare = with_installed(Choice.model_json_schema(), Installed())  # nothing known: any name, no branches
    assert bare["properties"]["format"] == {"type": "string", "default": "jsonl", "title": "Format"}
    assert "allOf" not in bare


class Upload(FormModel):
    file_kinds = {"file": ALL_KINDS}  # noqa: RUF012

    file: bytes
    note: str | None = Field(None, max_length=10)


def test_a_form_has_no_nulls_and_lists_the_file_types_read() -> None:
    spec = APISpec("t", "1", "3.1.0", plugins=[PydanticPlugin(INSTALLED)])
    spec.plugins[0].converter.model_ref(Upload)
    note = spec.to_dict()["components"]["schemas"]["Upload"]["properties"]["note"]
    assert note == {"type": "string", "maxLength": 10, "title": "Note"}  # absent, never null
    assert with_installed({"contentType": {MEDIA: ALL_KINDS}}, INSTALLED) == {"contentType": "text/csv, text/plain"}
    assert with_installed({"contentType": {MEDIA: "raw_doc"}}, INSTALLED) == {"contentType": "text/plain"}
