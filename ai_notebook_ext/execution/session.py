"""The Session of our kernel clients: jupyter_client's, without parsing dates.

``Session.deserialize`` walks every received header and parent header for ISO 8601
strings and parses them into datetimes with dateutil: about half of its cost, paid for
each of the four or more messages of every execute. Nothing of ours reads those dates
(activity is stamped on arrival, as Jupyter's tracker does), so ours leaves them as the
strings the kernel sent. Everything else is jupyter_client's own steps: signature
check, replay protection, unpacking and protocol adaptation.
"""

from __future__ import annotations

from hmac import compare_digest
from typing import Any

from jupyter_client.adapter import adapt
from jupyter_client.session import Session

MIN_PARTS = 5  # signature, header, parent header, metadata, content


class LeanSession(Session):
    """``Session`` whose ``deserialize`` keeps header dates as strings."""

    def deserialize(
        self, msg_list: list[Any], content: bool = True, copy: bool = True
    ) -> dict[str, Any]:
        if not copy:  # pyzmq did not copy the first parts: copy them (as jupyter_client)
            msg_list = [bytes(m.bytes) for m in msg_list[:MIN_PARTS]] + list(msg_list[MIN_PARTS:])
        if self.auth is not None:
            signature = msg_list[0]
            if not signature:
                raise ValueError("Unsigned Message")
            if signature in self.digest_history:
                raise ValueError(f"Duplicate Signature: {signature!r}")
            if content:
                self._add_digest(signature)
            if not compare_digest(signature, self.sign(msg_list[1:MIN_PARTS])):
                raise ValueError(f"Invalid Signature: {signature!r}")
        if len(msg_list) < MIN_PARTS:
            raise TypeError(f"malformed message, must have at least {MIN_PARTS} elements")
        header = self.unpack(msg_list[1])
        buffers = [memoryview(b) for b in msg_list[MIN_PARTS:]]
        if buffers and buffers[0].shape is None:  # pyzmq #646, as jupyter_client
            buffers = [memoryview(bytes(b.bytes)) for b in msg_list[MIN_PARTS:]]
        message = {
            "header": header,
            "msg_id": header["msg_id"],
            "msg_type": header["msg_type"],
            "parent_header": self.unpack(msg_list[2]),
            "metadata": self.unpack(msg_list[3]),
            "content": self.unpack(msg_list[4]) if content else msg_list[4],
            "buffers": buffers,
        }
        return adapt(message)
