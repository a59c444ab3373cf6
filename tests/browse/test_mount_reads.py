"""How the mount reads a file: sequential reads go through the store's batched reader, a
window of chunks ahead (spec/browse.md, "mount"), not one pack read per chunk.

The FUSE operations object is driven directly here, as the kernel would call it (open, then
reads of 128 KiB one after the other, a seek, release), over a real local repository whose
pack reads are counted; tests/browse/test_mount.py covers the real FUSE mount.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from snapstore.backend import Kind
from snapstore.backend.local import LocalBackend
from snapstore.base.reporting import Reporter
from snapstore.inspection.mount import ChunkCache, SnapshotFS
from snapstore.store.chunkstore import ChunkStore
from tests.helpers import Workspace, created_name, ok

FUSE_READ = 128 * 1024


class CountingBackend(LocalBackend):
    """The real local backend, counting the reads of pack objects."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.pack_reads = 0

    def get(self, kind: Kind, name: str, offset: int = 0, length: int | None = None) -> bytes:
        if kind is Kind.PACKS:
            self.pack_reads += 1
        return super().get(kind, name, offset, length)


def test_a_file_read_through_the_mount_costs_a_few_batched_reads(
    small_ws: Workspace, tmp_path: Path
) -> None:
    data = random.Random(3).randbytes(400_000)  # ~1,500 chunks of the tiny test chunker
    (small_ws.bulk / "big.bin").write_bytes(data)
    name = created_name(ok(small_ws.run("create", "big", "--no-db")).stdout)
    entry = next(e for _, e in small_ws.manager().snapshot_files(name) if e.path == b"big.bin")
    backend = CountingBackend(small_ws.repo)
    store = ChunkStore.open(backend, str(small_ws.cache))
    try:
        fs = SnapshotFS(backend, ChunkCache(store), Reporter(), tmp_path)
        path = f"/{name}/bulk_store/{small_ws.bulk.name}/big.bin"
        fh = fs.open(path, os.O_RDONLY)
        backend.pack_reads = 0  # indexing the snapshot's tree read its listing
        got = bytearray()
        while piece := fs.read(path, FUSE_READ, len(got), fh):
            got += piece
        assert bytes(got) == data
        assert backend.pack_reads <= len(entry.chunks) / 8, (backend.pack_reads, len(entry.chunks))
        # A seek starts again where it is asked to.
        assert fs.read(path, 999, 12_345, fh) == data[12_345 : 12_345 + 999]
        assert fs.read(path, 10, len(data) - 4, fh) == data[-4:]
        fs.release(path, fh)
    finally:
        store.close()
