"""Sort (key, line) records by key bytes in bounded memory, whatever order the server sent.

Records are kept in memory up to a limit; beyond it each full batch is sorted and written to a
temporary run file, and the runs are merged. Input that is already sorted (the usual case)
costs one linear pass per run. A key seen twice is an error: a consistent read never returns
the same document twice.
"""

from __future__ import annotations

import heapq
import struct
import tempfile
from collections.abc import Iterator
from typing import IO

_HEADER = struct.Struct("<II")
_OVERHEAD = 120  # rough Python object cost of one record, for the memory limit


class DuplicateKey(ValueError):
    """The input held the same key twice."""

    def __init__(self, key: bytes) -> None:
        super().__init__(f"key {key.decode('utf-8', 'replace')!r} was returned twice")
        self.key = key


class KeySorter:
    """Accumulate records with ``add``; ``sorted()`` yields them in key byte order once."""

    def __init__(self, memory_limit: int = 256 * 1024 * 1024, tmpdir: str | None = None) -> None:
        self.memory_limit = memory_limit
        self.tmpdir = tmpdir
        self._records: list[tuple[bytes, bytes]] = []
        self._size = 0
        self._runs: list[IO[bytes]] = []
        self.count = 0
        self.spilled_runs = 0

    def add(self, key: bytes, line: bytes) -> None:
        self._records.append((key, line))
        self._size += len(key) + len(line) + _OVERHEAD
        self.count += 1
        if self._size >= self.memory_limit:
            self._spill()

    def _spill(self) -> None:
        self._records.sort(key=_first)
        f = tempfile.TemporaryFile(  # noqa: SIM115 (kept open until the merge)
            prefix="snapstore-sort-", dir=self.tmpdir, buffering=1 << 20
        )
        write = f.write
        pack = _HEADER.pack
        for key, line in self._records:
            write(pack(len(key), len(line)))
            write(key)
            write(line)
        f.flush()
        f.seek(0)
        self._runs.append(f)
        self.spilled_runs += 1
        self._records = []
        self._size = 0

    def sorted(self) -> Iterator[tuple[bytes, bytes]]:
        """Yield every record in increasing key order; raises DuplicateKey on a repeated key."""
        try:
            if self._runs:
                if self._records:
                    self._spill()
                merged: Iterator[tuple[bytes, bytes]] = heapq.merge(
                    *(_read_run(f) for f in self._runs), key=_first
                )
            else:
                self._records.sort(key=_first)
                records, self._records = self._records, []
                merged = iter(records)
            last: bytes | None = None
            for key, line in merged:
                if key == last:
                    raise DuplicateKey(key)
                last = key
                yield key, line
        finally:
            self.close()

    def close(self) -> None:
        for f in self._runs:
            f.close()
        self._runs = []
        self._records = []


def _first(record: tuple[bytes, bytes]) -> bytes:
    return record[0]


def _read_run(f: IO[bytes]) -> Iterator[tuple[bytes, bytes]]:
    read = f.read
    size = _HEADER.size
    unpack = _HEADER.unpack
    while True:
        head = read(size)
        if not head:
            return
        klen, llen = unpack(head)
        yield read(klen), read(llen)
