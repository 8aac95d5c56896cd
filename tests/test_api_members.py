"""Members API: sharing with roles, the last-owner rule, leaving, role checks."""

from __future__ import annotations

from conftest import make_project


async def members(api, pid, user="alice"):
    r = await api("GET", f"projects/{pid}/members", user=user)
    assert r.status == 200, r.body
    return {m["username"]: m["role"] for m in r.body["items"]}


async def test_add_change_remove(api):
    pid = await make_project(api)
    assert await members(api, pid) == {"alice": "owner"}

    r = await api(
        "POST", f"projects/{pid}/members", json_body={"username": "bob", "role": "editor"}
    )
    assert r.status == 201
    assert r.body["username"] == "bob"
    assert r.body["role"] == "editor"
    # a user never seen before is known by username until they first log in
    assert r.body["display_name"] == "bob"
    assert (await api("GET", "me", user="bob")).body["display_name"] == "Bob Example"
    r = await api("GET", f"projects/{pid}/members")
    assert {m["username"]: m["display_name"] for m in r.body["items"]}["bob"] == "Bob Example"

    r = await api("PATCH", f"projects/{pid}/members/bob", json_body={"role": "viewer"})
    assert r.status == 200
    assert r.body["role"] == "viewer"
    assert await members(api, pid, user="bob") == {"alice": "owner", "bob": "viewer"}

    r = await api("DELETE", f"projects/{pid}/members/bob")
    assert r.status == 204
    assert await members(api, pid) == {"alice": "owner"}
    assert (await api("GET", f"projects/{pid}", user="bob")).status == 404


async def test_duplicate_member_is_409(api):
    pid = await make_project(api, bob="viewer")
    r = await api(
        "POST", f"projects/{pid}/members", json_body={"username": "bob", "role": "editor"}
    )
    assert r.status == 409
    assert r.error["details"] == {"username": "bob", "role": "viewer"}
    assert await members(api, pid) == {"alice": "owner", "bob": "viewer"}


async def test_only_owners_manage_members(api):
    pid = await make_project(api, bob="editor", carol="viewer")
    add = {"username": "erin", "role": "viewer"}
    for user, status in [("bob", 403), ("carol", 403), ("dave", 404)]:
        r = await api("POST", f"projects/{pid}/members", user=user, json_body=add)
        assert r.status == status, user
        r = await api(
            "PATCH", f"projects/{pid}/members/carol", user=user, json_body={"role": "owner"}
        )
        assert r.status == status, user
        r = await api("DELETE", f"projects/{pid}/members/alice", user=user)
        assert r.status == status, user
    # any member may read the member list; non-members may not
    assert (await api("GET", f"projects/{pid}/members", user="carol")).status == 200
    assert (await api("GET", f"projects/{pid}/members", user="dave")).status == 404
    assert await members(api, pid) == {"alice": "owner", "bob": "editor", "carol": "viewer"}


async def test_a_member_may_leave(api):
    pid = await make_project(api, carol="viewer")
    assert (await api("DELETE", f"projects/{pid}/members/carol", user="carol")).status == 204
    assert await members(api, pid) == {"alice": "owner"}


async def test_last_owner_cannot_be_demoted_or_removed(api):
    pid = await make_project(api, bob="editor")
    r = await api("PATCH", f"projects/{pid}/members/alice", json_body={"role": "editor"})
    assert r.status == 409
    assert r.error["details"] == {"reason": "last_owner"}
    r = await api("DELETE", f"projects/{pid}/members/alice")
    assert r.status == 409
    assert await members(api, pid) == {"alice": "owner", "bob": "editor"}
    # with a second owner, the first may step down
    r = await api("PATCH", f"projects/{pid}/members/bob", json_body={"role": "owner"})
    assert r.status == 200
    r = await api("PATCH", f"projects/{pid}/members/alice", json_body={"role": "viewer"})
    assert r.status == 200
    assert (await api("DELETE", f"projects/{pid}", user="alice")).status == 403


async def test_member_errors(api):
    pid = await make_project(api)
    r = await api("PATCH", f"projects/{pid}/members/nobody", json_body={"role": "viewer"})
    assert r.status == 404
    assert "nobody" in r.error["message"]
    assert (await api("DELETE", f"projects/{pid}/members/nobody")).status == 404
    for body, field in [
        ({"username": "bob", "role": "boss"}, "role"),
        ({"username": "", "role": "viewer"}, "username"),
        ({"username": "u" * 256, "role": "viewer"}, "username"),
        ({"role": "viewer"}, "username"),
        ({"username": "bob", "role": "viewer", "x": 1}, "x"),
    ]:
        r = await api("POST", f"projects/{pid}/members", json_body=body)
        assert r.status == 400, body
        assert r.error["details"]["errors"][0]["field"] == field
    r = await api("PATCH", f"projects/{pid}/members/alice", json_body={"role": 3})
    assert r.status == 400
    assert await members(api, pid) == {"alice": "owner"}
