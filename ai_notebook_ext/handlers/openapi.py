"""Builds the OpenAPI 3.1 document from the route table and the handlers' metadata."""

from __future__ import annotations

import re
from functools import cache
from http.client import responses
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from tornado.web import RequestHandler

from .base import Operation
from .query import Param

METHODS = ("get", "post", "put", "patch", "delete")
REF = "#/components/schemas/{model}"
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
        }
    },
}
# Every route is rate limited per user (AINotebookApp.rate_limits): one shared answer.
RATE_LIMITED_REF = {"$ref": "#/components/responses/RateLimited"}
RATE_LIMITED = {
    "description": "Too Many Requests: the caller's rate limit for this kind of request "
    "(read, write, execute, upload, ai) is spent.",
    "headers": {
        "Retry-After": {
            "description": "Whole seconds until a request of this kind is allowed again.",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
    "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}},
}


def operations(handler: type[RequestHandler]) -> dict[str, Operation]:
    """The documented HTTP methods a handler implements."""
    ops = {}
    for method in METHODS:
        func = handler.__dict__.get(method)
        op = getattr(func, "_operation", None)
        if op is not None:
            ops[method] = op
    return ops


def _models(routes: list[tuple[str, type[RequestHandler]]]) -> list[tuple[type[BaseModel], Any]]:
    found: dict[type[BaseModel], Any] = {}
    for _, handler in routes:
        for op in operations(handler).values():
            if op.body is not None:
                found.setdefault(op.body, "validation")
            if isinstance(op.response, type) and issubclass(op.response, BaseModel):
                found.setdefault(op.response, "serialization")
    return list(found.items())


def _operation_id(method: str, template: str) -> str:
    words = [w.strip("{}") for w in template.strip("/").replace(".", "_").split("/")]
    return method + "_" + "_".join(words)


def openapi_document(
    routes: list[tuple[str, type[RequestHandler]]], version: str
) -> dict[str, Any]:
    """The whole document; cached since routes and models are fixed at import time."""
    return _document(tuple(routes), version)


def _query_parameter(name: str, spec: Param | str, op: Operation) -> dict[str, Any]:
    """A query parameter: a Param's own schema, or (a bare description) an integer or
    text, required when the description says so."""
    if isinstance(spec, Param):
        return {
            "name": name,
            "in": "query",
            "required": spec.required,
            "description": spec.description,
            "schema": spec.schema,
        }
    return {
        "name": name,
        "in": "query",
        "required": "required" in spec,
        "description": spec,
        "schema": {"type": "string" if name in op.text_query else "integer"},
    }


def _success_content(op: Operation, keyed: dict[Any, Any]) -> dict[str, Any]:
    """The media type and schema of a success answer."""
    if op.media == "application/json":
        if op.response is None:
            return {op.media: {"schema": {"type": "object"}}}
        return {op.media: {"schema": keyed[(op.response, "serialization")]}}
    if op.media.endswith("+json"):
        return {op.media: {"schema": {"type": "object"}}}
    if op.media.startswith("text/"):
        return {op.media: {"schema": {"type": "string"}}}
    return {op.media: {}}  # bytes or a stream of lines: no schema to check them by


def error_codes(template: str, op: Operation) -> list[int]:
    """The error statuses an operation can answer: every one 400 (bad query or body),
    401/403 (authentication, role), 429 (rate limit); 404 when its path has parameters
    (an unknown or invisible resource); 413 when it takes a body; and its own."""
    codes = {400, 401, 403, 429, *op.errors}
    if "{" in template:
        codes.add(404)
    if op.body is not None or op.raw_body is not None:
        codes.add(413)
    return sorted(codes)


def _response_name(code: int) -> str:
    if code == 429:
        return "RateLimited"
    return responses.get(code, f"Error{code}").title().replace(" ", "").replace("-", "")


def _error_response(code: int) -> dict[str, Any]:
    if code == 429:
        return RATE_LIMITED
    return {
        "description": responses.get(code, "Error"),
        "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}},
    }


@cache
def _document(routes: tuple[tuple[str, type[RequestHandler]], ...], version: str) -> dict[str, Any]:
    models = _models(list(routes))
    keyed, defs = models_json_schema(models, ref_template=REF)
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    schemas["Error"] = ERROR_SCHEMA
    errors: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for template, handler in routes:
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"\{([a-z_]+)\}", template)
        ]
        item: dict[str, Any] = {}
        for method, op in operations(handler).items():
            spec: dict[str, Any] = {
                "operationId": _operation_id(method, template),
                "summary": op.summary,
                "tags": [template.strip("/").split("/")[0].split(".")[0]],
                "parameters": params + [_query_parameter(q, d, op) for q, d in op.query.items()],
                "responses": {},
            }
            if op.raw_body is not None:
                spec["requestBody"] = {
                    "required": True,
                    "content": {op.raw_body: {"schema": {"type": "string", "format": "binary"}}},
                }
            if op.body is not None:
                spec["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": keyed[(op.body, "validation")]}},
                }
            for status in sorted({op.status, *op.also}):
                ok: dict[str, Any] = {"description": responses.get(status, "OK")}
                if status not in (101, 204):  # 101: a WebSocket upgrade, frames follow
                    ok["content"] = _success_content(op, keyed)
                spec["responses"][str(status)] = ok
            if op.etag:
                etag = {"ETag": {"schema": {"type": "string"}}}
                spec["responses"][str(op.status)]["headers"] = etag
                spec["responses"]["304"] = {"description": "Not Modified: If-None-Match names it"}
                spec["parameters"].append(
                    {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}
                )
            for code in error_codes(template, op):
                name = _response_name(code)
                errors.setdefault(name, _error_response(code))
                spec["responses"][str(code)] = {"$ref": f"#/components/responses/{name}"}
            item[method] = spec
        paths["/ai-notebook/api" + template] = item
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ai_notebook_ext REST API",
            "version": version,
            "description": "Projects, blocks and members of the AI notebook. Every error is "
            '{"error": {"code", "message", "details"}}. Authenticate as for any Jupyter '
            "Server API (token header or cookie with XSRF).",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": dict(sorted(errors.items())),
            "securitySchemes": {
                "token": {"type": "apiKey", "in": "header", "name": "Authorization"}
            },
        },
        "security": [{"token": []}],
    }
