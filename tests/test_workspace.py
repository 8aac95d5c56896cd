"""GET .../workspace (blocks with states, reasons and last runs, edges, kernel, in a
constant number of SQL statements) and POST .../kernel (start the project kernel)."""

from __future__ import annotations

import asyncio
import json

import nbformat
from conftest import make_project
from sqlalchemy import event


def services(jp_serverapp):
    (app,) = jp_serverapp.extension_manager.extension_apps["ai_notebook_ext"]
    return app.services


async def workspace(api, pid, user="alice"):
    r = await api("GET", f"projects/{pid}/workspace", user=user)
    assert r.status == 200, r.body
    return r.body


def by_id(ws):
    return {b["id"]: b for b in ws["blocks"]}


async def add(api, pid, source, kind="code"):
    r = await api("POST", f"projects/{pid}/blocks", json_body={"source": source, "kind": kind})
    assert r.status == 201, r.body
    return r.body["id"]


async def test_states_reasons_and_last_runs(api):
    pid = await make_project(api, carol="viewer")
    a = await add(api, pid, "x = 1")
    b = await add(api, pid, "y = x + 1\nprint(y)")
    md = await add(api, pid, "# notes", kind="markdown")
    c = await add(api, pid, "z = y * 2")
    d = await add(api, pid, "w = 5")
    ws = await workspace(api, pid, user="carol")
    assert ws["role"] == "viewer"
    assert ws["project"]["id"] == pid
    assert ws["project"]["role"] == "viewer"
    assert [blk["id"] for blk in ws["blocks"]] == [a, b, md, c, d]
    assert {blk["id"]: blk["state"] for blk in ws["blocks"]} == {
        a: "never-run",
        b: "never-run",
        md: None,
        c: "never-run",
        d: "never-run",
    }
    assert ws["kernel"]["state"] == "not_started"
    dag = (await api("GET", f"projects/{pid}/dag")).body
    assert ws["edges"] == dag["edges"]

    r = await api(
        "POST", f"projects/{pid}/runs", json_body={"target": "all"}, params={"wait": "true"}
    )
    assert r.body["status"] == "succeeded", r.body
    ws = await workspace(api, pid)
    blocks = by_id(ws)
    assert {i: blocks[i]["state"] for i in (a, b, c, d)} == dict.fromkeys((a, b, c, d), "fresh")
    assert blocks[b]["last_run"]["outputs"][0]["text"] == "2\n"
    assert blocks[b]["last_run"]["id"] == blocks[b]["last_run_id"]
    assert blocks[md]["last_run"] is None
    assert blocks[a]["stale_reason"] is None
    assert ws["kernel"]["kernel_id"]
    assert ws["kernel_generation"] == ws["kernel"]["generation"]

    r = await api(
        "PATCH", f"projects/{pid}/blocks/{a}", json_body={"version": 1, "source": "x = 10"}
    )
    assert r.status == 200
    blocks = by_id(await workspace(api, pid))
    assert blocks[a]["state"] == "stale"
    assert blocks[a]["stale_reason"] == "its code changed since it last ran"
    assert blocks[b]["state"] == "stale"
    assert blocks[b]["stale_reason"] == f"upstream is not fresh: block {a} “x = 10” (x)"
    assert f"block {b} “y = x + 1” (y)" in blocks[c]["stale_reason"]
    assert blocks[d]["state"] == "fresh"

    # failed, then skipped: a pipeline whose upstream block fails
    e = await add(api, pid, "g_out = 1\nraise ValueError('boom')")
    f = await add(api, pid, "print(g_out)")
    r = await api(
        "POST",
        f"projects/{pid}/runs",
        json_body={"target": "blocks", "block_ids": [f]},
        params={"wait": "true"},
    )
    assert r.body["status"] == "failed", r.body
    blocks = by_id(await workspace(api, pid))
    assert blocks[e]["state"] == "failed"
    assert blocks[f]["state"] == "skipped"
    assert blocks[f]["last_run"] is None
    # Once the failing block is fixed and run again, the skip is history: plain DAG state
    r = await api(
        "PATCH",
        f"projects/{pid}/blocks/{e}",
        json_body={"version": blocks[e]["version"], "source": "g_out = 1"},
    )
    assert r.status == 200, r.body
    r = await api("POST", f"projects/{pid}/blocks/{e}/execute", params={"wait": "true"})
    assert r.body["status"] == "succeeded", r.body
    blocks = by_id(await workspace(api, pid))
    assert blocks[e]["state"] == "fresh"
    assert blocks[f]["state"] == "never-run"

    # running and queued
    slow = await add(api, pid, "import time\ntime.sleep(1.5)")
    runs = []
    for block in (slow, d):
        r = await api("POST", f"projects/{pid}/blocks/{block}/execute")
        assert r.status == 202, r.body
        runs.append(r.body["id"])
    # The first may wait in the queue a moment (the failed pipeline's request sent ahead
    # is drained first): read the workspace once it began.
    for _ in range(50):
        if (await api("GET", f"projects/{pid}/runs/{runs[0]}")).body["status"] == "running":
            break
        await asyncio.sleep(0.05)
    blocks = by_id(await workspace(api, pid))
    assert blocks[slow]["state"] == "running"
    assert blocks[d]["state"] == "queued"
    for run_id in runs:
        for _ in range(100):
            if (await api("GET", f"projects/{pid}/runs/{run_id}")).body["status"] == "succeeded":
                break
            await asyncio.sleep(0.1)

    # a restart makes everything stale, saying why
    assert (await api("POST", f"projects/{pid}/kernel/restart")).status == 200
    blocks = by_id(await workspace(api, pid))
    assert blocks[d]["state"] == "stale"
    assert "kernel" in blocks[d]["stale_reason"]
    assert (await api("GET", f"projects/{pid}/workspace", user="dave")).status == 404


async def test_running_an_upstream_block_again_makes_its_dependents_stale(api):
    """As in marimo and ipyflow: the dependents read (and may have changed) values the
    upstream block has just rebuilt, even when its code is the same."""
    pid = await make_project(api)
    a = await add(api, pid, "x = [1]")
    b = await add(api, pid, "x.append(2)\ny = len(x)")
    c = await add(api, pid, "z = y * 2")
    d = await add(api, pid, "w = 5")
    r = await api(
        "POST", f"projects/{pid}/runs", json_body={"target": "all"}, params={"wait": "true"}
    )
    assert r.body["status"] == "succeeded", r.body
    r = await api("POST", f"projects/{pid}/blocks/{a}/execute", params={"wait": "true"})
    assert r.body["status"] == "succeeded", r.body
    blocks = by_id(await workspace(api, pid))
    states = {i: blocks[i]["state"] for i in (a, b, c, d)}
    assert states == {a: "fresh", b: "stale", c: "stale", d: "fresh"}
    assert blocks[b]["stale_reason"] == f"upstream ran again after it: block {a} “x = [1]” (x)"
    assert blocks[c]["stale_reason"].startswith(f"upstream is not fresh: block {b}")
    dag = {n["block_id"]: n for n in (await api("GET", f"projects/{pid}/dag")).body["nodes"]}
    assert {i: dag[i]["state"] for i in (a, b, c, d)} == states
    assert dag[b]["stale_reason"] == blocks[b]["stale_reason"]
    assert dag[a]["stale_reason"] is None

    # "Run stale" runs the dependents again, and all is fresh.
    r = await api(
        "POST", f"projects/{pid}/runs", json_body={"target": "stale"}, params={"wait": "true"}
    )
    assert r.body["status"] == "succeeded", r.body
    assert sorted(x["block_id"] for x in r.body["results"] if x["status"] == "succeeded") == sorted(
        [b, c]
    )
    blocks = by_id(await workspace(api, pid))
    assert {blocks[i]["state"] for i in (a, b, c, d)} == {"fresh"}


def notebook(cells: int) -> dict:
    nb = nbformat.v4.new_notebook()
    for i in range(cells):
        nb.cells.append(nbformat.v4.new_markdown_cell(f"## step {i}"))
        code = f"v{i} = v{i - 1} + 1\nprint(v{i})" if i else "v0 = 0\nprint(v0)"
        out = nbformat.v4.new_output("stream", name="stdout", text=f"{i}\n")
        nb.cells.append(nbformat.v4.new_code_cell(code, outputs=[out], execution_count=i + 1))
    return json.loads(nbformat.writes(nb))


async def imported(api, cells):
    r = await api("POST", "projects/import", json_body={"notebook": notebook(cells), "name": "big"})
    assert r.status == 201, r.body
    return r.body["id"]


async def test_query_count_does_not_grow_with_blocks(api, jp_serverapp):
    db = services(jp_serverapp).db
    engine = db.sync_engine if db.sync_engine is not None else db.engine.sync_engine
    small, big = await imported(api, 5), await imported(api, 500)
    counts = {}
    for pid in (small, big, small):
        await workspace(api, pid)  # warm: user row, analysis caches
        statements = []

        def count(conn, cursor, statement, *args, _seen=statements):
            _seen.append(statement)

        event.listen(engine, "before_cursor_execute", count)
        try:
            await workspace(api, pid)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        counts[pid] = len(statements)
    assert counts[small] == counts[big], counts
    assert counts[big] <= 15, counts
    blocks = (await workspace(api, big))["blocks"]
    code = [b for b in blocks if b["kind"] == "code"]
    assert len(blocks) == 1000
    assert len(code) == 500
    assert all(b["state"] is None for b in blocks if b["kind"] == "markdown")
    # imported outputs are never fresh: no kernel of ours made them
    assert {b["state"] for b in code} == {"stale"}
    assert code[499]["last_run"]["outputs"][0]["text"] == "499\n"
    assert "no kernel is running" in code[0]["stale_reason"]
    assert len([e for e in (await workspace(api, big))["edges"] if e["kind"] == "inferred"]) == 499


async def test_starting_the_kernel(api, jp_fetch):
    pid = await make_project(api, bob="editor", carol="viewer")
    assert (await api("POST", f"projects/{pid}/kernel", user="carol")).status == 403
    assert (await api("POST", f"projects/{pid}/kernel", user="dave")).status == 404
    assert (await api("GET", f"projects/{pid}/kernel")).body["kernel_id"] is None
    r = await api("POST", f"projects/{pid}/kernel", user="bob")
    assert r.status == 200, r.body
    kernel_id = r.body["kernel_id"]
    assert kernel_id
    assert r.body["state"] in ("idle", "busy")
    assert r.body["generation"] == 1
    r = await jp_fetch("api", "kernels", headers={"Authorization": "token token-alice"})
    listed = json.loads(r.body)
    assert kernel_id in [k["id"] for k in listed]
    again = await api("POST", f"projects/{pid}/kernel", user="bob")
    assert again.body["kernel_id"] == kernel_id
    assert again.body["generation"] == 1
    # the project's runs use that kernel
    bid = await add(api, pid, "import os\nprint(os.getpid())")
    r = await api("POST", f"projects/{pid}/blocks/{bid}/execute", params={"wait": "true"})
    assert r.body["kernel_generation"] == 1


async def test_blank_blocks_hold_nothing_and_never_run(api):
    """As in JupyterLab, where an empty cell is never sent to the kernel."""
    pid = await make_project(api)
    blank = await add(api, pid, "  \n")
    r = await api(
        "POST", f"projects/{pid}/runs", json_body={"target": "all"}, params={"wait": "true"}
    )
    assert r.status in (200, 201), r.body
    assert r.body["status"] == "succeeded", r.body
    assert r.body["results"] == []
    a = await add(api, pid, "x = 1")
    r = await api(
        "POST", f"projects/{pid}/runs", json_body={"target": "stale"}, params={"wait": "true"}
    )
    assert [x["block_id"] for x in r.body["results"]] == [a]
    blocks = by_id(await workspace(api, pid))
    assert blocks[blank]["state"] == "fresh"
    assert blocks[blank]["last_run"] is None
