"""Prove a restore: the live collections hold what the snapshot holds.

Two levels (spec/database.md, *Restore*, step Verify):

* default: while loading, the lines sent are counted and their ``(_key, _rev)`` pairs
  summed into a set hash; afterwards the server lists every document's key and revision
  (``FOR d IN @@c RETURN [d._key, d._rev]``, a few dozen bytes per document instead of the
  document) and the two sets must be equal. That catches missing and extra documents,
  documents a late write replaced (another revision), and a server that ignored
  ``isRestore`` (new revisions everywhere: then the contents are compared without ``_rev``).
  The lines themselves come from chunks verified against their ids on reading.
* ``full`` (``--verify``): every document is read back, re-encoded in the snapshot's line
  format and checksummed; the checksum must equal the one the dump recorded.
"""

from __future__ import annotations

from typing import Any

import orjson

from snapstore.errors import DatabaseError
from snapstore.sources.arangodb.connection import Connection, q
from snapstore.sources.arangodb.docchunks import Checksum, canonical, canonical_for, iter_lines
from snapstore.sources.arangodb.dump import READ_QUERY
from snapstore.sources.arangodb.progress import Progress
from snapstore.store.chunkstore import ChunkStore

Json = dict[str, Any]
REVISIONS_QUERY = "FOR d IN @@c RETURN [d._key, d._rev]"
_MASK64 = 2**64 - 1


class RevisionSet:
    """Order-independent hash of a set of ``(_key, _rev)`` pairs (compared within one run)."""

    def __init__(self) -> None:
        self.count = 0
        self.total = 0

    def add(self, key: Any, rev: Any) -> None:
        self.total = (self.total + hash((key, rev))) & _MASK64
        self.count += 1

    def update(self, other: RevisionSet) -> None:
        self.total = (self.total + other.total) & _MASK64
        self.count += other.count

    def add_lines(self, lines: list[bytes]) -> None:
        for line in lines:
            doc = orjson.loads(line)
            self.add(doc.get("_key"), doc.get("_rev"))


def _cursor(conn: Connection, name: str, query: str, what: str, fast: bool = False) -> Any:
    body = conn.call(
        "post",
        "/_api/cursor",
        what=what,
        data={
            "query": query,
            "bindVars": {"@c": name},
            "batchSize": 10000,
            "ttl": 120,
            "options": {"stream": True},
        },
        fast=fast,
    )
    while True:
        yield from body.get("result") or []
        if not body.get("hasMore"):
            return
        body = conn.call("post", f"/_api/cursor/{q(str(body['id']))}", what=what, fast=fast)


def live_revisions(conn: Connection, name: str) -> RevisionSet:
    out = RevisionSet()
    for key, rev in _cursor(
        conn, name, REVISIONS_QUERY, f"reading back collection {name}", fast=True
    ):
        out.add(key, rev)
    return out


def live_checksum(conn: Connection, section: Json, name: str, keep_rev: bool) -> tuple[int, str]:
    """Count and content checksum of a live collection, each document re-encoded in the
    snapshot's line format (``keep_rev=False``: without ``_rev``, in the plain format)."""
    checksum = Checksum()
    encode = canonical_for(section) if keep_rev else canonical
    for doc in _cursor(conn, name, READ_QUERY, f"reading back collection {name}"):
        if not keep_rev:
            doc.pop("_rev", None)
        checksum.add(encode(doc))
    return checksum.count, checksum.hexdigest()


def _without_rev(line: bytes) -> bytes:
    doc = orjson.loads(line)
    doc.pop("_rev", None)
    return canonical(doc)


class Verifier:
    def __init__(
        self, conn: Connection, store: ChunkStore, section: Json, progress: Progress
    ) -> None:
        self.conn = conn
        self.store = store
        self.section = section
        self.progress = progress

    def _same_without_revisions(self, name: str, entry: Json) -> bool:
        _, live = live_checksum(self.conn, self.section, name, keep_rev=False)
        snap = Checksum()
        where = f"collection {name}"
        root = None if entry.get("root") is None else bytes(entry["root"])
        for line in iter_lines(self.store, root, int(entry.get("height", 0)), where):
            snap.add(_without_rev(line))
        return live == snap.hexdigest()

    def run(self, names: list[str], sent: dict[str, RevisionSet], full: bool) -> Json:
        out: Json = {}
        bad: list[str] = []
        for name in names:
            entry = self.section["collections"][name]
            self.progress.at(f"verifying collection {name}")
            expected = int(entry["count"])
            if full:
                count, checksum = live_checksum(self.conn, self.section, name, keep_rev=True)
                ok = count == expected and checksum == entry.get("checksum")
            else:
                mine = sent[name]
                if mine.count != expected:
                    raise DatabaseError(
                        f"collection {name}: the snapshot's document tree holds {mine.count} "
                        f"documents where its manifest says {expected}: run snapstore check"
                    )
                live = live_revisions(self.conn, name)
                count = live.count
                ok = count == expected and live.total == mine.total
            revisions = True
            if count == expected and not ok and self._same_without_revisions(name, entry):
                # Same documents with other revisions: a server that ignores isRestore.
                ok, revisions = True, False
                self.progress.warnings.append(
                    f"collection {name}: the server did not keep the documents' revisions "
                    "(_rev); contents match"
                )
            out[name] = {
                "expected_count": expected,
                "count": count,
                "checksum_ok": ok,
                "revisions_kept": revisions,
                "read_back": "documents" if full else "keys and revisions",
            }
            if not ok:
                bad.append(f"{name} ({count} documents, snapshot has {expected})")
        if bad:
            raise DatabaseError(
                "after the restore these collections differ from the snapshot: " + ", ".join(bad)
            )
        return out
