"""Restore by difference, the merge rule: what writing a snapshot onto a live collection takes.

A live collection whose definition equals the snapshot's (spec/database.md, *Restore by
difference*) is not dropped and reloaded: its ``(_key, _rev)`` pairs, in key order, are merged
against the snapshot's documents, also in key order, and only the difference is written
(``restore_writes``). This module is that rule and its result: a key only the live side has is
removed, a key only the snapshot has is inserted, a key both have with another ``_rev`` is
replaced. Which collections take this path is ``restore_decide``; which parts of the snapshot
are read to find the difference, ``restore_tree_merge`` (a tree with revision digests) and
``restore_cache_merge`` (a tree written before them).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from snapstore.sources.arangodb.doctree import iter_leaves
from snapstore.sources.arangodb.verify import RevisionSet
from snapstore.store.chunkstore import ChunkStore

Json = dict[str, Any]
Line = tuple[bytes, str, str, bytes]  # (leaf id, _key, _rev, the document's line)


class TooManyWrites(Exception):
    """The difference exceeds the caller's limit: reloading is cheaper, and the merge stops."""


@dataclass
class Difference:
    """What writing the snapshot onto one live collection takes.

    ``expected`` is the set hash of every snapshot pair, for the verification; None when the
    tree carries revision digests, which the verification compares with instead
    (``verify.DigestVerifier``)."""

    remove: list[str] = field(default_factory=list)  # live keys, in key order
    put: set[str] = field(default_factory=set)  # snapshot keys to insert or replace
    changed: list[str] = field(default_factory=list)  # of those, the live ones (replaced)
    leaves: list[bytes] = field(default_factory=list)  # leaves holding them, in key order
    expected: RevisionSet | None = field(default_factory=RevisionSet)
    removed: int = 0
    inserted: int = 0
    replaced: int = 0
    live: int = 0  # documents listed
    leaves_read: int = 0  # snapshot leaves the merge read (the writes read those they name)

    @property
    def writes(self) -> int:
        return self.removed + self.inserted + self.replaced

    def absorb(self, part: Difference, leaf: bytes) -> None:
        """Add the difference found within one leaf (its live pairs already counted)."""
        self.remove.extend(part.remove)
        self.put |= part.put
        self.changed.extend(part.changed)
        if part.put:
            self.leaves.append(leaf)
        if self.expected is not None and part.expected is not None:
            self.expected.update(part.expected)
        self.removed += part.removed
        self.inserted += part.inserted
        self.replaced += part.replaced


def snapshot_lines(store: ChunkStore, entry: Json, where: str) -> Iterator[Line]:
    """``(leaf id, _key, _rev, line)`` of every document of a collection entry, in key order."""
    root = entry.get("root")
    leaves = iter_leaves(
        store, None if root is None else bytes(root), int(entry.get("height", 0)), where
    )
    ids, wanted = itertools.tee(leaves)
    for cid, data in zip(ids, store.read_many(wanted), strict=True):
        yield from leaf_lines(cid, data)


def leaf_lines(cid: bytes, data: bytes) -> list[Line]:
    """The documents of leaf ``cid`` (its bytes ``data``) as merge input."""
    return [(cid, *key_and_rev(line), line) for line in data[:-1].split(b"\n")]


def key_and_rev(line: bytes) -> tuple[str, str]:
    r"""A document line's top-level ``_key`` and ``_rev``, mostly without parsing it.

    A canonical line's members are sorted by name (*Documents: canonical lines*), so unless a
    name sorts before ``_key`` (``_from`` of an edge aside), the line starts with its
    ``_key`` member, directly followed by ``_rev``: both are read where they stand. Keys,
    revisions and document ids never hold ``"`` or ``\``; any other line is parsed in full."""
    p = 1
    if line.startswith(b'"_from":"', 1):
        end = line.find(b'"', 10)
        p = end + 2 if end > 0 and line[end + 1 : end + 2] == b"," else -1
        if p > 0 and b"\\" in line[10:end]:
            p = -1
    if p > 0 and line.startswith(b'"_key":"', p):
        k0 = p + 8
        k1 = line.find(b'"', k0)
        if k1 > 0 and line.startswith(b',"_rev":"', k1 + 1):
            r0 = k1 + 10
            r1 = line.find(b'"', r0)
            key, rev = line[k0:k1], line[r0:r1]
            if r1 > 0 and b"\\" not in key and b"\\" not in rev:
                return key.decode("utf-8"), rev.decode("utf-8")
    doc = orjson.loads(line)
    return str(doc["_key"]), str(doc["_rev"])


def merge(
    snapshot: Iterator[Line], live: Iterator[tuple[str, str]], limit: int
) -> Difference | None:
    """The difference from ``live`` to ``snapshot`` (both in key order); None once it holds
    more than ``limit`` writes (the caller reloads instead)."""
    out = Difference()
    assert out.expected is not None
    s = next(snapshot, None)
    lv = next(live, None)
    last_leaf: bytes | None = None
    seen_leaf: bytes | None = None

    def put(cid: bytes, key: str) -> None:
        nonlocal last_leaf
        out.put.add(key)
        if cid != last_leaf:
            out.leaves.append(cid)
            last_leaf = cid

    while s is not None or lv is not None:
        if lv is not None and (s is None or lv[0] < s[1]):
            out.remove.append(lv[0])
            out.removed += 1
            out.live += 1
            lv = next(live, None)
        else:
            assert s is not None
            cid, key, rev, _ = s
            if cid != seen_leaf:
                out.leaves_read += 1
                seen_leaf = cid
            out.expected.add(key, rev)
            if lv is not None and lv[0] == key:
                out.live += 1
                if lv[1] != rev:
                    put(cid, key)
                    out.changed.append(key)
                    out.replaced += 1
                lv = next(live, None)
            else:
                put(cid, key)
                out.inserted += 1
            s = next(snapshot, None)
        if out.writes > limit:
            return None
    return out


def merge_leaf(
    out: Difference, cid: bytes, data: bytes, keys: Iterable[str], revs: Iterable[str]
) -> None:
    """Merge leaf ``cid`` (its bytes ``data``) with its live segment into ``out``."""
    leaf = leaf_lines(cid, data)
    part = merge(iter(leaf), zip(keys, revs, strict=True), limit=2**62)
    assert part is not None
    out.absorb(part, cid)
