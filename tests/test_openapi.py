"""The served OpenAPI document is valid and covers every route and method."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from ai_notebook_ext.errors import ApiError
from ai_notebook_ext.handlers.base import ApiHandler
from ai_notebook_ext.handlers.openapi import (
    METHODS,
    RATE_LIMITED_REF,
    openapi_document,
    operations,
)
from ai_notebook_ext.handlers.query import Param
from ai_notebook_ext.handlers.routes import ROUTES, handlers


async def test_document_is_valid_and_complete(api):
    r = await api("GET", "openapi.json")
    assert r.status == 200
    doc = r.body
    validate(doc)
    assert doc["openapi"].startswith("3.")
    for template, handler in ROUTES:
        item = doc["paths"]["/ai-notebook/api" + template]
        implemented = {m for m in METHODS if m in handler.__dict__}
        assert implemented, template
        assert set(item) == implemented, template
        for method in implemented:
            op = item[method]
            assert op["summary"]
            assert set(op["responses"]) >= {"400", "403"}
            schemas = doc["components"]["schemas"]
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            if "schema" in body:
                assert body["schema"]["$ref"].split("/")[-1] in schemas
    assert len(doc["paths"]) == len(ROUTES)


def test_every_handler_method_is_documented_and_served():
    served = {h for _, h in handlers()}
    for _, handler in ROUTES:
        assert handler in served
        for method in METHODS:
            func = handler.__dict__.get(method)
            if func is not None:
                assert method in operations(handler), (
                    f"{handler.__name__}.{method} lacks @operation"
                )


def test_every_api_handler_subclass_is_routed():
    """A handler class that exists but is not in the route table would be undocumented."""
    routed = {h for _, h in handlers()}

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    missing = {
        s.__name__ for s in subclasses(ApiHandler) if s.__module__.startswith("ai_notebook_ext")
    } - {h.__name__ for h in routed}
    assert not missing


def test_generic_error_responses_and_success_statuses():
    """Every operation documents 400, 401, 403 and a reusable 429 (with Retry-After); a
    path with parameters 404; an operation taking a body 413; and each of its success
    statuses (202 and, with ?wait=true, 200) with the same content."""
    doc = openapi_document(ROUTES, "test")
    for template, handler in ROUTES:
        for method, op in operations(handler).items():
            spec = doc["paths"]["/ai-notebook/api" + template][method]
            codes = set(spec["responses"])
            assert codes >= {"400", "401", "403", "429"}, (template, method)
            assert spec["responses"]["429"] == RATE_LIMITED_REF
            assert ("404" in codes) == ("{" in template or 404 in op.errors), (template, method)
            takes_body = op.body is not None or op.raw_body is not None
            assert ("413" in codes) == (takes_body or 413 in op.errors), (template, method)
            for status in (op.status, *op.also):
                assert str(status) in codes
    too_many = doc["components"]["responses"]["RateLimited"]
    assert "Retry-After" in too_many["headers"]
    execute = doc["paths"]["/ai-notebook/api/projects/{project_id}/blocks/{block_id}/execute"]
    ok = execute["post"]["responses"]
    assert ok["200"]["content"] == ok["202"]["content"]
    wait = next(p for p in execute["post"]["parameters"] if p["name"] == "wait")
    assert wait["schema"]["type"] == "boolean"


def test_non_json_answers_declare_their_media_types():
    doc = openapi_document(ROUTES, "test")
    base = "/ai-notebook/api/projects/{project_id}"
    expected = {
        f"{base}/artifacts/{{artifact_id}}": "*/*",
        f"{base}/notebook": "application/x-ipynb+json",
        f"{base}/datasets/{{dataset_id}}/versions/{{number}}/download": "application/octet-stream",
        f"{base}/datasets/{{dataset_id}}/reports/{{report_id}}/html": "text/html",
    }
    for path, media in expected.items():
        assert set(doc["paths"][path]["get"]["responses"]["200"]["content"]) == {media}, path
    for path in (
        "/ai-notebook/api/ai/complete",
        f"{base}/agent/conversations/{{conversation_id}}/messages",
    ):
        assert set(doc["paths"][path]["post"]["responses"]["200"]["content"]) == {
            "application/x-ndjson"
        }


def test_query_parameters_are_as_strict_as_the_server():
    """A Param's schema and parser are one object; this checks the parsers refuse what
    the schemas refuse, on the values a client is most likely to get wrong."""
    doc = openapi_document(ROUTES, "test")
    declared = 0
    for _, handler in ROUTES:
        for op in operations(handler).values():
            for name, param in op.query.items():
                if not isinstance(param, Param):
                    continue
                declared += 1
                schema = param.schema
                bad = {
                    "integer": [
                        "",
                        "x",
                        "1.5",
                        "1_0",
                        "+1",
                        "\u0661",
                        str(schema.get("maximum", 0) + 1),
                    ],
                    "boolean": ["", "yes", "True", "2"],
                    "string": [],
                }[schema["type"]]
                if "enum" in schema:
                    bad = ["", "nope"]
                if schema["type"] == "integer":
                    bad.append(str(schema["minimum"] - 1))
                if schema.get("minLength"):
                    bad.append("")
                if schema.get("maxLength"):
                    bad.append("a" * (schema["maxLength"] + 1))
                for raw in bad:
                    with pytest.raises(ApiError) as err:
                        param.read(name, raw)
                    assert err.value.status == 400, (name, raw)
                if param.required:
                    with pytest.raises(ApiError):
                        param.read(name, None)
    assert declared >= 15
    assert doc["paths"]
