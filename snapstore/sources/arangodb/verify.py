"""Prove a restore: the live collections hold what the snapshot holds.

Two levels (spec/database.md, *Restore*, step Verify):

* default: while loading, the lines sent are counted and their ``(_key, _rev)`` pairs
  summed into a set hash; afterwards the server lists every document's key and revision
  (``FOR d IN @@c RETURN [d._key, d._rev]``, a few dozen bytes per document instead of the
  document) and the two sets must be equal. That catches missing and extra documents,
  documents a late write replaced (another revision), and a server that ignored
  ``isRestore`` (new revisions everywhere: then the contents are compared without ``_rev``).
  The lines themselves come from chunks verified against their ids on reading.
* from digests, for a collection merged against a tree with revision digests
  (``DigestCheck``): the same listing, each pair hashed as the tree's revision digests are
  (``revdigest``), and the sum compared with the one the root node holds for the whole
  collection, with the count. Nothing of the snapshot is read but the root node, and
  nothing needs to be collected during the merge.
* ``full`` (``--verify``): every document is read back, re-encoded in the snapshot's line
  format and checksummed; the checksum must equal the one the dump recorded.
"""

from __future__ import annotations

from typing import Any

import orjson

from snapstore.base.errors import DatabaseError
from snapstore.sources.arangodb.connection import Connection, q
from snapstore.sources.arangodb.docchunks import Checksum, canonical, canonical_for, iter_lines
from snapstore.sources.arangodb.doctree import read_node
from snapstore.sources.arangodb.dump import READ_QUERY
from snapstore.sources.arangodb.listing import (
    ANY_ORDER_QUERY,
    batches,
    cursor_request,
    pair_hashes,
)
from snapstore.sources.arangodb.progress import Progress
from snapstore.sources.arangodb.revdigest import MASK
from snapstore.store.chunkstore import ChunkStore

Json = dict[str, Any]
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


def _cursor(conn: Connection, name: str, query: str, what: str) -> Any:
    body = conn.call("post", "/_api/cursor", what=what, data=cursor_request(name, query))
    while True:
        yield from body.get("result") or []
        if not body.get("hasMore"):
            return
        body = conn.call("post", f"/_api/cursor/{q(str(body['id']))}", what=what)


def live_revisions(conn: Connection, name: str) -> RevisionSet:
    out = RevisionSet()
    for keys, revs in batches(conn, name, ANY_ORDER_QUERY, f"reading back collection {name}"):
        # RevisionSet.add for each pair, summed in one C-level loop.
        out.total = (out.total + sum(map(hash, zip(keys, revs, strict=True)))) & _MASK64
        out.count += len(keys)
    return out


def tree_digest(store: ChunkStore, entry: Json, where: str) -> tuple[int, int] | None:
    """Count and revision digest of every document of a collection entry, from its root node
    alone (its entries' sums); None when the tree has no digests or is a single leaf."""
    root, height = entry.get("root"), int(entry.get("height", 0))
    if root is None:
        return 0, 0
    if height == 0:
        return None
    entries = read_node(store, bytes(root), height, where)
    if any(e.digest is None for e in entries):
        return None
    return sum(e.docs for e in entries), sum(
        int.from_bytes(e.digest or b"", "little") for e in entries
    ) & MASK


def live_digest(conn: Connection, name: str) -> tuple[int, int]:
    """Count and revision digest of a live collection's pairs, listed in any order."""
    count = total = 0
    what = f"reading back the keys and revisions of collection {name}"
    for keys, revs in batches(conn, name, ANY_ORDER_QUERY, what):
        count += len(keys)
        total += sum(pair_hashes(keys, revs))
    return count, total & MASK


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

    def _tree_count_problem(self, name: str, held: int, expected: int) -> DatabaseError:
        return DatabaseError(
            f"collection {name}: the snapshot's document tree holds {held} "
            f"documents where its manifest says {expected}: run snapstore check"
        )

    def _by_revisions(self, name: str, expected: int, mine: RevisionSet | None) -> tuple[int, bool]:
        """Count and agreement of the live pairs with the set sent (``mine``) or, when None,
        with the tree's revision digests."""
        if mine is None:
            where = f"collection {name}"
            held = tree_digest(self.store, self.section["collections"][name], where)
            if held is None:
                raise AssertionError(f"{where}: no set to verify against and no digests")
            if held[0] != expected:
                raise self._tree_count_problem(name, held[0], expected)
            count, digest = live_digest(self.conn, name)
            return count, count == expected and digest == held[1]
        if mine.count != expected:
            raise self._tree_count_problem(name, mine.count, expected)
        live = live_revisions(self.conn, name)
        return live.count, live.count == expected and live.total == mine.total

    def run(self, names: list[str], sent: dict[str, RevisionSet | None], full: bool) -> Json:
        """Verify each collection of ``names``: every document read back (``full``), else the
        live pairs against ``sent[name]`` (the pairs the restore sent or merged) or, where
        that is None, against the tree's revision digests."""
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
                count, ok = self._by_revisions(name, expected, sent[name])
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
                "compared_with": "checksum"
                if full
                else ("revision digests" if sent[name] is None else "revisions sent"),
            }
            if not ok:
                bad.append(f"{name} ({count} documents, snapshot has {expected})")
        if bad:
            raise DatabaseError(
                "after the restore these collections differ from the snapshot: " + ", ".join(bad)
            )
        return out
