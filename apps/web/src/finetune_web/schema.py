"""Pydantic models as flask-smorest schemas: pydantic stays the one schema language.

`schema_for(Model)` is a marshmallow Schema class whose `load` validates with the model (the view
receives the model instance) and whose `dump` serialises through it (times in ISO 8601 with Z).
`PydanticPlugin` makes the OpenAPI document show each model's own JSON Schema, registered once
under `#/components/schemas/<Model>`, nested models included:

    @blp.arguments(schema_for(ProjectCreate))
    @blp.response(201, schema_for(ProjectOut))
    def post(self, body: ProjectCreate) -> ProjectOut: ...

Validation errors reach the error handler as marshmallow's `{field.path: [message]}`.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any, ClassVar

import marshmallow as ma
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_instance
from apispec.ext.marshmallow.openapi import OpenAPIConverter
from pydantic import BaseModel, ValidationError

REF_PREFIX = "#/components/schemas/"
BODY = "_body"  # the key of errors about the body as a whole (not a JSON object, say)


def component_name(model: type[BaseModel]) -> str:
    """The name pydantic gives the model among `$defs` (`Page[ProjectOut]` is `Page_ProjectOut_`)."""
    return re.sub(r"[^a-zA-Z0-9.\-_]", "_", model.__name__)


def field_errors(error: ValidationError) -> dict[str, list[str]]:
    """pydantic's errors as `{"config.train_eval_split": ["Input should be ..."]}`."""
    messages: dict[str, list[str]] = {}
    for item in error.errors(include_url=False):
        path = ".".join(str(part) for part in item["loc"]) or BODY
        messages.setdefault(path, []).append(item["msg"])
    return messages


@cache
def _list_fields(model: type[BaseModel]) -> frozenset[str]:
    """Fields that take several values (`?status=a&status=b`) when read from a query string or a form."""
    names = set()
    for name, info in model.model_fields.items():
        annotation = info.annotation
        origins = {typing.get_origin(arg) or arg for arg in (*typing.get_args(annotation), annotation)}
        if origins & {list, tuple, set, frozenset}:
            names.add(info.alias or name)
    return frozenset(names)


def _plain(model: type[BaseModel], data: Any) -> Any:
    """A webargs multi-dict proxy (query string, form) as a plain dict; JSON bodies pass through."""
    multi = getattr(data, "data", data)
    if not hasattr(multi, "getlist"):
        return dict(data) if isinstance(data, Mapping) else data
    many = _list_fields(model)
    return {key: multi.getlist(key) if key in many else multi.get(key) for key in multi}


class PydanticSchema(ma.Schema):
    """A marshmallow Schema with no fields of its own: its pydantic `model` does the work."""

    model: ClassVar[type[BaseModel]]

    def load(self, data: Any, *, many: bool | None = None, partial: Any = None, unknown: Any = None) -> Any:
        try:
            return self.model.model_validate(_plain(self.model, data))
        except ValidationError as error:
            raise ma.ValidationError(field_errors(error)) from None

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        if isinstance(obj, BaseModel) and not isinstance(obj, self.model):
            obj = obj.model_dump()  # another model (a domain one): its extra fields reach models that allow them
        value = obj if isinstance(obj, self.model) else self.model.model_validate(obj, from_attributes=True)
        return value.model_dump(mode="json", by_alias=True)


@cache
def schema_for(model: type[BaseModel]) -> type[PydanticSchema]:
    """The Schema class of `model` (one per model, so the OpenAPI document names it once)."""
    return type(f"{component_name(model)}Schema", (PydanticSchema,), {"model": model})


def _not_null(prop: dict[str, Any]) -> dict[str, Any]:
    """An optional argument's schema without its `null` branch: a query string cannot say null, only omit."""
    options = [option for option in prop.get("anyOf", []) if option != {"type": "null"}]
    if len(options) != 1 or len(options) == len(prop.get("anyOf", [])):
        return prop
    rest = {key: value for key, value in prop.items() if key != "anyOf" and not (key == "default" and value is None)}
    return {**options[0], **rest}


class PydanticConverter(OpenAPIConverter):
    """apispec's converter, taught to document PydanticSchema classes from their models' JSON Schema."""

    def _register(self, name: str, definition: dict[str, Any]) -> None:
        schemas = self.spec.components.schemas
        if name not in schemas:
            self.spec.components.schema(name, definition)
        elif schemas[name] != definition:
            raise ValueError(f"two API models are named '{name}': rename one")

    def _definition(self, model: type[BaseModel]) -> dict[str, Any]:
        """The model's JSON Schema, the models it nests registered as components."""
        definition = model.model_json_schema(ref_template=REF_PREFIX + "{model}")
        for name, nested in definition.pop("$defs", {}).items():
            self._register(name, nested)
        return definition

    def model_ref(self, model: type[BaseModel]) -> dict[str, str]:
        """Register the model as a component; its `$ref`."""
        name = component_name(model)
        self._register(name, self._definition(model))
        return {"$ref": REF_PREFIX + name}

    def resolve_nested_schema(self, schema: Any) -> Any:
        instance = resolve_schema_instance(schema)
        if isinstance(instance, PydanticSchema):
            return self.model_ref(instance.model)
        return super().resolve_nested_schema(schema)

    def schema2parameters(self, schema: Any, *, location: str, **kwargs: Any) -> list[dict[str, Any]]:
        instance = resolve_schema_instance(schema)
        if not isinstance(instance, PydanticSchema) or location == "body":
            return super().schema2parameters(schema, location=location, **kwargs)
        definition = self._definition(instance.model)
        required = set(definition.get("required", []))
        parameters = []
        for name, prop in definition.get("properties", {}).items():
            prop = _not_null(prop)
            parameter = {"in": location, "name": name, "required": name in required, "schema": prop}
            if "description" in prop:
                parameter["description"] = prop["description"]
            parameters.append(parameter)
        return parameters


class PydanticPlugin(MarshmallowPlugin):
    Converter = PydanticConverter
