"""Restore by difference over a tree with revision digests, without a server: opening only the
entries whose live pairs differ finds exactly the difference the pair-by-pair merge finds, in
trees of several levels and whatever the listing's batches, and reads only the nodes and
leaves on the paths to what changed; the verification's digest of a tree is the sum over its
pairs (spec/database.md, *Restore by difference*, *Verification from digests*)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snapstore.sources.arangodb import restore_tree_merge
from snapstore.sources.arangodb.docchunks import ChunkingParams, TreeBuilder, canonical
from snapstore.sources.arangodb.listing import Batch, pair_hashes
from snapstore.sources.arangodb.restore_merge import TooManyWrites, merge, snapshot_lines
from snapstore.sources.arangodb.restore_tree_merge import TreeMerge
from snapstore.sources.arangodb.revdigest import MASK, pair_hash
from snapstore.sources.arangodb.verify import tree_digest
from snapstore.store.chunkstore import ChunkStore
from tests.arango.test_docchunks import new_store

SMALL = ChunkingParams(leaf_target=256, leaf_max=4096, node_target=128, node_max=2048)
KEYS = "ABCXYZabcxyz0123456789_-:.@"

keys = st.text(alphabet=KEYS, min_size=1, max_size=5)
revs = st.sampled_from(["_a", "_b", "_c"])
sides = st.dictionaries(keys, revs, max_size=120)


def build(store: ChunkStore, snap: dict[str, str]) -> dict[str, Any]:
    builder = TreeBuilder(store, SMALL)
    for key in sorted(snap, key=str.encode):
        doc = {"_key": key, "_rev": snap[key], "pad": "x" * (len(key) * 17 % 90)}
        builder.add(key.encode(), canonical(doc), snap[key])
    tree = builder.finish()
    return {"root": tree.root, "height": tree.height, "count": len(snap)}


def in_batches(live: dict[str, str], size: int) -> Iterator[Batch]:
    ordered = sorted(live)
    for start in range(0, len(ordered), size):
        part = ordered[start : start + size]
        yield part, [live[k] for k in part]


@settings(max_examples=150, deadline=None)
@given(sides, sides, st.integers(1, 40), st.sampled_from([1, 3, 10**6]))
def test_the_tree_merge_finds_what_the_pairwise_merge_finds(
    snap: dict[str, str], live: dict[str, str], batch: int, window: int
) -> None:
    """``window`` 1 and 3: entries above a few documents are opened without being compared."""
    with new_store() as store, pytest.MonkeyPatch.context() as m:
        m.setattr(restore_tree_merge, "WINDOW", window)
        entry = build(store, snap)
        expected = merge(snapshot_lines(store, entry, "t"), iter(sorted(live.items())), limit=10**6)
        assert expected is not None
        if entry["height"] == 0:
            return  # a single leaf: read whole by the caller (restore_decide)
        got = TreeMerge(store, "t", 10**6).run(
            bytes(entry["root"]), entry["height"], in_batches(live, batch)
        )
        assert got.remove == expected.remove
        assert got.put == expected.put
        assert sorted(got.changed) == expected.changed
        assert (got.removed, got.inserted, got.replaced, got.live) == (
            expected.removed,
            expected.inserted,
            expected.replaced,
            expected.live,
        )
        assert sorted(got.leaves) == sorted(expected.leaves)
        assert got.expected is None  # verified from the digests instead


@settings(max_examples=60, deadline=None)
@given(sides, sides, st.integers(0, 6))
def test_the_tree_merge_stops_past_its_limit(
    snap: dict[str, str], live: dict[str, str], limit: int
) -> None:
    with new_store() as store:
        entry = build(store, snap)
        if entry["height"] == 0:
            return
        full = merge(snapshot_lines(store, entry, "t"), iter(sorted(live.items())), limit=10**6)
        assert full is not None
        root, height = bytes(entry["root"]), entry["height"]
        if full.writes > limit:
            with pytest.raises(TooManyWrites):
                TreeMerge(store, "t", limit).run(root, height, in_batches(live, 7))
        else:
            assert TreeMerge(store, "t", limit).run(root, height, in_batches(live, 7)).writes == (
                full.writes
            )


def test_one_change_reads_only_the_path_to_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Of a tree of several levels, one changed document costs the nodes above its leaf and
    the leaf: every other subtree is recognised from its parent's entry."""
    snap = {f"k{i:05}": "_a" for i in range(2000)}
    with new_store() as store:
        entry = build(store, snap)
        assert entry["height"] >= 3
        reads: list[bytes] = []
        real_read, real_many = ChunkStore.read, ChunkStore.read_many
        monkeypatch.setattr(ChunkStore, "read", lambda s, c: reads.append(c) or real_read(s, c))
        monkeypatch.setattr(
            ChunkStore, "read_many", lambda s, cs: real_many(s, (reads.append(c) or c for c in cs))
        )
        live = dict(snap, k01234="_b")
        got = TreeMerge(store, "t", 10).run(
            bytes(entry["root"]), entry["height"], in_batches(live, 500)
        )
        assert (got.replaced, got.put, got.leaves_read) == (1, {"k01234"}, 1)
        # The root, one node per level below it, the leaf (read_many may go through read).
        assert len(set(reads)) == entry["height"] + 1, len(set(reads))


@given(sides)
def test_the_tree_digest_is_the_sum_over_its_pairs(snap: dict[str, str]) -> None:
    with new_store() as store:
        entry = build(store, snap)
        got = tree_digest(store, entry, "t")
        if entry["height"] == 0 and snap:
            assert got is None  # a single leaf has no node to hold it
            return
        total = sum(pair_hash(k.encode(), r) for k, r in snap.items()) & MASK
        assert got == (len(snap), total)
        listed = sorted(snap)
        assert sum(pair_hashes(listed, [snap[k] for k in listed])) & MASK == total
