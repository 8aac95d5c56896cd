"""The staging file of streamed uploads: the bytes and the sha256 come out exactly as sent,
written past the page cache (O_DIRECT) or plainly, whatever the chunk sizes."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import random
from pathlib import Path

import pytest

from ai_notebook_ext.datasets.directfile import ALIGN, BUFFER
from ai_notebook_ext.datasets.storage import Staging, copy_and_hash

SIZES = [0, 1, ALIGN, ALIGN + 1, BUFFER, BUFFER + ALIGN - 1, 2 * BUFFER + 12345]


def chunks_of(data: bytes, seed: int) -> list[bytes]:
    """``data`` cut at random points (pieces from 1 byte to 3 MiB)."""
    rng = random.Random(seed)
    out, at = [], 0
    while at < len(data):
        n = rng.choice([1, 7, 4096, 65536, 1 << 20, 3 << 20, rng.randint(1, 3 << 20)])
        out.append(data[at : at + n])
        at += n
    return out


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "buffered"])
@pytest.mark.parametrize("size", SIZES)
async def test_staged_bytes_and_digest_are_the_sent_ones(tmp_path, size, direct):
    data = random.Random(size).randbytes(size)
    staging = Staging(str(tmp_path), direct=direct)
    if direct and not staging._file.direct:
        pytest.skip("this filesystem refuses O_DIRECT")
    assert staging._file.direct is direct
    for chunk in chunks_of(data, size):
        await staging.write(chunk)
    digest = await staging.finish()
    assert digest == hashlib.sha256(data).hexdigest()
    assert staging.size == size
    assert await asyncio.to_thread(Path(staging.path).read_bytes) == data  # no padding
    staging.discard()
    assert os.listdir(tmp_path) == []


async def test_a_discarded_upload_leaves_nothing_and_refuses_more(tmp_path):
    staging = Staging(str(tmp_path))
    await staging.write(b"x" * (Staging.BATCH + 10))  # a batch is being written
    staging.discard()
    assert os.listdir(tmp_path) == []
    with contextlib.suppress(ValueError):  # the batch in flight, if it lost the race
        await staging._flush
    with pytest.raises(ValueError, match="closed"):
        staging._file.write(b"more")


def test_register_copy_is_exact(tmp_path):
    data = random.Random(3).randbytes(BUFFER + 777)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    path, digest, size = copy_and_hash(str(src), str(tmp_path / "staging"))
    assert (digest, size) == (hashlib.sha256(data).hexdigest(), len(data))
    with open(path, "rb") as f:
        assert f.read() == data
