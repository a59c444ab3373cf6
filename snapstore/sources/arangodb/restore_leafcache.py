"""Restore by difference: a local cache of each snapshot leaf's ``(_key, _rev)`` digest.

Only for trees written before revision digests (node entries without one); a tree with
digests never opens it (spec/database.md, *Restore by difference*). A leaf chunk is named by
the hash of its bytes, so the digest of the pairs it holds is a function of its id, true in
every repository and forever. Once a restore (or its dry run) has read such a leaf, the
digest is kept here; the next merge compares it with the digest of the live pairs in the
leaf's key range (from the tree's nodes) and reads only the leaves whose digests differ. Like
the index cache it lives outside the repository (beside ``index.sqlite``, mode 0600) and can
be deleted at any time: a missing or unreadable cache only means the leaves are read.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import blake3

_SCHEMA = "CREATE TABLE IF NOT EXISTS leaf (id BLOB PRIMARY KEY, pairs BLOB NOT NULL) WITHOUT ROWID"
_CHUNK = 500


def pairs_digest(pairs: Iterable[tuple[str, str]]) -> bytes:
    """BLAKE3 of the pairs in order (``_key`` NUL ``_rev`` LF each), with their count."""
    h = blake3.blake3()
    n = 0
    for key, rev in pairs:
        h.update(f"{key}\0{rev}\n".encode())
        n += 1
    return h.digest(16) + n.to_bytes(8, "little")


class LeafCache:
    """Leaf id -> digest of its pairs; every failure is a miss, never an error."""

    def __init__(self, path: Path | None) -> None:
        self.db: sqlite3.Connection | None = None
        if path is None:
            return
        with contextlib.suppress(sqlite3.Error, OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, timeout=10, isolation_level=None)
            # A cache: losing the last writes to a crash only means reading those leaves again.
            db.execute("PRAGMA synchronous=OFF")
            db.execute(_SCHEMA)
            os.chmod(path, 0o600)
            self.db = db

    def get_many(self, ids: list[bytes]) -> dict[bytes, bytes]:
        out: dict[bytes, bytes] = {}
        if self.db is None:
            return out
        try:
            for start in range(0, len(ids), _CHUNK):
                part = ids[start : start + _CHUNK]
                marks = ",".join("?" * len(part))
                rows = self.db.execute(f"SELECT id, pairs FROM leaf WHERE id IN ({marks})", part)
                out.update((bytes(i), bytes(p)) for i, p in rows)
        except sqlite3.Error:
            return {}
        return out

    def put_many(self, items: dict[bytes, bytes]) -> None:
        if self.db is None or not items:
            return
        try:
            self.db.execute("BEGIN")  # one transaction, not one per row
            self.db.executemany("INSERT OR REPLACE INTO leaf VALUES (?, ?)", items.items())
            self.db.execute("COMMIT")
        except sqlite3.Error:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None
