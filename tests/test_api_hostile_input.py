"""Hostile input never produces a 500 and never changes anything, on both backends."""

from __future__ import annotations

from conftest import make_project

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
