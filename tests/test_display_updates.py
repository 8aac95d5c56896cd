"""A display shown by one block and updated from a later block: the earlier block's stored
run, the workspace and the members' event stream all show the update (as JupyterLab and
nbclient do), in a real kernel through the REST API and the project socket."""

from __future__ import annotations

import base64

from conftest import make_project
from ws_events import connect, until

PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
    )
).decode()


async def blocks(api, pid, *sources):
    specs = [{"source": s} for s in sources]
    r = await api("POST", f"projects/{pid}/blocks/bulk", json_body={"blocks": specs})
    assert r.status == 201, r.body
    return [b["id"] for b in r.body["items"]]


async def run(api, pid, bid):
    r = await api("POST", f"projects/{pid}/blocks/{bid}/execute", params={"wait": "true"})
    assert r.status == 200, r.body
    assert r.body["status"] == "succeeded", r.body
    return r.body


async def stored(api, pid, run_id):
    r = await api("GET", f"projects/{pid}/runs/{run_id}")
    assert r.status == 200, r.body
    return r.body["outputs"]


async def test_a_later_block_updates_an_earlier_blocks_display(api, jp_ws_fetch, jp_fetch):
    pid = await make_project(api, bob="viewer")
    ws, _ = await connect(jp_ws_fetch, pid, "bob")
    shows, updates, shows_again = await blocks(
        api,
        pid,
        'print("above")\nh = display({"text/plain": "v1"}, raw=True, display_id="shared")',
        f'h.update({{"text/plain": "v2", "image/png": "{PNG}"}}, raw=True)',
        'h3 = display({"text/plain": "v3"}, raw=True, display_id="shared")',
    )
    first = await run(api, pid, shows)
    assert first["outputs"][1]["data"] == {"text/plain": "v1"}
    second = await run(api, pid, updates)
    assert second["outputs"] == []  # an update shows nothing where it runs

    # stored before the updating run's end was announced
    (above, shown) = await stored(api, pid, first["id"])
    assert above == {"output_type": "stream", "name": "stdout", "text": "above\n"}
    assert shown["data"] == {"text/plain": "v2"}  # the image went to an artifact
    ref = shown["artifacts"]["image/png"]
    r = await jp_fetch(
        "ai-notebook",
        "api",
        "projects",
        str(pid),
        "artifacts",
        ref["id"],
        headers={"Authorization": "token token-alice"},
    )
    assert r.body == base64.b64decode(PNG)
    event = await until(ws, "run-output", run_id=first["id"], updated_by=second["id"])
    assert event["block_id"] == shows
    assert event["outputs"][1]["data"] == {"text/plain": "v2"}
    assert event["outputs"][1]["artifacts"]["image/png"]["id"] == ref["id"]

    # a new display with the same id updates the earlier one as well, and shows itself
    third = await run(api, pid, shows_again)
    assert third["outputs"] == [
        {"output_type": "display_data", "data": {"text/plain": "v3"}, "metadata": {}}
    ]
    assert (await stored(api, pid, first["id"]))[1]["data"] == {"text/plain": "v3"}
    r = await api("GET", f"projects/{pid}/workspace", user="bob")
    last_runs = {b["id"]: b["last_run"] for b in r.body["blocks"]}
    assert last_runs[shows]["outputs"][1]["data"] == {"text/plain": "v3"}

    # once the block ran again, its earlier run is no longer what it shows
    rerun = await run(api, pid, shows)
    await run(api, pid, updates)
    assert (await stored(api, pid, rerun["id"]))[1]["data"] == {"text/plain": "v2"}
    assert (await stored(api, pid, first["id"]))[1]["data"] == {"text/plain": "v3"}
    # ... and the block that showed the id itself is updated too (nbclient does so)
    assert (await stored(api, pid, third["id"]))[0]["data"] == {"text/plain": "v2"}


async def test_a_cleared_display_is_not_updated_later(api, jp_ws_fetch):
    """nbclient's "Clear Output" notebook: a display cleared by clear_output(wait=True)
    and a later output is gone; updating its handle afterwards changes nothing. Many
    updates in a row end with the last one stored and announced."""
    pid = await make_project(api)
    ws, _ = await connect(jp_ws_fetch, pid, "alice")
    cleared, updates, progress, loop = await blocks(
        api,
        pid,
        'from IPython.display import clear_output\nh4 = display("Hello", display_id="id4")\n'
        'clear_output(wait=True)\nprint("world", end="")',
        'h4.update("Hello world")',
        'bar = display("0 %", display_id="bar")',
        'for i in range(1, 301):\n    bar.update(f"{i // 3} %")',
    )
    first = await run(api, pid, cleared)
    expected = [{"output_type": "stream", "name": "stdout", "text": "world"}]
    assert first["outputs"] == expected
    await run(api, pid, updates)
    assert await stored(api, pid, first["id"]) == expected

    shown = await run(api, pid, progress)
    looped = await run(api, pid, loop)
    assert (await stored(api, pid, shown["id"]))[0]["data"] == {"text/plain": "'100 %'"}
    seen = []
    while not seen or seen[-1]["outputs"][0]["data"] != {"text/plain": "'100 %'"}:
        seen.append(await until(ws, "run-output", run_id=shown["id"], updated_by=looped["id"]))
    assert [e["seq"] for e in seen] == sorted({e["seq"] for e in seen})
