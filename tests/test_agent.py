"""The AI agent over REST, with scripted models speaking each provider's wire protocol:
complete tasks (fix a failing block; a data task over an uploaded CSV), approvals,
cancel, fallback, malformed calls, the step limit, a viewer's agent, the API's edges."""

from __future__ import annotations

import asyncio
import json

import pytest
from agent_script import Model, events_of, system_text, tool_results
from ai_server import ScriptedServer, Step
from conftest import make_project

PROTOCOLS = [f"{p}-{how}" for p in ("openai", "gemini", "ollama") for how in ("stream", "whole")]


@pytest.fixture
def protocol(request):
    return getattr(request, "param", "openai-stream")


@pytest.fixture
def upstreams():
    with ScriptedServer() as main, ScriptedServer() as backup:
        yield main, backup


@pytest.fixture
def extension_config(upstreams, protocol, monkeypatch):
    main, backup = upstreams
    provider, how = protocol.split("-")
    return {
        "openai_api_key": "sk-agent",
        "openai_base_url": main.url + "/v1",
        "gemini_api_key": "g-agent",
        "gemini_base_url": main.url,
        "ollama_host": main.url if provider == "ollama" else backup.url,
        "ai_default_model": f"{provider}:test-model",
        "ai_fallback": [] if provider == "ollama" else ["ollama:backup-model"],
        "ai_retries": 0,
        "ai_rate_per_minute": 6000,
        "agent_stream": how == "stream",
    }


@pytest.fixture
def server(upstreams):
    return upstreams[0]


@pytest.fixture
def model(protocol):
    provider, how = protocol.split("-")
    return Model(provider, how == "stream")


async def converse(api, pid, mode="full", user="alice", **extra):
    r = await api(
        "POST",
        f"projects/{pid}/agent/conversations",
        user=user,
        json_body={"mode": mode, **extra},
    )
    assert r.status == 201, r.body
    return r.body["id"]


async def say(api, pid, cid, text, user="alice"):
    r = await api(
        "POST",
        f"projects/{pid}/agent/conversations/{cid}/messages",
        user=user,
        json_body={"content": text},
    )
    assert r.status == 200, r.raw
    assert r.headers["Content-Type"] == "application/x-ndjson"
    return events_of(r.raw)


def of_type(events, kind):
    return [e for e in events if e["type"] == kind]


def services_of(jp_serverapp):
    (app,) = jp_serverapp.extension_manager.extension_apps["ai_notebook_ext"]
    return app.services


@pytest.mark.parametrize("protocol", PROTOCOLS, indirect=True)
async def test_fixes_a_failing_block_and_answers(api, server, model, protocol, jp_serverapp):
    provider = protocol.split("-")[0]
    pid = await make_project(api)
    cid = await converse(api, pid)
    seen = {}

    def run_created(body):
        seen["block"] = tool_results(provider, body)[-1]["id"]
        return model.calls(("run_block", {"block_id": seen["block"]}))

    def fix(body):
        failed = tool_results(provider, body)[-1]
        assert failed["status"] == "failed"
        assert failed["error"]["ename"] == "NameError"
        assert "missing" in failed["error"]["traceback"]
        new = "missing = 1\ntotal = 1 + missing\nprint(total)"
        return model.calls(
            ("update_block", {"block_id": seen["block"], "source": new, "version": 1})
        )

    server.script(
        model.calls(("create_block", {"source": "total = 1 + missing\nprint(total)"})),
        run_created,
        fix,
        lambda body: model.calls(("run_block", {"block_id": seen["block"]})),
        lambda body: model.answer(f"Fixed: total is {tool_results(provider, body)[-1]['output']}."),
    )
    events = await say(api, pid, cid, "Add up 1 and missing, fix whatever fails")
    done = events[-1]
    assert done["type"] == "done", events
    assert done["status"] == "answered", events
    assert done["steps"] == 5
    assert done["usage"] == {"input_tokens": 500, "output_tokens": 100}
    names = [e["name"] for e in of_type(events, "tool_call")]
    assert names == ["create_block", "run_block", "update_block", "run_block"]
    results = of_type(events, "tool_result")
    assert results[1]["result"]["status"] == "failed"
    assert results[3]["result"]["status"] == "succeeded"
    assert results[2]["change"]["before"].startswith("total = 1 + missing")
    assert "".join(e["text"] for e in of_type(events, "text")) == "Fixed: total is 2."
    assert {e["conversation_id"] for e in events} == {cid}
    # The model saw the project in its system prompt and every tool result.
    first = server.requests[0]["body"]
    assert "no blocks yet" in system_text(provider, first)
    assert len(server.requests) == 5
    # The block is fixed, through the same services as the REST API.
    r = await api("GET", f"projects/{pid}/blocks/{seen['block']}")
    assert r.body["source"].startswith("missing = 1")
    assert r.body["version"] == 2
    # The conversation is stored with its tool calls, results and the answering model.
    r = await api("GET", f"projects/{pid}/agent/conversations/{cid}")
    assert r.status == 200
    conv = r.body
    assert conv["state"] == "idle"
    assert conv["turns"] == 1
    assert conv["tokens_in"] == 500
    roles = [m["role"] for m in conv["messages"]]
    assert roles == ["user"] + ["assistant", "tool"] * 4 + ["assistant"]
    assert conv["messages"][-1]["content"] == "Fixed: total is 2."
    assert conv["messages"][-1]["provider"] == provider
    assert conv["messages"][1]["tool_calls"][0]["name"] == "create_block"
    assert conv["messages"][6]["change"]["kind"] == "block_updated"
    assert conv["title"] == "Add up 1 and missing, fix whatever fails"
    # Analytics rows carry the conversation.
    from sqlalchemy import select

    from ai_notebook_ext.store.models import AICall

    db = services_of(jp_serverapp).db
    async with db.session() as session:
        tags = list(await session.scalars(select(AICall.conversation_id)))
    assert tags == [cid] * 5


async def test_a_data_task_over_an_uploaded_csv(api, server, model):
    pid = await make_project(api)
    csv = "date,region,revenue\n2026-01-05,north,10\n2026-01-20,south,5\n2026-02-03,north,7\n"
    r = await api("POST", f"projects/{pid}/datasets/upload", raw=csv, params={"name": "sales"})
    assert r.status in (200, 201), r.body
    cid = await converse(api, pid)
    load = (
        "import pandas as pd\nsales = ain.load('sales')\n"
        "sales['date'] = pd.to_datetime(sales['date'])"
    )
    plot = (
        "import matplotlib.pyplot as plt\n"
        "monthly = sales.groupby(sales['date'].dt.to_period('M'))['revenue'].sum()\n"
        "print(monthly.to_dict())\nmonthly.plot(kind='bar')\nplt.show()"
    )
    ids = {}

    def remember(key, then):
        def step(body):
            ids[key] = tool_results("openai", body)[-1]["id"]
            return then()

        return step

    server.script(
        model.calls(("list_datasets", {})),
        model.calls(("describe_dataset", {"dataset": "sales", "rows": 2})),
        model.calls(("create_block", {"source": load})),
        remember("load", lambda: model.calls(("run_block", {"block_id": ids["load"]}))),
        model.calls(("create_block", {"source": plot})),
        remember("plot", lambda: model.calls(("run_pipeline", {"target": "all"}))),
        lambda body: model.calls(("read_dag", {}), ("kernel_variables", {})),
        model.answer("Revenue by month is plotted."),
    )
    events = await say(api, pid, cid, "Load sales, clean the dates, plot revenue by month")
    assert events[-1]["status"] == "answered", events
    results = {e["name"]: e["result"] for e in of_type(events, "tool_result")}
    assert results["list_datasets"][0]["name"] == "sales"
    described = results["describe_dataset"]
    assert [c["name"] for c in described["columns"]] == ["date", "region", "revenue"]
    assert len(described["sample"]) == 2
    assert described["profile"]
    pipeline = results["run_pipeline"]
    assert pipeline["status"] == "succeeded", pipeline
    assert {b["block_id"] for b in pipeline["blocks"]} >= {ids["plot"]}
    dag = results["read_dag"]
    assert {n["block_id"]: n["state"] for n in dag["nodes"]} == {
        ids["load"]: "fresh",
        ids["plot"]: "fresh",
    }
    assert any(e["target"] == ids["plot"] for e in dag["edges"])
    variables = {v["name"]: v for v in results["kernel_variables"]["variables"]}
    assert variables["sales"]["shape"] == [3, 3]
    assert "datetime64" in variables["sales"]["dtypes"]["date"]
    # The next turn's system prompt knows the kernel's variables.
    server.script(model.answer("sales has 3 rows."))
    await say(api, pid, cid, "what is loaded?")
    system = system_text("openai", server.requests[-1]["body"])
    assert "Kernel variables:" in system
    assert "- sales: pandas.core.frame.DataFrame shape [3, 3] (date datetime64" in system
    # The plot block ran in the pipeline; its run has an image the tool refers to.
    r = await api("GET", f"projects/{pid}/runs", params={"block_id": ids["plot"]})
    run = r.body["items"][0]
    assert run["status"] == "succeeded"
    assert any(
        "image/png" in (o.get("data") or {}) or "image/png" in (o.get("artifacts") or {})
        for o in run["outputs"]
    ), run["outputs"]


async def test_ask_mode_waits_for_approval_and_obeys_it(api, server, model):
    pid = await make_project(api)
    cid = await converse(api, pid, mode="ask")
    server.script(
        model.calls(("create_block", {"source": "x = 41"})),
        model.answer("Created."),
        model.calls(("create_block", {"source": "y = 0"})),
        model.answer("Not created."),
    )
    for approve in (True, False):
        task = asyncio.ensure_future(say(api, pid, cid, "make a block"))
        pending = None
        for _ in range(200):
            r = await api("GET", f"projects/{pid}/agent/conversations/{cid}")
            pending = [a for a in r.body["approvals"] if a["status"] == "pending"]
            if pending:
                break
            await asyncio.sleep(0.05)
        assert pending, r.body
        assert r.body["state"] == "waiting"
        assert (
            "+x = 41" in pending[0]["preview"]["diff"] or "+y = 0" in pending[0]["preview"]["diff"]
        )
        r = await api(
            "POST",
            f"projects/{pid}/agent/approvals/{pending[0]['id']}",
            json_body={"approve": approve},
        )
        assert r.status == 200, r.body
        assert r.body["status"] == ("approved" if approve else "denied")
        events = await task
        assert events[-1]["status"] == "answered"
        required = of_type(events, "approval_required")
        assert required[0]["name"] == "create_block"
        assert of_type(events, "approval")[0]["approved"] is approve
        result = of_type(events, "tool_result")[0]
        assert result["is_error"] is (not approve)
        # deciding again is a conflict
        r = await api(
            "POST",
            f"projects/{pid}/agent/approvals/{pending[0]['id']}",
            json_body={"approve": True},
        )
        assert r.status == 409
    r = await api("GET", f"projects/{pid}/blocks")
    assert [b["source"] for b in r.body["items"]] == ["x = 41"]
    assert "denied" in tool_results("openai", server.requests[-1]["body"])[-1]["error"]


async def test_auto_mode_asks_only_for_destructive_actions(api, server, model):
    pid = await make_project(api)
    cid = await converse(api, pid, mode="auto")
    server.script(
        model.calls(("create_block", {"source": "a = 1"})),
        lambda body: model.calls(
            ("delete_block", {"block_id": tool_results("openai", body)[-1]["id"], "version": 1})
        ),
        model.answer("done"),
    )
    task = asyncio.ensure_future(say(api, pid, cid, "make then delete"))
    for _ in range(200):
        r = await api("GET", f"projects/{pid}/agent/conversations/{cid}")
        pending = [a for a in r.body["approvals"] if a["status"] == "pending"]
        if pending:
            break
        await asyncio.sleep(0.05)
    assert [a["tool_name"] for a in pending] == ["delete_block"]
    await api(
        "POST", f"projects/{pid}/agent/approvals/{pending[0]['id']}", json_body={"approve": False}
    )
    events = await task
    assert events[-1]["status"] == "answered"
    r = await api("GET", f"projects/{pid}/blocks")
    assert [b["source"] for b in r.body["items"]] == ["a = 1"]


async def test_cancel_mid_turn_interrupts_the_running_block(api, server, model):
    pid = await make_project(api)
    r = await api(
        "POST", f"projects/{pid}/blocks", json_body={"source": "import time\ntime.sleep(60)"}
    )
    bid = r.body["id"]
    cid = await converse(api, pid)
    server.script(model.calls(("run_block", {"block_id": bid}), ("list_blocks", {})))
    task = asyncio.ensure_future(say(api, pid, cid, "run it"))
    for _ in range(400):
        r = await api("GET", f"projects/{pid}/runs", params={"status": "running"})
        if r.body["items"]:
            break
        await asyncio.sleep(0.05)
    assert r.body["items"], "the block never started"
    r = await api("POST", f"projects/{pid}/agent/conversations/{cid}/cancel")
    assert r.status == 200, r.body
    assert r.body["state"] == "idle"
    events = await asyncio.wait_for(task, 30)
    assert events[-1]["status"] == "cancelled"
    for _ in range(200):  # the interrupt reaches the kernel soon after
        r = await api("GET", f"projects/{pid}/runs", params={"block_id": bid})
        if r.body["items"][0]["status"] != "running":
            break
        await asyncio.sleep(0.05)
    assert r.body["items"][0]["status"] in ("cancelled", "failed")
    r = await api("GET", f"projects/{pid}/agent/conversations/{cid}")
    tools = [m for m in r.body["messages"] if m["role"] == "tool"]
    assert all(m["is_error"] for m in tools)  # both calls answered: not run / cancelled
    assert r.body["messages"][-1]["status"] == "cancelled"
    # Nothing to cancel now; the next turn starts from a consistent history.
    r = await api("POST", f"projects/{pid}/agent/conversations/{cid}/cancel")
    assert r.status == 409
    server.script(model.answer("ok"))
    events = await say(api, pid, cid, "never mind")
    assert events[-1]["status"] == "answered"
    sent = server.requests[-1]["body"]["messages"]
    ids = {c["id"] for m in sent if m.get("tool_calls") for c in m["tool_calls"]}
    assert ids == {m["tool_call_id"] for m in sent if m["role"] == "tool"}


async def test_a_provider_failing_mid_turn_falls_back(api, upstreams, model):
    main, backup = upstreams
    pid = await make_project(api)
    cid = await converse(api, pid)
    main.script(model.calls(("list_blocks", {})), Step(500, {"error": {"message": "down"}}))
    backup.script(Model("ollama", True).answer("Nothing here yet."))
    events = await say(api, pid, cid, "what is in the project?")
    assert events[-1]["status"] == "answered", events
    usage = of_type(events, "usage")
    assert [u["provider"] for u in usage] == ["openai", "ollama"]
    assert usage[1]["skipped"][0]["model"] == "openai:test-model"
    r = await api("GET", f"projects/{pid}/agent/conversations/{cid}")
    assert r.body["messages"][-1]["provider"] == "ollama"
    # The backup got the whole history in its own format, the tool result included.
    sent = backup.requests[0]["body"]["messages"]
    assert sent[-1]["role"] == "tool"
    assert sent[-1]["tool_name"] == "list_blocks"


async def test_every_provider_failing_ends_the_turn_with_an_error(api, upstreams, model):
    main, backup = upstreams
    pid = await make_project(api)
    cid = await converse(api, pid)
    main.script(Step(500, {"error": {"message": "down"}}))
    backup.script(Step(500, {"error": "down too"}))
    events = await say(api, pid, cid, "hello")
    assert of_type(events, "error")[0]["kind"] == "unavailable"
    assert events[-1]["status"] == "error"
    r = await api("GET", f"projects/{pid}/agent/conversations/{cid}")
    assert r.body["state"] == "idle"


async def test_malformed_arguments_and_unknown_tools_are_errors_the_model_reads(api, server, model):
    pid = await make_project(api)
    cid = await converse(api, pid)
    server.script(
        model.calls(
            ("create_block", "{not json"),
            ("frobnicate", {}),
            ("read_block", {"block_id": "abc"}),
            ("create_block", {"source": "ok = 1", "colour": "red"}),
            ("read_block", {"block_id": 999}),
        ),
        model.answer("Sorry, corrected."),
    )
    events = await say(api, pid, cid, "go")
    assert events[-1]["status"] == "answered"
    results = of_type(events, "tool_result")
    assert all(r["is_error"] for r in results)
    errors = [r["result"]["error"] for r in results]
    assert "not valid JSON" in errors[0]
    assert "unknown tool 'frobnicate'" in errors[1]
    assert "block_id" in errors[2]
    assert "colour" in errors[3]
    assert "not found" in errors[4]
    fed_back = tool_results("openai", server.requests[1]["body"])
    assert [f["error"] for f in fed_back] == errors


async def test_the_step_limit_stops_the_turn(api, server, model, jp_serverapp):
    from dataclasses import replace

    agent = services_of(jp_serverapp).agent
    agent.limits = replace(agent.limits, max_steps=3)
    pid = await make_project(api)
    cid = await converse(api, pid)
    server.script(*[model.calls(("list_blocks", {})) for _ in range(5)])
    events = await say(api, pid, cid, "loop forever")
    assert events[-1]["status"] == "step_limit"
    assert events[-1]["steps"] == 3
    assert len(server.requests) == 3
    r = await api("GET", f"projects/{pid}/agent/conversations/{cid}")
    assert r.body["messages"][-1]["status"] == "step_limit"


async def test_the_token_budget_stops_the_turn(api, server, model, jp_serverapp):
    from dataclasses import replace

    agent = services_of(jp_serverapp).agent
    agent.limits = replace(agent.limits, token_budget=200)
    pid = await make_project(api)
    cid = await converse(api, pid)
    server.script(*[model.calls(("list_blocks", {})) for _ in range(3)])
    events = await say(api, pid, cid, "go")
    assert events[-1]["status"] == "token_budget"
    assert events[-1]["steps"] == 2  # 120 tokens a step


async def test_a_viewers_agent_can_only_read(api, server, model):
    pid = await make_project(api, bob="viewer")
    r = await api("POST", f"projects/{pid}/blocks", json_body={"source": "x = 1"})
    bid = r.body["id"]
    cid = await converse(api, pid, user="bob")
    server.script(
        model.calls(
            ("read_block", {"block_id": bid}),
            ("create_block", {"source": "y = 2"}),
            ("update_block", {"block_id": bid, "source": "x = 2", "version": 1}),
            ("run_block", {"block_id": bid}),
        ),
        model.answer("I can only read."),
    )
    events = await say(api, pid, cid, "change things", user="bob")
    assert events[-1]["status"] == "answered"
    results = of_type(events, "tool_result")
    assert results[0]["is_error"] is False
    assert results[0]["result"]["source"] == "x = 1"
    for refused in results[1:]:
        assert refused["is_error"] is True
        assert refused["result"]["status"] == 403
        assert "editor role" in refused["result"]["error"]
    r = await api("GET", f"projects/{pid}/blocks")
    assert [b["source"] for b in r.body["items"]] == ["x = 1"]
    # Members see each other's conversations; only the starter (or an owner) writes to them.
    alice_cid = await converse(api, pid)
    r = await api("GET", f"projects/{pid}/agent/conversations", user="bob")
    assert {c["id"] for c in r.body["items"]} == {cid, alice_cid}
    r = await api("GET", f"projects/{pid}/agent/conversations/{alice_cid}", user="bob")
    assert r.status == 200
    r = await api(
        "POST",
        f"projects/{pid}/agent/conversations/{alice_cid}/messages",
        user="bob",
        json_body={"content": "hi"},
    )
    assert r.status == 403
    r = await api("DELETE", f"projects/{pid}/agent/conversations/{alice_cid}", user="bob")
    assert r.status == 403
    r = await api("GET", f"projects/{pid}/agent/conversations", user="carol")
    assert r.status == 404


async def test_conversation_crud_and_bad_input(api, server, model):
    pid = await make_project(api)
    other = await make_project(api, "other")
    base = f"projects/{pid}/agent/conversations"
    r = await api("POST", base, json_body={"title": "Sales", "mode": "auto", "model": "openai:x"})
    assert r.status == 201
    conv = r.body
    assert (conv["title"], conv["mode"], conv["model"], conv["state"]) == (
        "Sales",
        "auto",
        "openai:x",
        "idle",
    )
    assert conv["created_by"] == "alice"
    cid = conv["id"]
    for body in ({"mode": "yolo"}, {"title": 5}, {"unknown": 1}, [], {"title": "x" * 300}):
        r = await api("POST", base, json_body=body)
        assert r.status == 400, (body, r.body)
        assert r.error["message"]
    r = await api("POST", base, raw="{not json")
    assert r.status == 400
    r = await api("PATCH", f"{base}/{cid}", json_body={"mode": "ask", "title": "Renamed"})
    assert r.status == 200
    assert (r.body["mode"], r.body["title"]) == ("ask", "Renamed")
    r = await api("PATCH", f"{base}/{cid}", json_body={"mode": 3})
    assert r.status == 400
    for bad in ({}, {"content": ""}, {"content": 3}, {"content": "x", "extra": 1}):
        r = await api("POST", f"{base}/{cid}/messages", json_body=bad)
        assert r.status == 400, (bad, r.body)
    r = await api("POST", f"{base}/{cid}/messages", json_body={"content": "x", "model": "nope"})
    assert r.status == 400
    assert "provider:model" in r.error["message"]
    r = await api("GET", f"projects/{other}/agent/conversations/{cid}")
    assert r.status == 404
    for path in (f"{base}/abc", f"{base}/0", f"{base}/99999"):
        r = await api("GET", path)
        assert r.status in (400, 404), path
    r = await api("POST", f"projects/{pid}/agent/approvals/12345", json_body={"approve": True})
    assert r.status == 404
    r = await api("POST", f"projects/{pid}/agent/approvals/1", json_body={"approve": "yes"})
    assert r.status == 400
    r = await api("POST", f"{base}/{cid}/cancel", json_body={"x": 1})
    assert r.status == 400
    r = await api("GET", base)
    assert [c["id"] for c in r.body["items"]] == [cid]
    r = await api("DELETE", f"{base}/{cid}")
    assert r.status == 204
    r = await api("GET", f"{base}/{cid}")
    assert r.status == 404


async def test_one_turn_at_a_time_and_the_turn_outlives_its_client(
    api, server, model, jp_serverapp
):
    pid = await make_project(api)
    cid = await converse(api, pid, mode="ask")
    server.script(model.calls(("create_block", {"source": "z = 3"})), model.answer("made"))
    task = asyncio.ensure_future(say(api, pid, cid, "make z"))
    for _ in range(200):
        r = await api("GET", f"projects/{pid}/agent/conversations/{cid}")
        pending = [a for a in r.body["approvals"] if a["status"] == "pending"]
        if pending:
            break
        await asyncio.sleep(0.05)
    r = await api(
        "POST", f"projects/{pid}/agent/conversations/{cid}/messages", json_body={"content": "again"}
    )
    assert r.status == 409
    task.cancel()  # the client goes away; the turn waits on
    await asyncio.sleep(0.2)
    r = await api(
        "POST", f"projects/{pid}/agent/approvals/{pending[0]['id']}", json_body={"approve": True}
    )
    assert r.status == 200
    for _ in range(200):
        r = await api("GET", f"projects/{pid}/agent/conversations/{cid}")
        if r.body["state"] == "idle":
            break
        await asyncio.sleep(0.05)
    assert r.body["messages"][-1]["content"] == "made"
    r = await api("GET", f"projects/{pid}/blocks")
    assert [b["source"] for b in r.body["items"]] == ["z = 3"]


async def test_agent_steps_are_published_for_the_project(api, server, model, jp_serverapp):
    published = []
    agent = services_of(jp_serverapp).agent
    agent.publish = lambda project_id, event: published.append((project_id, event))
    pid = await make_project(api)
    cid = await converse(api, pid, mode="ask")
    server.script(model.calls(("list_blocks", {})), model.answer("empty"))
    events = await say(api, pid, cid, "hi")
    steps = [e for p, e in published if e["type"] == "agent-step"]
    assert all(p == pid for p, _ in published)
    assert [s["event"] for s in steps] == events


async def test_deleting_the_project_deletes_its_conversations(api, server, model, jp_serverapp):
    pid = await make_project(api)
    cid = await converse(api, pid)
    server.script(model.answer("hello"))
    await say(api, pid, cid, "hi")
    r = await api("DELETE", f"projects/{pid}")
    assert r.status == 204, r.body
    from sqlalchemy import func, select

    from ai_notebook_ext.store.agent_models import AgentMessage, Conversation

    async with services_of(jp_serverapp).db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Conversation)) == 0
        assert await session.scalar(select(func.count()).select_from(AgentMessage)) == 0


async def waiting_for_approval(api, pid, cid):
    """Wait until the conversation's turn waits for an approval."""
    for _ in range(200):
        r = await api("GET", f"projects/{pid}/agent/conversations/{cid}")
        if r.body["state"] == "waiting":
            break
        await asyncio.sleep(0.05)
    assert r.body["state"] == "waiting"


async def test_deleting_a_conversation_stops_its_turn(api, server, model, jp_serverapp):
    pid = await make_project(api)
    cid = await converse(api, pid, mode="ask")
    server.script(model.calls(("create_block", {"source": "q = 1"})))
    task = asyncio.ensure_future(say(api, pid, cid, "make q"))
    await waiting_for_approval(api, pid, cid)
    r = await api("DELETE", f"projects/{pid}/agent/conversations/{cid}")
    assert r.status == 204
    events = await asyncio.wait_for(task, 30)
    assert events[-1]["status"] == "cancelled"
    assert services_of(jp_serverapp).agent.turns == {}
    r = await api("GET", f"projects/{pid}/blocks")
    assert r.body["items"] == []


async def test_deleting_the_project_stops_its_turn(api, server, model, jp_serverapp, caplog):
    pid = await make_project(api)
    cid = await converse(api, pid, mode="ask")
    server.script(model.calls(("create_block", {"source": "q = 1"})))
    task = asyncio.ensure_future(say(api, pid, cid, "make q"))
    await waiting_for_approval(api, pid, cid)
    r = await api("DELETE", f"projects/{pid}")
    assert r.status == 204
    events = await asyncio.wait_for(task, 30)
    assert events[-1]["status"] == "project_deleted"
    assert services_of(jp_serverapp).agent.turns == {}
    assert not [r for r in caplog.records if "agent turn" in r.getMessage()]


async def test_the_turn_goes_on_when_the_client_disconnects(
    api, server, model, jp_serverapp, jp_http_port
):
    from identity import token

    pid = await make_project(api)
    cid = await converse(api, pid)
    server.script(
        model.calls(("create_block", {"source": "late = 1"})),
        _slow(model.answer("finished anyway")),
    )
    body = json.dumps({"content": "work while I am gone"}).encode()
    base = jp_serverapp.base_url.rstrip("/")
    path = f"{base}/ai-notebook/api/projects/{pid}/agent/conversations/{cid}/messages"
    reader, writer = await asyncio.open_connection("127.0.0.1", jp_http_port)
    writer.write(
        (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: token {token('alice')}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
    )
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b'"tool_call"'), 30)
    assert b"200 OK" in head
    writer.transport.abort()  # the client goes away mid-turn
    for _ in range(200):
        r = await api("GET", f"projects/{pid}/agent/conversations/{cid}")
        if r.body["state"] == "idle" and r.body["messages"][-1]["role"] == "assistant":
            break
        await asyncio.sleep(0.05)
    assert r.body["messages"][-1]["content"] == "finished anyway"
    r = await api("GET", f"projects/{pid}/blocks")
    assert [b["source"] for b in r.body["items"]] == ["late = 1"]


def _slow(step):
    step.delay = 1.0  # the answer comes after the client has left
    return step
