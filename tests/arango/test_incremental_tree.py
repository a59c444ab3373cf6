"""The incremental dump's central invariant, without a server: merging a ``(_key, _rev)``
listing with the parent's tree gives the very tree (same root chunk id) that building from
every document gives, whatever changed (spec/database.md, *Incremental dump*), and reads only
the parent leaves that changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snapstore.sources.arangodb import incremental
from snapstore.sources.arangodb.docchunks import (
    Checksum,
    ChunkingParams,
    TreeBuilder,
    TreeResult,
    canonical,
    iter_lines,
)
from snapstore.sources.arangodb.doctree import NodeEntry, encode_node
from snapstore.sources.arangodb.incremental import Merge, ParentUnusable, parent_groups
from snapstore.store.chunkstore import ChunkStore
from tests.arango.test_docchunks import new_store

SMALL = ChunkingParams(leaf_target=256, leaf_max=4096, node_target=128, node_max=2048)
# A low leaf_max makes the size cap (boundary rule 1) cut runs of small documents.
CAPPED = ChunkingParams(leaf_target=512, leaf_max=700, node_target=128, node_max=1024)
KEYS = "ABCXYZabcxyz0123456789_-:.@"

Docs = dict[str, dict[str, Any]]


def full(store: ChunkStore, docs: Docs, params: ChunkingParams) -> tuple[TreeResult, Checksum]:
    checksum = Checksum()
    builder = TreeBuilder(store, params, checksum=checksum)
    for key in sorted(docs, key=str.encode):
        doc = dict(docs[key])
        builder.add(key.encode(), canonical(doc), docs[key]["_rev"])
    return builder.finish(), checksum


def entry_of(tree: TreeResult, checksum: Checksum) -> dict[str, Any]:
    return {
        "root": tree.root,
        "height": tree.height,
        "count": tree.stats.docs,
        "checksum": checksum.hexdigest(),
    }


class Incremental:
    def __init__(self, store: ChunkStore, parent: dict[str, Any], params: ChunkingParams) -> None:
        self.store = store
        self.checksum = Checksum.of(parent["checksum"], parent["count"])
        self.builder = TreeBuilder(store, params, checksum=self.checksum)
        self.fetched: list[str] = []
        self.merge = Merge(
            store,
            self.builder,
            parent_groups(store, parent, "parent"),
            self.fetch,
            self.checksum,
            "parent",
        )
        self.docs: Docs = {}

    def fetch(self, keys: list[str]) -> Iterator[dict[str, Any]]:
        self.fetched += keys
        return (dict(self.docs[k]) for k in reversed(keys))  # any order will do

    def run(self, docs: Docs) -> TreeResult:
        self.docs = docs
        listing = [(k, docs[k]["_rev"]) for k in sorted(docs, key=str.encode)]
        self.merge.run(iter(listing))
        return self.builder.finish()


def check_same(docs_a: Docs, docs_b: Docs, params: ChunkingParams) -> Incremental:
    with new_store() as store:
        a, ca = full(store, docs_a, params)
        inc = Incremental(store, entry_of(a, ca), params)
        got = inc.run(docs_b)
        want, cw = full(store, docs_b, params)
        assert (got.root, got.height) == (want.root, want.height)
        assert inc.checksum.hexdigest() == cw.hexdigest()
        assert (got.stats.docs, got.stats.bytes) == (want.stats.docs, want.stats.bytes)
        assert got.stats.leaves == want.stats.leaves
        if want.root is not None:
            assert list(iter_lines(store, got.root, got.height, "t")) == list(
                iter_lines(store, want.root, want.height, "t")
            )
        return inc


_rev_counter = iter(range(10**9))


def rev() -> str:
    return f"r{next(_rev_counter)}"


def doc(key: str, size: int) -> dict[str, Any]:
    return {"_key": key, "_rev": rev(), "v": "x" * size}


sizes = st.one_of(
    st.integers(0, 40), st.integers(0, 300), st.sampled_from([250, 255, 256, 600, 5000])
)


@st.composite
def histories(draw: st.DrawFn) -> tuple[Docs, Docs]:
    keys = draw(st.lists(st.text(KEYS, min_size=1, max_size=8), unique=True, max_size=80))
    a = {k: doc(k, draw(sizes)) for k in keys}
    b = {k: dict(v) for k, v in a.items()}
    for op in draw(st.lists(st.sampled_from(["update", "insert", "remove", "same"]), max_size=12)):
        if op == "insert":
            k = draw(st.text(KEYS, min_size=1, max_size=8))
            b[k] = doc(k, draw(sizes))
        elif b and op in ("update", "remove"):
            k = draw(st.sampled_from(sorted(b)))
            if op == "remove":
                del b[k]
            else:
                b[k] = doc(k, draw(sizes))
    if draw(st.integers(0, 20)) == 0:
        b = {}
    return a, b


@settings(max_examples=200)
@given(histories(), st.sampled_from([SMALL, CAPPED]))
def test_incremental_tree_equals_full_tree(h: tuple[Docs, Docs], params: ChunkingParams) -> None:
    check_same(h[0], h[1], params)


def many(n: int, size: int = 60) -> Docs:
    return {f"k{i:05d}": doc(f"k{i:05d}", size + (i * 37) % 200) for i in range(n)}


@pytest.mark.parametrize(
    "change",
    [
        "none",
        "insert-before-first",
        "insert-after-last",
        "remove-first",
        "remove-last",
        "update-one",
        "emptied",
        "grow-big",
        "shrink-big",
        "remove-big",
    ],
)
def test_edge_cases_keep_the_full_dumps_tree(change: str) -> None:
    a = many(300)
    a["k00100"] = doc("k00100", 3000)  # a document above leaf_target: a leaf of its own
    b = {k: dict(v) for k, v in a.items()}
    if change == "insert-before-first":
        b["a"] = doc("a", 10)
    elif change == "insert-after-last":
        b["z"] = doc("z", 10)
    elif change == "remove-first":
        del b["k00000"]
    elif change == "remove-last":
        del b["k00299"]
    elif change == "update-one":
        b["k00150"] = doc("k00150", 90)
    elif change == "emptied":
        b = {}
    elif change == "grow-big":
        b["k00200"] = doc("k00200", 4000)
    elif change == "shrink-big":
        b["k00100"] = doc("k00100", 10)
    elif change == "remove-big":
        # The leaf before it ended because of it: now it runs on into the next leaf.
        del b["k00100"]
    inc = check_same(a, b, SMALL)
    if change == "none":
        assert inc.fetched == [] and inc.merge.stats.read_leaves == 0
    if change == "update-one":
        assert inc.fetched == ["k00150"]
        assert inc.merge.stats.read_leaves <= 3  # the leaf, and at most its neighbours


@pytest.mark.parametrize("n", [0, 1, 2])
def test_tiny_collections(n: int) -> None:
    for m in (0, 1, 2, 5):
        check_same(many(n), many(m), SMALL)
        check_same(many(m), many(n), SMALL)


def test_unchanged_collection_reads_no_leaf_and_fetches_nothing() -> None:
    a = many(2000)
    inc = check_same(a, a, SMALL)
    assert inc.fetched == [] and inc.merge.stats.read_leaves == 0
    assert inc.builder.reused_leaves == inc.merge.stats.reused_leaves > 50
    assert inc.builder.reused_nodes > 5  # whole level-1 nodes, not leaf by leaf


def test_a_tree_written_before_digests_cannot_serve() -> None:
    a = many(200)
    with new_store() as store:
        tree, checksum = full(store, a, SMALL)
        assert tree.height >= 1
        # The same leaves listed by one node of 5-element entries, as older snapshots wrote.
        legacy = [
            NodeEntry(e.first_key, e.last_key, e.child, e.docs, e.bytes)
            for _, leaves in parent_groups(store, entry_of(tree, checksum), "t")
            for e in leaves
        ]
        root, _ = store.add(encode_node(1, legacy))
        parent = {**entry_of(tree, checksum), "root": root, "height": 1}
        assert list(iter_lines(store, root, 1, "t")) == list(
            iter_lines(store, tree.root, tree.height, "t")
        )
        with pytest.raises(ParentUnusable, match="no revision digests"):
            Incremental(store, parent, SMALL).run(a)


@given(
    st.text(max_size=300),
    st.text(max_size=40),
    st.integers(0, 2**40),
    st.integers(0, 2**40),
    st.booleans(),
    st.booleans(),
)
def test_entry_size_is_the_msgpack_length(
    first: str, last: str, docs: int, size: int, digest: bool, closed: bool
) -> None:
    import msgpack

    from snapstore.sources.arangodb.docchunks import _entry_size
    from snapstore.sources.arangodb.doctree import NodeEntry

    entry = NodeEntry(first, last, bytes(32), docs, size, bytes(16) if digest else None, closed)
    assert _entry_size(entry) == len(msgpack.packb(entry.to_list(), use_bin_type=True))


@settings(max_examples=100)
@given(histories(), st.sampled_from([SMALL, CAPPED]), st.integers(1, 6))
def test_small_windows_keep_the_full_dumps_tree(
    h: tuple[Docs, Docs], params: ChunkingParams, window: int
) -> None:
    """Windows flushed every few items: changed leaves read in batches across flushes, and
    fetches split, still give the full dump's tree."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(incremental, "WINDOW_ITEMS", window)
        m.setattr(incremental, "FETCH_BATCH", max(1, window // 2))
        m.setattr(incremental, "WINDOW_BYTES", 100 * window)
        check_same(h[0], h[1], params)


def test_the_window_holds_a_bounded_number_of_leaf_entries() -> None:
    """Memory stays bounded on an unchanged collection: a kept level-1 node counts as the
    leaves it lists, so a flush never holds more than WINDOW_ITEMS leaf entries plus one
    node's."""
    held: list[int] = []
    widest = [0]
    real_flush = Merge._flush

    def flush(self: Merge) -> None:
        nodes = [len(item[2]) for item in self._window if item[0] == "node"]
        widest[0] = max([widest[0], *nodes])
        held.append(sum(nodes) + sum(1 for item in self._window if item[0] != "node"))
        real_flush(self)

    wide = ChunkingParams(leaf_target=256, leaf_max=4096, node_target=2048, node_max=32768)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(incremental, "WINDOW_ITEMS", 40)
        m.setattr(Merge, "_flush", flush)
        a = many(3000)
        inc = check_same(a, a, wide)
    assert inc.merge.stats.reused_leaves > 200 and len(held) > 3 and widest[0] > 8
    assert max(held) <= 40 + widest[0]
