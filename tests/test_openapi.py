"""The served OpenAPI document is valid and covers every route and method."""

from __future__ import annotations

from openapi_spec_validator import validate

from ai_notebook_ext.handlers.base import ApiHandler
from ai_notebook_ext.handlers.openapi import METHODS, operations
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
