"""Prompt templates over REST: built-ins, users' own templates and overrides, rendering,
and completions from a template."""

from __future__ import annotations

import json

import pytest
from ai_server import ScriptedServer, Step

FIX = "Fix {{ code }} given {{ error }}"


@pytest.fixture
def upstream():
    with ScriptedServer() as running:
        yield running


@pytest.fixture
def extension_config(upstream):
    return {"openai_api_key": "sk-prompts", "openai_base_url": upstream.url + "/v1"}


def mine(**fields):
    body = {
        "name": "summarize",
        "description": "Summarize a table",
        "system": "You are terse about {{ topic }}.",
        "template": "Summarize {{ table }} in {{ words }} words.",
        "variables": [
            {"name": "topic", "required": False, "default": "data"},
            {"name": "table"},
            {"name": "words", "required": False, "default": 50},
        ],
    }
    body.update(fields)
    return body


async def test_builtins_are_listed_and_rendered(api):
    r = await api("GET", "ai/prompts")
    assert r.status == 200, r.body
    names = [t["name"] for t in r.body["items"]]
    assert names == ["describe_dataset", "explain_error", "fix_error", "generate_code"]
    assert all(t["source"] == "builtin" for t in r.body["items"])
    r = await api(
        "POST",
        "ai/prompts/fix_error/render",
        json_body={"variables": {"code": "1/0", "error": "ZeroDivisionError"}},
    )
    assert r.status == 200, r.body
    assert "ZeroDivisionError" in r.body["prompt"]
    assert r.body["messages"][0]["role"] == "system"
    assert r.body["messages"][-1] == {"role": "user", "content": r.body["prompt"]}


async def test_a_user_template_lifecycle(api):
    r = await api("POST", "ai/prompts", json_body=mine())
    assert r.status == 201, r.body
    assert (r.body["source"], r.body["overrides_builtin"]) == ("user", False)
    r = await api("POST", "ai/prompts/summarize/render", json_body={"variables": {"table": "t1"}})
    assert r.status == 200, r.body
    assert (r.body["system"], r.body["prompt"]) == (
        "You are terse about data.",
        "Summarize t1 in 50 words.",
    )
    r = await api("PATCH", "ai/prompts/summarize", json_body={"template": "Just {{ table }}"})
    assert r.status == 200, r.body
    r = await api("POST", "ai/prompts/summarize/render", json_body={"variables": {"table": "t2"}})
    assert r.body["prompt"] == "Just t2"
    # Other users do not see it.
    assert (await api("GET", "ai/prompts/summarize", user="bob")).status == 404
    r = await api("GET", "ai/prompts", user="bob")
    assert "summarize" not in [t["name"] for t in r.body["items"]]
    assert (await api("DELETE", "ai/prompts/summarize")).status == 204
    assert (await api("GET", "ai/prompts/summarize")).status == 404


async def test_overriding_a_builtin_and_deleting_the_override(api):
    assert (await api("PATCH", "ai/prompts/fix_error", json_body={"template": "x"})).status == 404
    body = {
        "name": "fix_error",
        "template": FIX,
        "variables": [{"name": "code"}, {"name": "error"}],
    }
    r = await api("POST", "ai/prompts", json_body=body)
    assert r.status == 201, r.body
    assert r.body["overrides_builtin"] is True
    values = {"variables": {"code": "a", "error": "b"}}
    r = await api("POST", "ai/prompts/fix_error/render", json_body=values)
    assert r.body["prompt"] == "Fix a given b"
    other = await api("POST", "ai/prompts/fix_error/render", json_body=values, user="bob")
    assert other.body["prompt"] != "Fix a given b"  # only the owner's built-in changed
    assert (await api("DELETE", "ai/prompts/fix_error")).status == 204
    r = await api("GET", "ai/prompts/fix_error")
    assert r.body["source"] == "builtin"
    r = await api("DELETE", "ai/prompts/fix_error")
    assert r.status == 400
    assert "cannot be deleted" in r.error["message"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (mine(template="{{ nope }}"), "undeclared variable(s) nope"),
        (mine(template="{% if %}"), "line 1"),
        (mine(name="Has Spaces"), "name"),
        (mine(variables=[{"name": "table"}, {"name": "table"}]), "declared twice"),
        (mine(variables=[{"name": "2x"}]), "not a valid name"),
        (
            mine(template="{{ ''.__class__ }}", system="", variables=[]),
            None,
        ),  # saved; refused on render
        (mine(extra=1), "unknown field 'extra'"),
        (mine(template="{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}"), "nested too deeply"),
        (mine(description="a\x00b"), "NUL"),
        (mine(variables=[{"name": "v"}] * 51), "at most 50"),
        (mine(template=7), "template"),
    ],
)
async def test_bad_templates_get_400_and_change_nothing(api, body, fragment):
    r = await api("POST", "ai/prompts", json_body=body)
    if fragment is None:
        assert r.status == 201, r.body
        r = await api("POST", "ai/prompts/summarize/render", json_body={})
        assert r.status == 400
        assert "unsafe" in r.error["message"]
        return
    assert r.status == 400, r.body
    assert fragment in json.dumps(r.error)
    names = [t["name"] for t in (await api("GET", "ai/prompts")).body["items"]]
    assert "summarize" not in names


async def test_render_and_update_errors(api):
    assert (await api("POST", "ai/prompts", json_body=mine())).status == 201
    assert (await api("POST", "ai/prompts", json_body=mine())).status == 409
    r = await api("POST", "ai/prompts/summarize/render", json_body={"variables": {}})
    assert r.status == 400
    assert "needs variable(s) table" in r.error["message"]
    r = await api(
        "POST", "ai/prompts/summarize/render", json_body={"variables": {"table": 1, "x": 2}}
    )
    assert "has no variable(s) x" in r.error["message"]
    r = await api("PATCH", "ai/prompts/summarize", json_body={"template": "{{ other }}"})
    assert r.status == 400
    r = await api("GET", "ai/prompts/summarize")
    assert r.body["template"] == mine()["template"]  # the failed update changed nothing
    assert (await api("POST", "ai/prompts", json_body=mine(name="second"))).status == 201
    r = await api("PATCH", "ai/prompts/second", json_body={"name": "summarize"})
    assert r.status == 409
    for path in ("ai/prompts/NOT..VALID", "ai/prompts/none-such", "ai/prompts/none/render"):
        method = "POST" if path.endswith("render") else "GET"
        r = await api(method, path, json_body={} if method == "POST" else None)
        assert r.status == 404, (path, r.body)


async def test_a_completion_from_a_template(api, upstream):
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": "fixed"}, "finish_reason": None}],
    }
    upstream.script(Step(sse=[chunk, "[DONE]"]))
    body = {
        "model": "openai:gpt-test",
        "template": {"name": "explain_error", "variables": {"code": "x", "error": "NameError"}},
    }
    r = await api("POST", "ai/complete", json_body=body)
    assert r.status == 200, r.body
    sent = upstream.requests[0]["body"]["messages"]
    assert sent[0]["role"] == "system"
    assert "NameError" in sent[-1]["content"]
    body["template"]["variables"] = {"code": "x"}
    r = await api("POST", "ai/complete", json_body=body)
    assert r.status == 400
    assert "needs variable(s) error" in r.error["message"]
    both = {**body, "messages": [{"role": "user", "content": "hi"}]}
    r = await api("POST", "ai/complete", json_body=both)
    assert r.status == 400
    assert "either 'messages' or 'template'" in r.error["message"]
    assert len(upstream.requests) == 1
