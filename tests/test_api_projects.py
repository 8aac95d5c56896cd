"""Projects API: CRUD, pagination, validation and role checks, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

from conftest import make_project


async def test_create_get_list_update_delete(api):
    r = await api("POST", "projects", json_body={"name": "  Sales  ", "description": "Q3"})
    assert r.status == 201
    project = r.body
    assert project["name"] == "Sales"  # surrounding whitespace is trimmed
    assert project["description"] == "Q3"
    assert project["owner"] == "alice"
    assert project["role"] == "owner"
    assert datetime.fromisoformat(project["created_at"]).tzinfo is not None

    r = await api("GET", f"projects/{project['id']}")
    assert r.status == 200
    assert r.body == project

    r = await api("PATCH", f"projects/{project['id']}", json_body={"description": "Q4"})
    assert r.status == 200
    assert r.body["description"] == "Q4"
    assert r.body["name"] == "Sales"
    assert r.body["updated_at"] >= project["updated_at"]

    r = await api("GET", "projects")
    assert r.status == 200
    assert r.body["total"] == 1
    assert [p["id"] for p in r.body["items"]] == [project["id"]]

    r = await api("DELETE", f"projects/{project['id']}")
    assert r.status == 204
    r = await api("GET", f"projects/{project['id']}")
    assert r.status == 404
    r = await api("GET", "projects")
    assert r.body["total"] == 0


async def test_list_shows_only_my_projects_newest_first_with_pages(api):
    ids = [await make_project(api, f"p{i}") for i in range(5)]
    await make_project(api, "bob's", user="bob")
    r = await api("GET", "projects", params={"limit": 2})
    assert r.body["total"] == 5
    assert r.body["limit"] == 2
    assert [p["id"] for p in r.body["items"]] == ids[::-1][:2]
    r = await api("GET", "projects", params={"limit": 2, "offset": 4})
    assert [p["id"] for p in r.body["items"]] == [ids[0]]
    r = await api("GET", "projects", user="bob")
    assert [p["name"] for p in r.body["items"]] == ["bob's"]


async def test_shared_project_is_listed_with_the_callers_role(api):
    pid = await make_project(api, bob="viewer")
    r = await api("GET", "projects", user="bob")
    assert [(p["id"], p["role"], p["owner"]) for p in r.body["items"]] == [(pid, "viewer", "alice")]


async def test_admin_sees_and_manages_every_project(api):
    pid = await make_project(api)
    r = await api("GET", "projects", user="root")
    assert [(p["id"], p["role"]) for p in r.body["items"]] == [(pid, "owner")]
    r = await api("GET", "me", user="root")
    assert r.body["role"] == "admin"
    r = await api("DELETE", f"projects/{pid}", user="root")
    assert r.status == 204


async def test_role_matrix(api):
    pid = await make_project(api, bob="editor", carol="viewer")
    # read: everyone with a role; a non-member cannot tell the project exists
    for user, status in [("alice", 200), ("bob", 200), ("carol", 200), ("dave", 404)]:
        assert (await api("GET", f"projects/{pid}", user=user)).status == status, user
    # update: editor and owner
    for user, status in [("carol", 403), ("dave", 404), ("bob", 200), ("alice", 200)]:
        r = await api("PATCH", f"projects/{pid}", user=user, json_body={"name": f"by {user}"})
        assert r.status == status, (user, r.body)
    r = await api("PATCH", f"projects/{pid}", user="carol", json_body={"name": "x"})
    assert r.error["code"] == "forbidden"
    assert "editor" in r.error["message"]
    assert r.error["details"] == {"required_role": "editor", "role": "viewer"}
    # delete: owner only; nothing changes on refusal
    for user, status in [("carol", 403), ("bob", 403), ("dave", 404)]:
        assert (await api("DELETE", f"projects/{pid}", user=user)).status == status, user
    r = await api("GET", f"projects/{pid}")
    assert r.body["name"] == "by alice"
    assert (await api("DELETE", f"projects/{pid}", user="alice")).status == 204


async def test_non_member_and_missing_project_look_the_same(api):
    pid = await make_project(api)
    hidden = await api("GET", f"projects/{pid}", user="dave")
    missing = await api("GET", "projects/999999", user="dave")
    assert hidden.status == missing.status == 404
    assert hidden.error["code"] == missing.error["code"] == "not_found"
    assert hidden.error["message"] == f"project {pid} not found"
    for path in ["projects/abc", "projects/0", "projects/99999999999999999999"]:
        r = await api("GET", path)
        assert r.status == 404, path
        assert r.error["code"] == "not_found"


async def test_validation_errors_name_the_field_and_change_nothing(api):
    cases = [
        ({"name": 5}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "ok", "description": "d" * 10_001}, "description"),
        ({"name": "ok", "description": None}, "description"),
        ({"name": "ok", "colour": "red"}, "colour"),
        ({}, "name"),
        ({"name": ["a"]}, "name"),
    ]
    for body, field in cases:
        r = await api("POST", "projects", json_body=body)
        assert r.status == 400, body
        assert r.error["code"] == "invalid_request"
        assert field in r.error["message"], (body, r.error)
        assert r.error["details"]["errors"][0]["field"] == field
    r = await api("POST", "projects", json_body={"name": "ok", "colour": "red"})
    assert r.error["message"] == "unknown field 'colour'"
    assert (await api("GET", "projects")).body["total"] == 0


async def test_malformed_bodies_are_400(api):
    for raw, needle in [
        ("{bad", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ("", "empty"),
        ('"name"', "JSON object"),
        (b"\xff\xfe", "not valid JSON"),
    ]:
        r = await api("POST", "projects", raw=raw)
        assert r.status == 400, raw
        assert needle in r.error["message"], (raw, r.error)
    pid = await make_project(api)
    r = await api("PATCH", f"projects/{pid}", json_body={"name": None, "bogus": 1})
    assert r.status == 400
    assert r.error["details"]["errors"][0]["field"] == "bogus"


async def test_bad_pagination_is_400(api):
    for params, field in [
        ({"limit": "ten"}, "limit"),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"offset": -1}, "offset"),
    ]:
        r = await api("GET", "projects", params=params)
        assert r.status == 400, params
        assert r.error["details"]["field"] == field
        assert field in r.error["message"]


async def test_me_mirrors_the_jupyter_identity(api):
    r = await api("GET", "me", user="bob")
    assert r.status == 200
    assert r.body == {"username": "bob", "display_name": "Bob Example", "role": "member"}
