"""Which destination id a source chunk got, remembered between copies (spec/copy.md,
"Re-identification").

When two repositories name chunks differently, the destination's id of a source chunk can only
be computed from the chunk's bytes. A nightly copy of a large tree would read every chunk of
every snapshot again to find out that the destination has it; this map answers from the local
cache instead. It lives in the destination's cache folder
(``<cache root>/<destination id>/copy-from-<source id>.sqlite``, 0600) and, like every cache,
may be deleted at any time: the next copy then reads the source chunks again (and still sends
only those the destination lacks). An answer is used only after the destination's index
confirms it holds the chunk, so a stale map (after a gc in the destination) costs a read,
never a wrong reference.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from snapstore.store.cache import private_dir, private_file, repository_cache_dir

LOOKUP = 500  # ids per query (SQLite's variable limit is higher, this keeps statements small)


def map_path(cache_dir: str | None, source_id: str, dest_id: str) -> Path:
    return repository_cache_dir(cache_dir, dest_id) / f"copy-from-{source_id}.sqlite"


class IdMap:
    """source chunk id -> destination chunk id, on disk."""

    def __init__(self, path: Path) -> None:
        private_dir(path.parent)
        if not path.exists():
            os.close(private_file(path))  # created 0600 before SQLite writes anything in it
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS ids (src BLOB PRIMARY KEY, dst BLOB NOT NULL) WITHOUT ROWID"
        )

    def lookup(self, ids: Iterable[bytes]) -> dict[bytes, bytes]:
        wanted = list(ids)
        out: dict[bytes, bytes] = {}
        for i in range(0, len(wanted), LOOKUP):
            part = wanted[i : i + LOOKUP]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(f"SELECT src, dst FROM ids WHERE src IN ({marks})", part)
            out.update((bytes(s), bytes(d)) for s, d in rows)
        return out

    def remember(self, pairs: dict[bytes, bytes]) -> None:
        if not pairs:
            return
        self._db.execute("BEGIN")
        try:
            self._db.executemany("INSERT OR REPLACE INTO ids VALUES (?, ?)", pairs.items())
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()
