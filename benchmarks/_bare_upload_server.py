"""A bare tornado server that takes a streamed POST body into a file while hashing it,
the plain way (buffered writes through the page cache, sha256 on a thread): the second
baseline of ``dataset_upload.py``, what Python + tornado + a page-cache write cost here
without the extension (no auth, database, format checks or O_DIRECT).

    python benchmarks/_bare_upload_server.py PORT FOLDER

Answers ``<sha256> <seconds in the server>``; the file is removed afterwards.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import tempfile
import time
from typing import Any

import tornado.httpserver
import tornado.web

CHUNK = 1 << 20  # the extension's upload chunk size


@tornado.web.stream_request_body
class Receive(tornado.web.RequestHandler):
    def prepare(self) -> None:
        self.request.connection.set_max_body_size(1 << 40)  # type: ignore[attr-defined]
        fd, self.path = tempfile.mkstemp(dir=sys.argv[2], prefix="bare-")
        self.file = os.fdopen(fd, "wb")
        self.hash = hashlib.sha256()
        self.started = time.perf_counter()
        self.pending: Any = None

    async def data_received(self, chunk: bytes) -> None:
        if self.pending is not None:
            await self.pending
        self.pending = asyncio.get_running_loop().run_in_executor(None, self.store, chunk)

    def store(self, chunk: bytes) -> None:
        self.file.write(chunk)
        self.hash.update(chunk)

    async def post(self) -> None:
        if self.pending is not None:
            await self.pending
        self.file.close()
        os.unlink(self.path)
        self.write(f"{self.hash.hexdigest()} {time.perf_counter() - self.started:.3f}")


async def main() -> None:
    app = tornado.web.Application([("/", Receive)])
    server = tornado.httpserver.HTTPServer(app, max_body_size=1 << 40, chunk_size=CHUNK)
    server.listen(int(sys.argv[1]), "127.0.0.1")
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
