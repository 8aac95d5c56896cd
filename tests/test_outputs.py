"""OutputCollector and friends, message by message (pure code, no kernel)."""

from __future__ import annotations

import base64

import pytest

from ai_notebook_ext.execution import outputs
from ai_notebook_ext.execution.outputs import (
    OutputCollector,
    externalize,
    storable,
    without_binary,
)


def stream(c: OutputCollector, text: str, name: str = "stdout") -> None:
    c.apply("stream", {"name": name, "text": text})


def test_streams_merge_per_name_and_clear_output_waits():
    c = OutputCollector()
    stream(c, "a")
    stream(c, "b")
    stream(c, "e", "stderr")
    stream(c, "c")
    assert [(o["name"], o["text"]) for o in c.outputs] == [
        ("stdout", "ab"),
        ("stderr", "e"),
        ("stdout", "c"),
    ]
    c.apply("clear_output", {"wait": True})
    assert len(c.outputs) == 3  # nothing cleared until the next output arrives
    stream(c, "fresh")
    assert c.outputs == [{"output_type": "stream", "name": "stdout", "text": "fresh"}]


def test_display_updates_and_results():
    c = OutputCollector()
    c.apply("display_data", {"data": {"text/plain": "1"}, "transient": {"display_id": "d"}})
    c.apply("execute_result", {"data": {"text/plain": "42"}, "execution_count": 7})
    c.apply("update_display_data", {"data": {"text/plain": "2"}, "transient": {"display_id": "d"}})
    assert c.outputs[0]["data"] == {"text/plain": "2"}
    assert c.outputs[1]["execution_count"] == 7
    assert c.execution_count == 7
    assert c.take_display_updates() == {"d": {"data": {"text/plain": "2"}, "metadata": {}}}
    # an id this run never showed: nothing here changes, the update waits for other runs
    assert c.apply("update_display_data", {"data": {}, "transient": {"display_id": "x"}})
    assert c.outputs[0]["data"] == {"text/plain": "2"}
    assert list(c.take_display_updates()) == ["x"]
    assert c.take_display_updates() == {}


def display(c: OutputCollector, text: str, display_id: str, kind: str = "display_data") -> None:
    c.apply(
        kind,
        {"data": {"text/plain": text}, "metadata": {}, "transient": {"display_id": display_id}},
    )


def texts(c: OutputCollector) -> list[str]:
    return [o.get("text") or o["data"]["text/plain"] for o in c.outputs]


def test_a_new_display_with_a_shown_id_updates_the_earlier_one_too():
    """nbclient's process_message: every output showing the id gets the new data."""
    c = OutputCollector()
    display(c, "1", "here")
    display(c, "2", "here")
    display(c, "3", "there")
    assert texts(c) == ["2", "2", "3"]
    assert c.display_ids == {"here": [0, 1], "there": [2]}
    display(c, "9", "result", kind="execute_result")
    display(c, "10", "result", kind="update_display_data")
    assert texts(c) == ["2", "2", "3", "10"]
    assert c.outputs[3]["output_type"] == "execute_result"
    updates = c.take_display_updates()
    assert list(updates) == ["here", "there", "result"]  # the latest of each id
    assert updates["result"]["data"] == {"text/plain": "10"}


def test_clear_output_wait_clears_at_the_next_output_of_any_kind():
    """nbclient's clear_before_next_output: a stream, display or error clears; an update
    of a display does not (and updates what is still shown)."""
    c = OutputCollector()
    stream(c, "Hello")
    c.apply("clear_output", {"wait": True})
    assert texts(c) == ["Hello"]  # nothing after it: the output stays
    display(c, "x", "id4")
    assert texts(c) == ["x"]  # a display clears too

    c.apply("clear_output", {"wait": True})
    display(c, "updated", "id4", kind="update_display_data")
    assert texts(c) == ["updated"]  # updates do not trigger the clear
    c.apply("error", {"ename": "E", "evalue": "v", "traceback": []})
    assert [o["output_type"] for o in c.outputs] == ["error"]


def test_odd_display_ids_are_no_display_ids():
    c = OutputCollector()
    for transient in (None, [], "x", {"display_id": 3}, {"display_id": ""}):
        c.apply("display_data", {"data": {"text/plain": "v"}, "transient": transient})
    assert len(c.outputs) == 5
    assert c.display_ids == {}
    assert c.take_display_updates() == {}


def test_a_clear_forgets_the_display_ids_shown_before_it():
    c = OutputCollector()
    display(c, "Hello", "id4")
    c.apply("clear_output", {"wait": True})
    stream(c, "world")
    display(c, "Hello world", "id4", kind="update_display_data")
    assert c.outputs == [{"output_type": "stream", "name": "stdout", "text": "world"}]
    assert c.display_ids == {}
    c.apply("clear_output", {})  # without wait: at once
    assert c.outputs == []


def test_a_huge_stream_keeps_head_and_tail_within_the_cap(monkeypatch):
    monkeypatch.setattr(outputs, "STREAM_MEMORY_CAP", 1000)
    c = OutputCollector()
    for i in range(10_000):
        stream(c, f"{i:05d}\n")
    (out,) = c.outputs
    assert out["text"].startswith("00000\n00001\n")
    assert out["text"].endswith("09998\n09999\n")
    assert "characters left out" in out["text"]
    assert len(out["text"]) < 1100
    assert c._length <= 1000


def test_a_stream_in_big_chunks_shows_the_head_and_the_latest_half_cap(monkeypatch):
    """A loaded kernel sends many lines per stream message: whatever the chunk size and
    where the last one ends, what is shown stays within the cap."""
    monkeypatch.setattr(outputs, "STREAM_MEMORY_CAP", 1000)
    for chunks in range(10, 30):
        c = OutputCollector()
        for i in range(chunks):
            stream(c, "".join(f"{j:05d}\n" for j in range(i * 20, i * 20 + 20)))
        (out,) = c.outputs
        assert out["text"].startswith("00000\n")
        assert out["text"].endswith(f"{chunks * 20 - 1:05d}\n")
        assert len(out["text"]) < 1100, chunks


def test_outputs_past_the_limit_are_counted_not_kept(monkeypatch):
    monkeypatch.setattr(outputs, "MAX_OUTPUTS", 3)
    c = OutputCollector()
    for i in range(10):
        c.apply("display_data", {"data": {"text/plain": str(i)}})
    kept = c.outputs
    assert [o.get("data", {}).get("text/plain") for o in kept[:3]] == ["0", "1", "2"]
    assert kept[3]["text"] == "[7 more outputs were not kept]\n"


def test_externalize_moves_binary_and_long_text_to_artifacts():
    store: dict[str, bytes] = {}

    def put(data: bytes) -> str:
        key = f"{len(store):064d}"
        store[key] = data
        return key

    png = base64.b64encode(b"\x89PNG...").decode()
    outs = [
        {
            "output_type": "display_data",
            "data": {"image/png": png, "text/plain": "<img>"},
            "metadata": {},
        },
        {"output_type": "stream", "name": "stdout", "text": "x" * 50},
    ]
    moved, stored = externalize(outs, put, text_limit=10)
    assert moved[0]["data"] == {"text/plain": "<img>"}
    assert store[moved[0]["artifacts"]["image/png"]["id"]] == b"\x89PNG..."
    assert moved[1]["text"] == "x" * 10
    assert moved[1]["artifacts"]["text/plain"]["truncated"] is True
    assert [a.mime for a in stored] == ["image/png", "text/plain"]
    assert outs[1]["text"] == "x" * 50  # the input is not modified


def test_events_leave_binary_out_and_keep_the_tail_of_text():
    outs = [
        {"output_type": "display_data", "data": {"image/png": "AAAA", "text/html": "<b>"}},
        {"output_type": "stream", "name": "stdout", "text": "0123456789"},
    ]
    light, omitted = without_binary(outs, cap=4)
    assert light[0]["data"] == {"text/html": "<b>"}
    assert light[1]["text"] == "6789"
    assert omitted == 4 + 6


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a\x00b", "a\ufffdb"),
        ("\ud800x", "?x"),
        ({"k\x00": ["\x00"]}, {"k\ufffd": ["\ufffd"]}),
        (3, 3),
    ],
)
def test_storable_cleans_what_databases_refuse(value, expected):
    assert storable(value) == expected
