"""Restore by difference without a server: the merge of the two key-ordered streams against a
plain dictionary model, and the quick ``_key``/``_rev`` reading of a line against a parser
(spec/database.md, *Restore by difference*)."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from snapstore.sources.arangodb.docchunks import canonical
from snapstore.sources.arangodb.restore_leafcache import LeafCache, pairs_digest
from snapstore.sources.arangodb.restore_merge import key_and_rev, merge

keys = st.text(alphabet="ABab09_-:.@()+,=;$!*'%", min_size=1, max_size=6)
revs = st.sampled_from(["_a", "_b", "_c"])
sides = st.dictionaries(keys, revs, max_size=30)


def _snapshot(pairs: dict[str, str], per_leaf: int = 3) -> list[tuple[bytes, str, str, bytes]]:
    ordered = sorted(pairs)
    return [(bytes([i // per_leaf]) * 32, k, pairs[k], b"") for i, k in enumerate(ordered)]


@given(sides, sides)
def test_the_merge_finds_exactly_the_difference(snap: dict[str, str], live: dict[str, str]) -> None:
    diff = merge(iter(_snapshot(snap)), iter(sorted(live.items())), limit=10**6)
    assert diff is not None
    assert diff.remove == sorted(live.keys() - snap.keys())
    assert diff.put == {k for k in snap if live.get(k) != snap[k]}
    assert diff.changed == sorted(k for k in snap.keys() & live.keys() if live[k] != snap[k])
    assert (diff.removed, diff.inserted, diff.replaced) == (
        len(live.keys() - snap.keys()),
        len(snap.keys() - live.keys()),
        len(diff.changed),
    )
    assert diff.live == len(live) and diff.expected.count == len(snap)
    # Exactly the leaves holding a document to put, in order, each once.
    holding = {cid for cid, k, _, _ in _snapshot(snap) if k in diff.put}
    assert diff.leaves == sorted(holding)


@given(sides, sides, st.integers(0, 5))
def test_the_merge_stops_past_its_limit(
    snap: dict[str, str], live: dict[str, str], limit: int
) -> None:
    diff = merge(iter(_snapshot(snap)), iter(sorted(live.items())), limit=limit)
    full = merge(iter(_snapshot(snap)), iter(sorted(live.items())), limit=10**6)
    assert full is not None
    assert (diff is None) == (full.writes > limit)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["_key", "_rev", 'x"_key', "a", "Z"]), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(
    keys,
    st.text(alphabet="_-abcXYZ019", min_size=1, max_size=12),
    st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    st.none() | st.text(max_size=8),
)
def test_key_and_rev_read_like_a_parser(
    key: str, rev: str, body: dict[str, Any], edge: str | None
) -> None:
    if edge is not None:  # an edge: _from sorts before _key
        body = {**body, "_from": f"v/{edge}", "_to": "w/x"}
    line = canonical({**body, "_key": key, "_rev": rev})
    assert key_and_rev(line) == (key, rev)
    doc = orjson.loads(line)
    assert (doc["_key"], doc["_rev"]) == (key, rev)


def test_the_leaf_cache_keeps_digests_and_a_broken_one_is_only_a_miss(tmp_path: Any) -> None:
    path = tmp_path / "c" / "leaf-pairs.sqlite"
    cache = LeafCache(path)
    items = {i.to_bytes(32, "little"): pairs_digest([(f"k{i}", "_r")]) for i in range(1200)}
    cache.put_many(items)
    cache.close()
    again = LeafCache(path)
    assert again.get_many(list(items)) == items
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    again.close()
    path.write_bytes(b"not a database at all" * 100)
    broken = LeafCache(path)
    assert broken.get_many(list(items)) == {}
    broken.put_many(items)  # no error either
    broken.close()
    assert pairs_digest([("a", "b")]) != pairs_digest([("a", "c")])
    assert pairs_digest([("a", "b"), ("c", "d")]) != pairs_digest([("a", "bc"), ("", "d")])
