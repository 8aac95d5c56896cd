"""DAG API: nodes, inferred and explicit edges, cycles, and staleness against a real kernel."""

from __future__ import annotations

import pytest
from conftest import make_project


@pytest.fixture
def extension_config():
    return {"default_timeout": 60}


async def add_blocks(api, pid, *sources, kind="code"):
    specs = [{"source": s, "kind": kind} for s in sources]
    r = await api("POST", f"projects/{pid}/blocks/bulk", json_body={"blocks": specs})
    assert r.status == 201, r.body
    return [b["id"] for b in r.body["items"]]


async def dag(api, pid, user="alice"):
    r = await api("GET", f"projects/{pid}/dag", user=user)
    assert r.status == 200, r.body
    return r.body


def node(body, bid):
    (found,) = [n for n in body["nodes"] if n["block_id"] == bid]
    return found


def inferred(body):
    edges = body["edges"]
    return {(e["source"], e["target"]): e["names"] for e in edges if e["kind"] == "inferred"}


def states(body):
    return {n["block_id"]: n["state"] for n in body["nodes"]}


async def run(api, pid, bid):
    r = await api("POST", f"projects/{pid}/blocks/{bid}/execute", params={"wait": "true"})
    assert r.status == 200, r.body
    return r.body


async def edit(api, pid, bid, source):
    r = await api("GET", f"projects/{pid}/blocks/{bid}")
    version = r.body["version"]
    r = await api(
        "PATCH", f"projects/{pid}/blocks/{bid}", json_body={"version": version, "source": source}
    )
    assert r.status == 200, r.body


async def test_dag_nodes_edges_unresolved_and_errors(api):
    pid = await make_project(api, bob="viewer")
    a, b, md, c, d = [
        *(await add_blocks(api, pid, "import math\nx = 41", "y = x + math.pi")),
        *(await add_blocks(api, pid, "# notes", kind="markdown")),
        *(await add_blocks(api, pid, "df['col'] = y\nprint(missing)", "z = = 1")),
    ]
    body = await dag(api, pid, user="bob")  # viewers read the DAG
    assert [n["block_id"] for n in body["nodes"]] == [a, b, c, d]  # markdown is not a node
    assert inferred(body) == {(a, b): ["math", "x"], (b, c): ["y"]}
    assert node(body, a)["defines"] == ["math", "x"]
    assert node(body, b)["references"] == ["math", "x"]
    assert node(body, c)["mutates"] == ["df"]
    assert node(body, c)["unresolved"] == ["missing"]
    assert node(body, d)["error"].startswith("SyntaxError")
    assert set(states(body).values()) == {"never-run"}
    assert body["kernel_generation"] is None
    assert body["ignored_edges"] == []
    assert len({n["fingerprint"] for n in body["nodes"]}) == 4
    assert md not in states(body)


async def test_dag_of_a_project_you_cannot_see_is_404(api):
    pid = await make_project(api)
    r = await api("GET", f"projects/{pid}/dag", user="carol")
    assert r.status == 404
    r = await api("GET", "projects/999999/dag")
    assert r.status == 404


async def test_explicit_edges_add_remove_and_refuse_cycles(api):
    pid = await make_project(api, bob="viewer")
    a, b, c = await add_blocks(api, pid, "a = 1", "b = a", "c = 3")
    md = (await add_blocks(api, pid, "text", kind="markdown"))[0]

    r = await api("POST", f"projects/{pid}/edges", json_body={"source": c, "target": a})
    assert r.status == 201, r.body
    edge = r.body
    assert (edge["source"], edge["target"]) == (c, a)
    body = await dag(api, pid)
    explicit = [e for e in body["edges"] if e["kind"] == "explicit"]
    expected = {"source": c, "target": a, "kind": "explicit", "names": [], "id": edge["id"]}
    assert explicit == [expected]

    # b -> c closes b -> c -> a -> b: refused, naming the blocks, and nothing is stored.
    r = await api("POST", f"projects/{pid}/edges", json_body={"source": b, "target": c})
    assert r.status == 409, r.body
    cycle = r.error["details"]["cycle"]
    assert cycle[0] == cycle[-1]
    assert set(cycle) == {a, b, c}
    assert "cycle" in r.error["message"]
    assert len([e for e in (await dag(api, pid))["edges"] if e["kind"] == "explicit"]) == 1

    r = await api("POST", f"projects/{pid}/edges", json_body={"source": c, "target": a})
    assert r.status == 409  # exists
    r = await api("POST", f"projects/{pid}/edges", json_body={"source": a, "target": a})
    assert r.status == 409  # a self-loop is a cycle
    r = await api("POST", f"projects/{pid}/edges", json_body={"source": a, "target": md})
    assert r.status == 400
    assert r.error["details"]["field"] == "target"
    r = await api("POST", f"projects/{pid}/edges", json_body={"source": a, "target": 99999})
    assert r.status == 404
    r = await api("POST", f"projects/{pid}/edges", json_body={"source": a})
    assert r.status == 400
    r = await api("POST", f"projects/{pid}/edges", json_body={"source": "1", "target": b})
    assert r.status == 400
    r = await api("POST", f"projects/{pid}/edges", user="bob", json_body={"source": a, "target": c})
    assert r.status == 403

    r = await api("DELETE", f"projects/{pid}/edges/{edge['id']}", user="bob")
    assert r.status == 403
    r = await api("DELETE", f"projects/{pid}/edges/{edge['id']}")
    assert r.status == 204
    r = await api("DELETE", f"projects/{pid}/edges/{edge['id']}")
    assert r.status == 404
    assert [e for e in (await dag(api, pid))["edges"] if e["kind"] == "explicit"] == []


async def test_an_edge_made_cyclic_by_a_move_is_reported_not_fatal(api):
    pid = await make_project(api)
    a, b = await add_blocks(api, pid, "x = 1", "y = 2")
    r = await api("POST", f"projects/{pid}/edges", json_body={"source": b, "target": a})
    assert r.status == 201
    # Now make a define what b reads: the inferred a -> b closes a cycle with b -> a.
    await edit(api, pid, b, "y = x")
    body = await dag(api, pid)
    assert inferred(body) == {(a, b): ["x"]}
    assert [(e["source"], e["target"]) for e in body["ignored_edges"]] == [(b, a)]
    assert set(body["ignored_edges"][0]["cycle"]) == {a, b}


async def test_staleness_follows_edits_runs_and_kernel_restarts(api):
    pid = await make_project(api)
    a, b, c, d = await add_blocks(api, pid, "x = 1", "y = x + 1", "z = y * 2", "w = 7")
    for bid in (a, b, c, d):
        assert (await run(api, pid, bid))["status"] == "succeeded"
    body = await dag(api, pid)
    assert states(body) == {a: "fresh", b: "fresh", c: "fresh", d: "fresh"}
    assert body["kernel_generation"] == 1

    # A comment-only edit changes nothing; a real edit makes the block and its
    # descendants stale, and leaves the independent block fresh.
    await edit(api, pid, b, "y = x + 1  # the same code")
    assert set(states(await dag(api, pid)).values()) == {"fresh"}
    await edit(api, pid, b, "y = x + 2")
    assert states(await dag(api, pid)) == {a: "fresh", b: "stale", c: "stale", d: "fresh"}

    # Re-running the edited block makes it fresh; its descendant stays stale until it runs.
    await run(api, pid, b)
    assert states(await dag(api, pid)) == {a: "fresh", b: "fresh", c: "stale", d: "fresh"}
    await run(api, pid, c)
    assert set(states(await dag(api, pid)).values()) == {"fresh"}

    # A failing run marks the block failed, and its descendants are not fresh.
    await edit(api, pid, a, "x = 1 / 0")
    assert (await run(api, pid, a))["status"] == "failed"
    st = states(await dag(api, pid))
    assert st[a] == "failed"
    assert st[b] == st[c] == "stale"
    assert st[d] == "fresh"

    # A restarted kernel lost everything: nothing is fresh.
    await edit(api, pid, a, "x = 1")
    await run(api, pid, a)
    r = await api("POST", f"projects/{pid}/kernel/restart")
    assert r.status == 200, r.body
    body = await dag(api, pid)
    assert body["kernel_generation"] == 2
    assert states(body) == {a: "stale", b: "stale", c: "stale", d: "stale"}
    assert (await run(api, pid, d))["status"] == "succeeded"
    assert states(await dag(api, pid))[d] == "fresh"


async def test_runs_record_the_fingerprint_they_ran_with(api):
    pid = await make_project(api)
    a, b = await add_blocks(api, pid, "x = 1", "y = x")
    first = await run(api, pid, a)
    assert first["fingerprint"] == node(await dag(api, pid), a)["fingerprint"]
    r = await api("GET", f"projects/{pid}/runs/{first['id']}")
    assert r.body["fingerprint"] == first["fingerprint"]
    await edit(api, pid, a, "x = 2")
    second = await run(api, pid, a)
    assert second["fingerprint"] != first["fingerprint"]
    assert node(await dag(api, pid), b)["state"] == "never-run"


async def test_a_block_that_read_a_name_another_block_replaced_is_stale(api):
    """Two blocks assign ``df``: a reader run after the second one read the second one's
    value, so it is stale, and a stale pipeline runs the first one again before it."""
    pid = await make_project(api)
    first, reader, second = await add_blocks(api, pid, "df = 'a'", "n = len(df)", "df = 'bb'")
    for bid in (first, reader, second):
        assert (await run(api, pid, bid))["status"] == "succeeded"
    assert set(states(await dag(api, pid)).values()) == {"fresh"}

    await run(api, pid, reader)  # reads block 3's df now
    body = await dag(api, pid)
    assert states(body) == {first: "fresh", reader: "stale", second: "fresh"}
    assert node(body, reader)["stale_reason"].startswith(
        f"it read df after block {second} “df = 'bb'” replaced the value of block {first}"
    )
    r = await api("GET", f"projects/{pid}/workspace")
    (block,) = [b for b in r.body["blocks"] if b["id"] == reader]
    assert block["state"] == "stale"
    assert block["stale_reason"] == node(body, reader)["stale_reason"]

    r = await api(
        "POST", f"projects/{pid}/runs", json_body={"target": "stale"}, params={"wait": "true"}
    )
    assert r.status == 200, r.body
    assert [x["block_id"] for x in r.body["results"]] == [first, reader]
    assert r.body["results"][0]["reason"] == (
        f"needed by block {reader} (its df was replaced by block {second})"
    )
    assert set(states(await dag(api, pid)).values()) == {"fresh"}
    check = (await add_blocks(api, pid, "print(n)"))[0]
    assert (await run(api, pid, check))["outputs"][0]["text"] == "1\n"
