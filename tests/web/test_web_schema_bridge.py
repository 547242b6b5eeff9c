"""The pydantic ↔ flask-smorest bridge: loading, dumping, errors, query lists, OpenAPI components."""

from __future__ import annotations

from datetime import UTC, datetime

import marshmallow as ma
import pytest
from apispec import APISpec
from finetune_web.openapi import ApiBlueprint
from finetune_web.pagination import Page
from finetune_web.schema import PydanticPlugin, schema_for
from flask import Flask
from flask.views import MethodView
from pydantic import BaseModel, Field
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
