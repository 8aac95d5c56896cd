"""Hostile input never produces a 500 and never changes anything, on both backends."""

from __future__ import annotations

import re

from conftest import make_project

from ai_notebook_ext.handlers.openapi import operations
from ai_notebook_ext.handlers.routes import ROUTES

BAD_STRINGS = {
    "nul": "a\x00b",
    "lone surrogate": "\ud800",
}


async def snapshot(api, pid):
    project = (await api("GET", f"projects/{pid}")).body
    blocks = (await api("GET", f"projects/{pid}/blocks")).body["items"]
    members = (await api("GET", f"projects/{pid}/members")).body["items"]
    return project, blocks, members


async def test_unstorable_strings_are_400_naming_the_field(api):
    pid = await make_project(api)
    blk = (await api("POST", f"projects/{pid}/blocks", json_body={"source": "x"})).body
    before = await snapshot(api, pid)
    for label, bad in BAD_STRINGS.items():
        cases = [
            ("POST", "projects", {"name": bad}, "name"),
            ("POST", "projects", {"name": "ok", "description": bad}, "description"),
            ("PATCH", f"projects/{pid}", {"name": bad}, "name"),
            ("POST", f"projects/{pid}/blocks", {"source": bad}, "source"),
            (
                "POST",
                f"projects/{pid}/blocks/bulk",
                {"blocks": [{"source": bad}]},
                "blocks.0.source",
            ),
            (
                "PATCH",
                f"projects/{pid}/blocks/{blk['id']}",
                {"version": 1, "source": bad},
                "source",
            ),
            ("POST", f"projects/{pid}/members", {"username": bad, "role": "viewer"}, "username"),
        ]
        for method, path, body, field in cases:
            r = await api(method, path, json_body=body)
            assert r.status == 400, (label, method, path, r.body)
            assert r.error["details"]["errors"][0]["field"] == field, (label, path)
    assert await snapshot(api, pid) == before
    assert (await api("GET", "projects")).body["total"] == 1


async def test_out_of_range_numbers_are_400(api):
    pid = await make_project(api)
    blk = (await api("POST", f"projects/{pid}/blocks", json_body={"source": "x"})).body
    path = f"projects/{pid}/blocks/{blk['id']}"
    for body in [
        {"version": 2**63, "source": "y"},
        {"version": 0, "source": "y"},
        {"version": 1.0, "source": "y"},
        {"version": True, "source": "y"},
    ]:
        r = await api("PATCH", path, json_body=body)
        assert r.status == 400, body
        assert r.error["details"]["errors"][0]["field"] == "version"
    for position in [2**40, -1, "1", None]:
        r = await api("POST", f"{path}/move", json_body={"position": position})
        assert r.status == 400, position
        r = await api(
            "POST", f"projects/{pid}/blocks", json_body={"source": "z", "position": position}
        )
        assert r.status == 400 or (position is None and r.status == 201), position
    for version in ["2" * 30, "-1", "x"]:
        r = await api("DELETE", path, params={"version": version})
        assert r.status == 400, version


async def test_weird_paths_and_bodies(api):
    pid = await make_project(api)
    r = await api("PATCH", f"projects/{pid}/members/%00", json_body={"role": "viewer"})
    assert r.status == 404
    r = await api("DELETE", f"projects/{pid}/members/{'u' * 300}")
    assert r.status == 404
    r = await api("POST", "projects", raw="[" * 100_000 + "]" * 100_000)
    assert r.status == 400
    r = await api("POST", "projects", raw='{"name": "x", "name": 5}')
    assert r.status == 400
    assert (await api("GET", "projects")).body["total"] == 1


NUMERIC = re.compile(r"\{([a-z_]+_id|number)\}")


async def test_ids_with_non_ascii_digits_are_404_on_every_route(api):
    """'³' passes str.isdigit() but not int(); '١٢' passes both: neither names anything."""
    pid = await make_project(api)
    for template, handler in ROUTES:
        params = [m for m in NUMERIC.findall(template) if m != "artifact_id"]
        for method in operations(handler):
            for bad in params:
                for digits in ("³", "١٢"):

                    def fill(m: re.Match[str], bad: str = bad, digits: str = digits) -> str:
                        name = m.group(1)
                        if name == bad:
                            return digits
                        return str(pid) if name == "project_id" else "1"

                    path = re.sub(r"\{([a-z_]+)\}", fill, template)
                    r = await api(method.upper(), path, json_body={})
                    assert r.status == 404, (method, path, r.status, r.body)
    r = await api("GET", "projects", params={"limit": "١٢"})
    assert r.status == 400
    assert r.error["details"]["field"] == "limit"
