"""The read plan (store/readplan.py) over a real chunk store on a local repository: items in
order, each with exactly its own chunks, read in few pack reads, and every error raised at the
item it belongs to."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from snapstore.backend import Kind
from snapstore.backend.local import LocalBackend
from snapstore.base.errors import CorruptData
from snapstore.store import readplan
from snapstore.store.chunkstore import ChunkStore
from snapstore.store.readplan import ReadPlan
from tests.helpers import flip_byte
from tests.store.test_chunkstore import chunks_of, new_repo


class CountingBackend(LocalBackend):
    """The real local backend, counting reads of pack objects."""

    pack_reads = 0

    def get(self, kind: Kind, name: str, offset: int = 0, length: int | None = None) -> bytes:
        if kind is Kind.PACKS:
            self.pack_reads += 1
        return super().get(kind, name, offset, length)


Item = tuple[str, list[bytes]]  # (name, chunk ids)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ChunkStore]:
    new_repo(tmp_path / "repo", pack_size=1 << 20)
    s = ChunkStore.open(CountingBackend(tmp_path / "repo"), str(tmp_path / "cache"))
    yield s
    s.close()


def _files(store: ChunkStore, n: int, per_file: int) -> tuple[list[Item], dict[bytes, bytes]]:
    data = chunks_of(5, n * per_file)
    ids = [store.add(d)[0] for d in data]
    store.flush()
    items = [(f"f{i}", ids[i * per_file : (i + 1) * per_file]) for i in range(n)]
    return items, dict(zip(ids, data, strict=True))


def _ids(item: Item) -> list[bytes]:
    return item[1]


def test_every_item_gets_exactly_its_chunks_in_few_reads(store: ChunkStore) -> None:
    items, data = _files(store, 300, 3)
    items.insert(10, ("a folder", []))
    store.backend.pack_reads = 0  # type: ignore[attr-defined]
    with ReadPlan(store, items, _ids) as plan:
        for name, ids in plan.items():
            assert list(plan.content()) == [data[c] for c in ids], name
    # 900 chunks of ~450 bytes sit in one pack: a handful of ranged reads, not 900.
    assert store.backend.pack_reads <= 4  # type: ignore[attr-defined]


def test_an_item_whose_content_is_not_read_is_skipped(store: ChunkStore) -> None:
    items, data = _files(store, 20, 2)
    with ReadPlan(store, items, _ids) as plan:
        for i, (_, ids) in enumerate(plan.items()):
            if i % 3 == 0:
                assert list(plan.content()) == [data[c] for c in ids]


def test_segments_end_within_an_item_without_losing_chunks(
    store: ChunkStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readplan, "SEGMENT_CHUNKS", 5)
    monkeypatch.setattr(readplan, "MAX_QUEUED", 2)
    items, data = _files(store, 10, 7)
    with ReadPlan(store, items, _ids) as plan:
        got = [list(plan.content()) for _ in plan.items()]
    assert got == [[data[c] for c in ids] for _, ids in items]


def test_a_damaged_chunk_is_raised_at_its_own_item(store: ChunkStore) -> None:
    items, data = _files(store, 5, 1)
    loc = store.locate(items[3][1][0])
    assert loc is not None
    root = Path(store.backend.location)  # type: ignore[attr-defined]
    flip_byte(root / "packs" / loc.pack[:2] / loc.pack, loc.offset + loc.length // 2)
    with ReadPlan(store, items, _ids) as plan:
        it = plan.items()
        for _ in range(3):
            name, ids = next(it)
            assert list(plan.content()) == [data[c] for c in ids], name
        assert next(it)[0] == "f3"
        with pytest.raises(CorruptData, match="does not match"):
            list(plan.content())


def test_errors_listing_items_or_their_ids_come_in_order(store: ChunkStore) -> None:
    items, data = _files(store, 4, 2)

    def source() -> Iterator[Item]:
        yield from items[:2]
        raise CorruptData("the listing is damaged after f1")

    with ReadPlan(store, source(), _ids) as plan:
        it = plan.items()
        for name, ids in items[:2]:
            assert next(it)[0] == name
            assert list(plan.content()) == [data[c] for c in ids]
        with pytest.raises(CorruptData, match="after f1"):
            next(it)

    def ids(item: Item) -> Iterator[bytes]:
        yield from item[1]
        if item[0] == "f2":
            raise CorruptData("the tree of f2 is damaged")

    with ReadPlan(store, items, ids) as plan:
        it = plan.items()
        for name, chunk_ids in items[:2]:
            assert next(it)[0] == name
            assert list(plan.content()) == [data[c] for c in chunk_ids]
        assert next(it)[0] == "f2"
        with pytest.raises(CorruptData, match="tree of f2"):
            list(plan.content())
