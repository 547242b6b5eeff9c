"""Pydantic models as flask-smorest schemas: pydantic stays the one schema language.

`schema_for(Model)` is a marshmallow Schema class whose `load` validates with the model (the view
receives the model instance) and whose `dump` serialises through it (times in ISO 8601 with Z).
`PydanticPlugin` makes the OpenAPI document show each model's own JSON Schema, registered once
under `#/components/schemas/<Model>`, nested models included:

    @blp.arguments(schema_for(ProjectCreate))
    @blp.response(201, schema_for(ProjectOut))
    def post(self, body: ProjectCreate) -> ProjectOut: ...

Validation errors reach the error handler as marshmallow's `{field.path: [message]}`.

The document says what the app checks, no less and no more:
- a JSON body is validated strictly (`true` is not a number, `"5"` is not an integer), as its JSON Schema reads;
  query strings and form fields, which are text, are converted (`?limit=5`);
- a body the operation requires (`@blp.arguments(..., required=True)`, the default) must be sent: none at all
  is a 422, not an empty object;
- what depends on the plugins is documented as installed on this server (`Installed`), filled in when the app
  builds its document: a plugin's name (`Annotated[str, plugin_name("generators")]`), the methods of each trainer
  (`METHODS`), the shape of each provider's keys (`KEYS`), the file types read (`FormModel.file_kinds`);
- a multipart body (`FormModel`) has no nulls: a form field is sent or absent.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, ClassVar

import marshmallow as ma
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_instance
from apispec.ext.marshmallow.openapi import OpenAPIConverter
from pydantic import BaseModel, ValidationError, WithJsonSchema

REF_PREFIX = "#/components/schemas/"
BODY = "_body"  # the key of errors about the body as a whole (not a JSON object, say)
NO_BODY = object()  # what the parser hands a body schema when the request has no body at all
# markers in a document, filled in with what is installed (`with_installed`)
PLUGINS = "x-finetune-plugins"  # {"type": "string", PLUGINS: registry}: one of the names installed there
METHODS = "x-finetune-methods"  # on a body, {"trainer": its field, "default": trainer}: `method` is the trainer's
KEYS = "x-finetune-keys"  # on a body, its `provider` field: `key` has the shape of that provider's keys
MEDIA = "x-finetune-media"  # {MEDIA: source kind or ALL_KINDS} as a multipart part's `contentType`: the types read
ALL_KINDS = "*"


@dataclass(frozen=True)
class Installed:
    """What the document lists as installed on the server (each mapping empty: not known, anything goes)."""

    names: Mapping[str, Sequence[str]] = field(default_factory=dict)  # registry -> plugin names
    methods: Mapping[str, Sequence[str]] = field(default_factory=dict)  # trainer -> its `method` values
    key_patterns: Mapping[str, str] = field(default_factory=dict)  # provider -> the pattern its keys match
    media_types: Mapping[str, Sequence[str]] = field(default_factory=dict)  # source kind -> MIME types read


def plugin_name(kind: str, *also: str) -> WithJsonSchema:
    """A str field's JSON Schema: the names of the installed plugins of `kind` (a registry: "generators",
    "providers"...), and `also` these."""
    return WithJsonSchema({"type": "string", PLUGINS: kind, **({"enum": list(also)} if also else {})})


def plugin_path_parameter(name: str, kind: str) -> dict[str, Any]:
    """A path parameter holding the name of an installed plugin, for `@blp.route(rule, parameters=[...])`."""
    return {"in": "path", "name": name, "required": True, "schema": {"type": "string", PLUGINS: kind}}


def _names(node: dict[str, Any], kind: str, installed: Installed) -> dict[str, Any]:
    if kind in installed.names:
        return {**node, "enum": [*node.get("enum", []), *installed.names[kind]]}
    return {key: value for key, value in node.items() if key != "enum"}  # not known: any name


def _methods(node: dict[str, Any], marker: Mapping[str, str], installed: Installed) -> dict[str, Any]:
    """`method` one of the trainer's (absent or null: its default); the default trainer's when none is named."""
    trainer, default = marker["trainer"], marker["default"]
    branches = []
    for name, methods in installed.methods.items():
        allowed = {"anyOf": [{"enum": list(methods)}, {"type": "null"}]} if methods else {"type": "null"}
        branch: dict[str, Any] = {"properties": {trainer: {"const": name}, "method": allowed}}
        if name != default:
            branch["required"] = [trainer]
        branches.append(branch)
    return _all_of(node, {"anyOf": branches}) if branches else node


def _keys(node: dict[str, Any], provider: str, installed: Installed) -> dict[str, Any]:
    branches = [{"properties": {provider: {"const": name}, "key": {"pattern": f"^(?:{pattern})$"}}}
                for name, pattern in installed.key_patterns.items()]
    return _all_of(node, {"anyOf": branches}) if branches else node


def _all_of(node: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    return {**node, "allOf": [*node.get("allOf", []), extra]}


def with_installed(node: Any, installed: Installed) -> Any:
    """`node` (a JSON Schema, an operation...) with its markers filled in with what is `installed`."""
    if isinstance(node, list):
        return [with_installed(item, installed) for item in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {MEDIA}:
        kinds = list(installed.media_types) if node[MEDIA] == ALL_KINDS else [node[MEDIA]]
        types = sorted({media for kind in kinds for media in installed.media_types.get(kind, ())})
        return ", ".join(types) or "application/octet-stream"
    filled = {key: with_installed(value, installed) for key, value in node.items()
              if key not in (PLUGINS, METHODS, KEYS)}
    if PLUGINS in node:
        filled = _names(filled, node[PLUGINS], installed)
    if METHODS in node:
        filled = _methods(filled, node[METHODS], installed)
    if KEYS in node:
        filled = _keys(filled, node[KEYS], installed)
    return filled


class FormModel(BaseModel):
    """A multipart body: file parts and text fields, where an optional field is absent, never null.

    `file_kinds` names each file part's kind of source (`ALL_KINDS`: any), so that the document lists the
    file types the server reads for it."""

    file_kinds: ClassVar[Mapping[str, str]] = {}


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


def _json_numbers(value: Any) -> Any:
    """JSON data with its integral numbers as ints: JSON has one kind of number, so 5.0 is the integer 5."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_json_numbers(item) for item in value]
    if isinstance(value, dict):
        return {key: _json_numbers(item) for key, item in value.items()}
    return value


def _is_text(data: Any) -> bool:
    """Whether `data` is a query string or a form (a webargs multi-dict proxy), whose values are all text."""
    return hasattr(getattr(data, "data", data), "getlist")


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
    body_required: ClassVar[bool] = True  # as a body: whether a request without one is refused

    def load(self, data: Any, *, many: bool | None = None, partial: Any = None, unknown: Any = None) -> Any:
        if data is NO_BODY:
            if self.body_required:
                raise ma.ValidationError({BODY: ["the request body is required"]})
            data = {}
        try:
            if _is_text(data):
                return self.model.model_validate(_plain(self.model, data))
            return self.model.model_validate_json(json.dumps(_json_numbers(data)), strict=True)
        except ValidationError as error:
            raise ma.ValidationError(field_errors(error)) from None

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        if isinstance(obj, BaseModel) and not isinstance(obj, self.model):
            obj = obj.model_dump()  # another model (a domain one): its extra fields reach models that allow them
        value = obj if isinstance(obj, self.model) else self.model.model_validate(obj, from_attributes=True)
        return value.model_dump(mode="json", by_alias=True)


@cache
def schema_for(model: type[BaseModel], *, body_required: bool = True) -> type[PydanticSchema]:
    """The Schema class of `model` (one per model, so the OpenAPI document names it once)."""
    suffix = "Schema" if body_required else "OptionalSchema"
    return type(f"{component_name(model)}{suffix}", (PydanticSchema,), {"model": model, "body_required": body_required})


def optional_body(schema: Any) -> Any:
    """The schema as the body of an operation that may be called without one (`required=False`)."""
    if isinstance(schema, type) and issubclass(schema, PydanticSchema):
        return schema_for(schema.model, body_required=False)
    return schema


def _not_null(prop: dict[str, Any]) -> dict[str, Any]:
    """An optional argument's schema without its `null` branch: a query string cannot say null, only omit."""
    options = [option for option in prop.get("anyOf", []) if option != {"type": "null"}]
    if len(options) != 1 or len(options) == len(prop.get("anyOf", [])):
        return prop
    rest = {key: value for key, value in prop.items() if key != "anyOf" and not (key == "default" and value is None)}
    return {**options[0], **rest}


class PydanticConverter(OpenAPIConverter):
    """apispec's converter, taught to document PydanticSchema classes from their models' JSON Schema."""

    installed = Installed()  # set by PydanticPlugin

    def _register(self, name: str, definition: dict[str, Any]) -> None:
        schemas = self.spec.components.schemas
        if name not in schemas:
            self.spec.components.schema(name, definition)
        elif schemas[name] != definition:
            raise ValueError(f"two API models are named '{name}': rename one")

    def _definition(self, model: type[BaseModel]) -> dict[str, Any]:
        """The model's JSON Schema, the models it nests registered as components."""
        definition: dict[str, Any] = with_installed(model.model_json_schema(ref_template=REF_PREFIX + "{model}"),
                                                    self.installed)
        if issubclass(model, FormModel):
            definition["properties"] = {name: _not_null(prop) for name, prop in definition["properties"].items()}
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
        return super().resolve_nested_schema(schema)  # type: ignore[no-untyped-call]  # apispec: unannotated

    def schema2parameters(self, schema: Any, *, location: str, **kwargs: Any) -> list[dict[str, Any]]:
        instance = resolve_schema_instance(schema)
        if not isinstance(instance, PydanticSchema) or location == "body":
            documented: list[dict[str, Any]] = super().schema2parameters(schema, location=location, **kwargs)
            return documented
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
    """apispec's marshmallow plugin with our converter, documenting what is `installed` on the server."""

    Converter = PydanticConverter

    def __init__(self, installed: Installed | None = None) -> None:
        super().__init__()
        self.installed = installed or Installed()

    def init_spec(self, spec: Any) -> None:
        super().init_spec(spec)
        if isinstance(self.converter, PydanticConverter):
            self.converter.installed = self.installed

    def path_helper(self, path: Any = None, operations: Any = None, parameters: Any = None, **kwargs: Any) -> None:
        """Path parameters documented by hand (`@blp.route(..., parameters=[...])`) are filled in too."""
        for index, parameter in enumerate(parameters or []):
            parameters[index] = with_installed(parameter, self.installed)

    def operation_helper(self, path: Any = None, operations: Any = None, **kwargs: Any) -> None:
        """So are the operations (a multipart part's `contentType`)."""
        super().operation_helper(path=path, operations=operations, **kwargs)
        for method, operation in (operations or {}).items():
            operations[method] = with_installed(operation, self.installed)
