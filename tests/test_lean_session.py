"""LeanSession (execution/session.py) reads what jupyter_client's Session reads, with the
header dates left as the kernel's strings, and refuses what it refuses."""

from __future__ import annotations

from datetime import datetime

import pytest
from jupyter_client.session import Session

from ai_notebook_ext.execution.session import LeanSession

KEY = b"secret"


def wire(content: dict, buffers: list[bytes] | None = None) -> tuple[list[bytes], dict]:
    sender = Session(key=KEY)
    parent = sender.msg("execute_request", {"code": "1"})
    msg = sender.msg("stream", content, parent=parent)
    parts = sender.serialize(msg)
    _, rest = sender.feed_identities(parts)
    return [*rest, *(buffers or [])], msg


def test_same_message_as_jupyter_client_but_dates() -> None:
    parts, sent = wire({"name": "stdout", "text": "hi"}, [b"\x00\x01"])
    theirs = Session(key=KEY).deserialize(list(parts))
    ours = LeanSession(key=KEY).deserialize(list(parts))
    assert isinstance(theirs["header"]["date"], datetime)
    assert isinstance(ours["header"]["date"], str)
    assert datetime.fromisoformat(ours["header"]["date"]) == theirs["header"]["date"]
    assert datetime.fromisoformat(ours["parent_header"]["date"]) == theirs["parent_header"]["date"]
    for part in ("header", "parent_header"):
        ours[part].pop("date")
        theirs[part].pop("date")
    assert [bytes(b) for b in ours.pop("buffers")] == [bytes(b) for b in theirs.pop("buffers")]
    assert ours == theirs
    assert ours["content"] == {"name": "stdout", "text": "hi"}
    assert ours["msg_id"] == sent["header"]["msg_id"]


def test_refuses_what_jupyter_client_refuses() -> None:
    parts, _ = wire({"name": "stdout", "text": "hi"})
    session = LeanSession(key=KEY)
    session.deserialize(list(parts))
    with pytest.raises(ValueError, match="Duplicate Signature"):
        session.deserialize(list(parts))  # a replay
    tampered = list(parts)
    tampered[4] = b'{"name": "stdout", "text": "evil"}'
    with pytest.raises(ValueError, match="Invalid Signature"):
        LeanSession(key=KEY).deserialize(tampered)
    with pytest.raises(ValueError, match="Unsigned"):
        LeanSession(key=KEY).deserialize([b"", *parts[1:]])
    with pytest.raises(ValueError, match="Invalid Signature"):
        LeanSession(key=b"other").deserialize(list(parts))
