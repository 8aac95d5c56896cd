"""The agent's context stays within its token budget: a 300-block project, a 50-turn
conversation; the latest turns are kept whole, long tool results are cut with a marker."""

from __future__ import annotations

import json

from ai_notebook_ext.agent import context
from ai_notebook_ext.agent.conversations import dangling_calls
from ai_notebook_ext.agent.tools.base import clip

BUDGET = 16_000


def view(blocks: int) -> context.ProjectView:
    return context.ProjectView(
        name="big",
        blocks=[
            {
                "id": i + 1,
                "position": i,
                "kind": "code",
                "state": "stale",
                "line": f"result_{i} = transform(frame_{i}, option={'x' * 60!r})",
            }
            for i in range(blocks)
        ],
        datasets=[f"- sales_{i} (1000 rows): date DATE, revenue DOUBLE" for i in range(50)],
        errors=["- block 3: NameError: name 'frame_2' is not defined"],
        guidance=["When you generate code, follow this: use polars"],
    )


def turn(n: int, tool_chars: int = 3000) -> list[dict]:
    call = {"id": f"c{n}", "name": "run_block", "arguments": {"block_id": n}}
    return context.wire(
        [
            {"role": "user", "content": f"request number {n}: " + "do things " * 20},
            {
                "role": "assistant",
                "content": "",
                "status": "complete",
                "tool_calls": [call],
            },
            {
                "role": "tool",
                "tool_call_id": f"c{n}",
                "tool_name": "run_block",
                "content": json.dumps({"output": "y" * tool_chars}),
            },
            {"role": "assistant", "content": f"answer {n}", "status": "complete"},
        ]
    )


def tokens(messages: list[dict]) -> int:
    return sum(context.message_tokens(m) for m in messages)


def test_a_300_block_project_fits_in_the_system_share():
    text = context.system_prompt(view(300), BUDGET)
    assert context.estimate(text) <= BUDGET * context.SYSTEM_SHARE
    assert "[1] #0 code stale: result_0" in text
    assert "more blocks not shown (use list_blocks to see all)" in text
    assert "Blocks (300;" in text
    assert "use polars" in text
    assert "NameError" in text
    assert "sales_0" in text


def test_a_small_project_is_listed_whole():
    text = context.system_prompt(view(5), BUDGET)
    assert "more blocks" not in text
    assert "[5] #4 code stale" in text


def test_a_50_turn_conversation_keeps_the_latest_turns_whole_within_budget():
    turns = [turn(n) for n in range(50)]
    room = BUDGET - context.estimate(context.system_prompt(view(300), BUDGET))
    out = context.history(turns, room)
    assert tokens(out) <= room
    # The latest turns are there, unchanged, in order, ending with the newest.
    assert out[-4:] == turns[-1]
    assert out[-8:-4][0] == turns[-2][0]
    # Older turns are summarised by what the user asked.
    assert "turns not shown" in out[0]["content"]
    assert "request number 0" in out[0]["content"] or "request number 1" in out[0]["content"]
    # Kept turns other than the latest have their long tool results cut with a marker.
    older_tool = next(m for m in out[2:-4] if m["role"] == "tool")
    assert "characters left out" in older_tool["content"]
    # Every tool call kept has its result (the providers require it).
    calls = {c["id"] for m in out if m.get("tool_calls") for c in m["tool_calls"]}
    results = {m["tool_call_id"] for m in out if m["role"] == "tool"}
    assert calls == results


def test_a_short_conversation_is_kept_whole():
    turns = [turn(n, tool_chars=100) for n in range(3)]
    out = context.history(turns, BUDGET)
    assert out == [m for t in turns for m in t]


def test_long_tool_results_are_cut_with_a_marker():
    text = clip("a" * 10_000, 1000)
    assert len(text) < 1100
    assert "characters left out" in text
    assert clip("short", 1000) == "short"


def test_turn_endings_are_shown_to_the_model():
    out = context.wire([{"role": "assistant", "content": "Stopped.", "status": "step_limit"}])
    assert out[0]["content"].startswith("[this turn ended: step_limit]")


def test_dangling_calls_are_the_unanswered_ones():
    rows = [
        {"id": 1, "role": "user"},
        {
            "id": 2,
            "role": "assistant",
            "step": 1,
            "tool_calls": [
                {"id": "a", "name": "x", "arguments": {}},
                {"id": "b", "name": "y", "arguments": {}},
            ],
        },
        {"id": 3, "role": "tool", "tool_call_id": "a"},
    ]
    assert [c["id"] for c in dangling_calls(rows)] == ["b"]
