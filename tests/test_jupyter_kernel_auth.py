"""ProjectAuthorizer: Jupyter's own kernel, session and channel APIs follow project roles.

Real server, real kernels, several identities (tests/identity.py): a stranger, a viewer
and an editor against a project kernel; users' own kernels stay with their starters.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
import tornado.httpclient
from conftest import make_project
from identity import TokenUsers, auth

from ai_notebook_ext.auth import ProjectAuthorizer


@pytest.fixture
def jp_server_config(db_url: str, tmp_path: Any, extension_config: dict[str, Any]) -> dict:
    return {
        "ServerApp": {
            "jpserver_extensions": {"ai_notebook_ext": True},
            "identity_provider_class": TokenUsers,
            "authorizer_class": ProjectAuthorizer,
        },
        "AINotebookApp": {
            "database_url": db_url,
            "data_dir": str(tmp_path / "ainb-data"),
            "admin_users": ["root"],
            **extension_config,
        },
    }


async def jupyter(
    jp_fetch: Any, method: str, *path: str, user: str, body: Any = None
) -> tuple[int, Any]:
    """A call of Jupyter's own REST API as ``user``: (status, JSON body or None)."""
    if body is None and method == "POST":
        body = {}
    r = await jp_fetch(
        "api",
        *path,
        method=method,
        headers=auth(user),
        body=None if body is None else json.dumps(body),
        raise_error=False,
        allow_nonstandard_methods=True,
    )
    return r.code, (json.loads(r.body) if r.body else None)


async def kernel_ids(jp_fetch: Any, user: str) -> set[str]:
    status, body = await jupyter(jp_fetch, "GET", "kernels", user=user)
    assert status == 200, body
    return {k["id"] for k in body}


async def session_kernels(jp_fetch: Any, user: str) -> set[str]:
    status, body = await jupyter(jp_fetch, "GET", "sessions", user=user)
    assert status == 200, body
    return {s["kernel"]["id"] for s in body}


async def channels(jp_ws_fetch: Any, kernel_id: str, user: str) -> Any:
    return await jp_ws_fetch("api", "kernels", kernel_id, "channels", headers=auth(user))


async def execute_over_channels(ws: Any, code: str, user: str) -> str:
    """Send an execute_request on the websocket; the text/plain of its result."""
    msg_id = uuid.uuid4().hex
    header = {
        "msg_id": msg_id,
        "msg_type": "execute_request",
        "username": user,
        "session": uuid.uuid4().hex,
        "date": "",
        "version": "5.3",
    }
    content = {"code": code, "silent": False, "store_history": False, "allow_stdin": False}
    message = {"header": header, "parent_header": {}, "metadata": {}, "content": content}
    await ws.write_message(json.dumps({**message, "channel": "shell", "buffers": []}))
    while True:
        raw = await asyncio.wait_for(ws.read_message(), 60)
        assert raw is not None, "the kernel socket closed"
        msg = json.loads(raw)
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "execute_result":
            return str(msg["content"]["data"]["text/plain"])
        assert msg["msg_type"] != "error", msg["content"]


async def refused_socket(jp_ws_fetch: Any, kernel_id: str, user: str) -> int:
    with pytest.raises(tornado.httpclient.HTTPClientError) as refused:
        await channels(jp_ws_fetch, kernel_id, user)
    return refused.value.code


async def test_project_kernel_for_a_stranger_a_viewer_and_an_editor(api, jp_fetch, jp_ws_fetch):
    pid = await make_project(api, "shared", bob="viewer", carol="editor")
    kernel = (await api("POST", f"projects/{pid}/kernel")).body
    kid = kernel["kernel_id"]
    for user in ("alice", "bob", "carol", "root"):
        assert kid in await kernel_ids(jp_fetch, user), user
        assert kid in await session_kernels(jp_fetch, user), user
    assert kid not in await kernel_ids(jp_fetch, "dave")
    assert kid not in await session_kernels(jp_fetch, "dave")

    # reading the kernel's model: members only
    assert (await jupyter(jp_fetch, "GET", "kernels", kid, user="bob"))[0] == 200
    assert (await jupyter(jp_fetch, "GET", "kernels", kid, user="dave"))[0] == 403

    # the project's own session: a stranger can neither read it nor take it over by path
    _, sessions = await jupyter(jp_fetch, "GET", "sessions", user="alice")
    project_session = next(s for s in sessions if s["kernel"]["id"] == kid)
    sid = project_session["id"]
    assert (await jupyter(jp_fetch, "GET", "sessions", sid, user="dave"))[0] == 403
    assert (await jupyter(jp_fetch, "GET", "sessions", sid, user="bob"))[0] == 200
    same_path = {"path": project_session["path"], "type": "notebook"}
    for user in ("dave", "bob"):
        assert (await jupyter(jp_fetch, "POST", "sessions", user=user, body=same_path))[0] == 403
        assert (await jupyter(jp_fetch, "DELETE", "sessions", sid, user=user))[0] == 403
        patch = {"name": "taken"}
        assert (await jupyter(jp_fetch, "PATCH", "sessions", sid, user=user, body=patch))[0] == 403

    # attaching a notebook session to the project kernel: editors only
    attach = {"path": "notes.ipynb", "type": "notebook", "kernel": {"id": kid}}
    for user in ("dave", "bob"):
        status, _ = await jupyter(jp_fetch, "POST", "sessions", user=user, body=attach)
        assert status == 403, user
    status, created = await jupyter(jp_fetch, "POST", "sessions", user="carol", body=attach)
    assert status == 201, created
    assert created["kernel"]["id"] == kid

    # the channels websocket: editors only, and an editor really executes code
    assert await refused_socket(jp_ws_fetch, kid, "dave") == 403
    assert await refused_socket(jp_ws_fetch, kid, "bob") == 403
    ws = await channels(jp_ws_fetch, kid, "carol")
    try:
        assert await execute_over_channels(ws, "6 * 7", "carol") == "42"
    finally:
        ws.close()

    # interrupt, restart and shut down: editors only
    for user in ("dave", "bob"):
        for action in ("interrupt", "restart"):
            status, _ = await jupyter(jp_fetch, "POST", "kernels", kid, action, user=user)
            assert status == 403, (user, action)
        assert (await jupyter(jp_fetch, "DELETE", "kernels", kid, user=user))[0] == 403
    # "starting" a kernel by the project kernel's id hands it out: refused as well
    start_by_id = {"name": "python3", "kernel_id": kid}
    assert (await jupyter(jp_fetch, "POST", "kernels", user="dave", body=start_by_id))[0] == 403
    assert kid in await kernel_ids(jp_fetch, "alice")  # nothing they tried stopped it
    assert (await jupyter(jp_fetch, "POST", "kernels", kid, "interrupt", user="carol"))[0] == 204
    assert (await jupyter(jp_fetch, "POST", "kernels", kid, "restart", user="carol"))[0] == 200
    assert (await jupyter(jp_fetch, "DELETE", "kernels", kid, user="carol"))[0] == 204
    assert kid not in await kernel_ids(jp_fetch, "alice")

    # our own API still works for the members, as before
    assert (await api("GET", f"projects/{pid}/kernel", user="bob")).status == 200
    assert (await api("GET", f"projects/{pid}/kernel", user="dave")).status == 404


async def test_own_kernels_and_sessions_stay_with_their_starter(api, jp_fetch, jp_ws_fetch):
    status, mine = await jupyter(jp_fetch, "POST", "kernels", user="dave", body={"name": "python3"})
    assert status == 201, mine
    kid = mine["id"]
    assert await kernel_ids(jp_fetch, "dave") == {kid}
    assert kid not in await kernel_ids(jp_fetch, "alice")
    assert kid in await kernel_ids(jp_fetch, "root")  # admins see everything
    assert (await jupyter(jp_fetch, "GET", "kernels", kid, user="alice"))[0] == 403
    assert await refused_socket(jp_ws_fetch, kid, "alice") == 403
    assert (await jupyter(jp_fetch, "POST", "kernels", kid, "interrupt", user="alice"))[0] == 403
    assert (await jupyter(jp_fetch, "DELETE", "kernels", kid, user="alice"))[0] == 403
    attach = {"path": "stolen.ipynb", "type": "notebook", "kernel": {"id": kid}}
    assert (await jupyter(jp_fetch, "POST", "sessions", user="alice", body=attach))[0] == 403
    ws = await channels(jp_ws_fetch, kid, "dave")
    try:
        assert await execute_over_channels(ws, "'mine'", "dave") == "'mine'"
    finally:
        ws.close()

    # a session that starts its own kernel belongs to its starter too
    body = {"path": "carol.ipynb", "type": "notebook", "kernel": {"name": "python3"}}
    status, session = await jupyter(jp_fetch, "POST", "sessions", user="carol", body=body)
    assert status == 201, session
    sid, skid = session["id"], session["kernel"]["id"]
    assert skid in await session_kernels(jp_fetch, "carol")
    assert skid not in await session_kernels(jp_fetch, "dave")
    assert (await jupyter(jp_fetch, "GET", "sessions", sid, user="dave"))[0] == 403
    assert (await jupyter(jp_fetch, "DELETE", "sessions", sid, user="dave"))[0] == 403
    assert (await jupyter(jp_fetch, "DELETE", "sessions", sid, user="carol"))[0] == 204
    assert (await jupyter(jp_fetch, "DELETE", "kernels", kid, user="dave"))[0] == 204
    # a kernel that does not exist is the handler's 404, whoever asks
    missing = str(uuid.uuid4())
    assert (await jupyter(jp_fetch, "GET", "kernels", missing, user="alice"))[0] == 404


@pytest.mark.parametrize("extension_config", [{"single_user": True}])
async def test_single_user_mode_is_unchanged(api, jp_fetch, extension_config):
    pid = await make_project(api, "solo")
    kid = (await api("POST", f"projects/{pid}/kernel")).body["kernel_id"]
    status, other = await jupyter(jp_fetch, "POST", "kernels", user="bob", body={"name": "python3"})
    assert status == 201, other
    # every caller is the one local user: everyone sees and controls every kernel
    assert {kid, other["id"]} <= await kernel_ids(jp_fetch, "dave")
    assert (await jupyter(jp_fetch, "POST", "kernels", kid, "interrupt", user="dave"))[0] == 204
    assert (await jupyter(jp_fetch, "DELETE", "kernels", other["id"], user="dave"))[0] == 204
