"""Every route is authenticated and authorized, and errors are JSON everywhere."""

from __future__ import annotations

import re

import identity
import pytest
from conftest import make_project

from ai_notebook_ext.handlers.openapi import operations
from ai_notebook_ext.handlers.routes import ROUTES


def concrete(template: str, pid: int) -> str:
    return re.sub(
        r"\{[a-z_]+\}", lambda m: str(pid) if m.group(0) == "{project_id}" else "1", template
    )


def all_calls(pid: int):
    for template, handler in ROUTES:
        for method in operations(handler):
            yield method.upper(), concrete(template, pid).lstrip("/"), handler


async def test_every_route_requires_authentication(api):
    pid = await make_project(api)
    for method, path, _ in all_calls(pid):
        r = await api(method, path, user=None, json_body={})
        assert r.status == 403, (method, path, r.body)
        assert r.error["code"] == "unauthenticated", (method, path)


async def test_every_route_asks_the_authorizer_for_its_resource(api):
    pid = await make_project(api)
    for method, path, handler in all_calls(pid):
        identity.CHECKS.clear()
        r = await api(method, path, user="denied", json_body={})
        assert r.status == 403, (method, path, r.body)
        assert r.error["code"] == "forbidden"
        assert handler.auth_resource.startswith("ai_notebook_ext:")
        expected_action = {"GET": "read"}.get(method, "write")
        checks = list(identity.CHECKS)
        assert checks == [("denied", expected_action, handler.auth_resource)], (method, path)


async def test_unknown_routes_and_methods_get_json_errors(api):
    r = await api("GET", "does/not/exist")
    assert r.status == 404
    assert "openapi.json" in r.error["message"]
    assert (await api("GET", "does/not/exist", user=None)).status == 403
    r = await api("PUT", "projects", json_body={})
    assert r.status == 405
    assert r.error["code"] == "method_not_allowed"


@pytest.mark.parametrize("extension_config", [{"max_request_bytes": 2048}])
async def test_oversize_body_is_413_and_changes_nothing(api, extension_config):
    r = await api("POST", "projects", json_body={"name": "big", "description": "x" * 4000})
    assert r.status == 413
    assert r.error["code"] == "payload_too_large"
    assert "max_request_bytes" in r.error["message"]
    assert (await api("GET", "projects")).body["total"] == 0
