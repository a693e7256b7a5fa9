"""The service's OpenAPI document: request bodies described from the loaded feature specs.

The predict handler reads its body itself (streamed, bounded, no pydantic pass over every
instance), so FastAPI cannot infer the request schema; this module writes it: the slots
served, the two JSON shapes with each loaded feature's type (vocabularies as examples of
known categories), the Arrow stream, and every status the handler answers. Property-based
tools (tests/unit/test_serving_fuzz.py runs schemathesis) generate requests from it, so it
is rebuilt on each `/openapi.json` request and follows hot swaps.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from adctr.model.contract import FeatureSpec
from adctr.serving.limits import ServingLimits

ARROW_STREAM = "application/vnd.apache.arrow.stream"
PREDICT_PATH = "/v1/models/{slot}:predict"
STATUS_PATH = "/v1/models/{slot}"


class PredictAnswer(BaseModel):
    slot: str
    model: str
    variant: str
    version: int
    predictions: list[float]


class Problems(BaseModel):
    error: str
    problems: list[str]
    limit: str | None = None  # the config key a 413 names (serving.max_body_bytes, ...)
    value: int | None = None


class ErrorAnswer(BaseModel):
    detail: Problems | str


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorAnswer, "description": description}


PREDICT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": PredictAnswer, "description": "One probability per instance, and the version that scored them"},
    400: _error("Malformed body, a missing required feature, a wrong type, NaN or infinity; `problems` lists each"),
    404: _error("Unknown slot, or the requested version is not loaded"),
    413: _error("The body or the instance count passes a limit of config/slots.yaml; `limit` names it"),
    415: _error("Content-Type is neither application/json nor " + ARROW_STREAM),
    503: _error("No version of the slot is loaded yet"),
}
STATUS_RESPONSES: dict[int | str, dict[str, Any]] = {404: _error("Unknown slot")}


def _value_schema(kind: str, vocabulary: list[str]) -> dict[str, Any]:
    if kind == "numeric":
        return {"type": ["number", "null"]}
    if kind == "weekday":
        return {"type": ["string", "null"], "format": "date"}
    any_category: dict[str, Any] = {"type": ["string", "integer", "null"]}
    return {"anyOf": [{"enum": vocabulary}, any_category]} if vocabulary else any_category


def feature_schemas(specs: list[FeatureSpec]) -> tuple[dict[str, Any], list[str]]:
    """{source column: value schema} over every loaded spec, and the columns all of them require."""
    properties: dict[str, Any] = {}
    required: set[str] | None = None
    for spec in specs:
        needed = set()
        for f in spec.features:
            source = f.derived_from or f.name
            properties.setdefault(source, _value_schema("weekday" if f.derived_from else f.kind, f.vocabulary))
            if f.required:
                needed.add(source)
        required = needed if required is None else required & needed
    return properties, sorted(required or ())


def request_body(specs: list[FeatureSpec], limits: ServingLimits) -> dict[str, Any]:
    properties, required = feature_schemas(specs)
    rows = {"type": "array", "minItems": 1, "maxItems": limits.max_instances,
            "items": {"type": "object", "properties": properties, "required": required}}  # fmt: skip
    columns = {
        "type": "object", "minProperties": 1, "required": required,
        "properties": {k: {"type": "array", "minItems": 1, "maxItems": limits.max_instances, "items": v}
                       for k, v in properties.items()},
        "additionalProperties": {"type": "array"},
        "description": "Equal-length lists, one per feature",
    }  # fmt: skip
    version = {"type": "integer", "minimum": 1, "description": "Score with this loaded version"}
    json_body = {
        "oneOf": [
            {"type": "object", "title": "rows", "required": ["instances"],
             "properties": {"instances": rows, "inputs": {"type": "null"}, "version": version}},
            {"type": "object", "title": "columns", "required": ["inputs"],
             "properties": {"inputs": columns, "instances": {"type": "null"}, "version": version}},
        ],
        "description": f"At most {limits.max_body_bytes:,} bytes and {limits.max_instances:,} instances",
    }  # fmt: skip
    arrow = {"type": "string", "format": "binary", "description": "Arrow IPC stream, one column per feature"}
    return {"required": True, "content": {"application/json": {"schema": json_body}, ARROW_STREAM: {"schema": arrow}}}


def build(app: FastAPI, slots: list[str], specs: list[FeatureSpec], limits: ServingLimits) -> dict[str, Any]:
    """The document for the slots and the specs loaded now."""
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    slot_schema = {"type": "string", "enum": sorted(slots)}
    predict = doc["paths"][PREDICT_PATH]["post"]
    predict["requestBody"] = request_body(specs, limits)
    predict.setdefault("parameters", []).append(
        {"name": "version", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1},
         "description": "The version to score with (Arrow requests; JSON bodies may carry `version`)"}
    )  # fmt: skip
    for path, method in ((PREDICT_PATH, "post"), (STATUS_PATH, "get")):
        for param in doc["paths"][path][method]["parameters"]:
            if param["name"] == "slot":
                param["schema"] = slot_schema
    return doc
