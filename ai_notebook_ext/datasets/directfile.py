"""A write-only file for big streamed uploads that bypasses the page cache where the OS
and the filesystem allow it (Linux ``O_DIRECT``), else a plain unbuffered file.

Why: through the page cache, storing N bytes first needs N bytes of fresh page-cache
memory. On VMs that hand free memory back to their host (virtio balloon, free page
reporting) faulting that memory in costs the server about 1 s of kernel time per 300 MB,
three times what receiving and hashing the body cost (BENCHMARKS.md, "Upload vs
sha256sum"). With ``O_DIRECT`` the bytes go from one reused, aligned buffer to the disk,
and a big upload does not evict other files from the cache either.

One thread writes at a time (the staging writer); ``close`` may come from another thread
(an aborted upload), so writes and close are serialized by a lock and a write after close
raises ValueError instead of writing to a reused descriptor.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import threading

ALIGN = 4096  # O_DIRECT wants buffers, offsets and lengths in multiples of the block size
BUFFER = 8 << 20  # bytes gathered before each direct write (a multiple of ALIGN)
O_DIRECT: int = getattr(os, "O_DIRECT", 0)


class DirectFile:
    """Owns ``fd`` (opened for writing at offset 0); ``direct`` False: plain writes."""

    def __init__(self, fd: int, *, direct: bool = True) -> None:
        self._fd = fd
        self._lock = threading.Lock()
        self._closed = False
        self.size = 0
        self.direct = bool(direct and O_DIRECT) and _set_direct(fd, True)
        self._buf = mmap.mmap(-1, BUFFER) if self.direct else None  # page-aligned
        self._fill = 0

    def write(self, data: bytes | memoryview) -> None:
        with self._lock:
            if self._closed:
                raise ValueError("write to a closed DirectFile")
            view = memoryview(data)
            self.size += len(view)
            if self._buf is None:
                _write_all(self._fd, view)
                return
            while view:
                n = min(BUFFER - self._fill, len(view))
                self._buf[self._fill : self._fill + n] = view[:n]
                self._fill += n
                view = view[n:]
                if self._fill == BUFFER:
                    self._flush(BUFFER)

    def _flush(self, length: int) -> None:
        """Write the first ``length`` buffered bytes (a multiple of ALIGN); a filesystem
        that accepted O_DIRECT but refuses the write (another block size) gets plain
        writes from here on."""
        assert self._buf is not None
        with memoryview(self._buf) as whole, whole[:length] as part:
            done = 0
            while done < length:
                try:
                    done += os.write(self._fd, part[done:])
                except OSError as exc:
                    if exc.errno != errno.EINVAL or not self.direct:
                        raise
                    if not _set_direct(self._fd, False):
                        raise
                    self.direct = False
        self._fill = 0

    def close(self, *, keep: bool = True) -> None:
        """Write what is buffered (``keep``; False: the file is being thrown away) and
        close. The last partial block is written padded to ALIGN, and the file is then
        cut to its real size."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                if keep and self._buf is not None and self._fill:
                    tail = self._fill
                    padded = -(-tail // ALIGN) * ALIGN
                    self._buf[tail:padded] = bytes(padded - tail)
                    self._flush(padded)
                    os.ftruncate(self._fd, self.size)
            finally:
                os.close(self._fd)
                if self._buf is not None:
                    self._buf.close()


def _set_direct(fd: int, on: bool) -> bool:
    """Turn O_DIRECT on or off for ``fd``; False when the filesystem refuses (tmpfs)."""
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, (flags | O_DIRECT) if on else (flags & ~O_DIRECT))
    except OSError:
        return False
    return True


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        view = view[os.write(fd, view) :]
