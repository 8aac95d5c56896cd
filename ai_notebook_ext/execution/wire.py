"""The Session and channels of our kernel clients: same protocol, less work per message.

jupyter_client's ``Session.deserialize`` turns every ISO date in the header and parent
header into a ``datetime`` with dateutil, about a tenth of a millisecond per message. Our
reader (``iopub.py``) and runner read ``msg_type``, ``parent_header`` and ``content`` only,
so our clients keep the dates as the strings the kernel sent. Signatures are checked
exactly as jupyter_client does.

``AsyncZMQSocketChannel.get_msg`` always awaits an asyncio poll before receiving; after the
kernel's ``busy`` status, its next iopub message and its shell reply are usually waiting
already, and ``LeanChannel`` takes those at once.
"""

from __future__ import annotations

from hmac import compare_digest
from typing import Any

import zmq
from jupyter_client.adapter import adapt
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.session import Session


class LeanSession(Session):
    """A Session that leaves header dates as strings when decoding."""

    def deserialize(
        self, msg_list: list[Any], content: bool = True, copy: bool = True
    ) -> dict[str, Any]:
        if not copy:  # pyzmq Frames: copy the fixed parts, as jupyter_client does
            msg_list = [bytes(m.bytes) for m in msg_list[:5]] + list(msg_list[5:])
        if len(msg_list) < 5:
            raise TypeError("malformed message, must have at least 5 elements")
        if self.auth is not None:
            signature = msg_list[0]
            if not signature:
                raise ValueError("Unsigned Message")
            if signature in self.digest_history:
                raise ValueError(f"Duplicate Signature: {signature!r}")
            if content:
                self._add_digest(signature)
            if not compare_digest(signature, self.sign(msg_list[1:5])):
                raise ValueError(f"Invalid Signature: {signature!r}")
        header = self.unpack(msg_list[1])
        buffers = [memoryview(b) for b in msg_list[5:]]
        if buffers and buffers[0].shape is None:  # pyzmq #646, as in jupyter_client
            buffers = [memoryview(bytes(b.bytes)) for b in msg_list[5:]]
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


class LeanChannel(AsyncZMQSocketChannel):
    """A channel that receives a message already waiting without an asyncio poll."""

    async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:  # noqa: ASYNC109
        socket = self.socket
        if socket is not None and not socket.closed and socket.get(zmq.EVENTS) & zmq.POLLIN:
            return await self._recv()
        return await super().get_msg(timeout)


CLIENT_OPTIONS = {"iopub_channel_class": LeanChannel, "shell_channel_class": LeanChannel}
