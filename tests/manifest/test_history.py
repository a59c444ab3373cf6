"""The comparison of a catalog with a client's memory of it, as a pure function
(spec/manifest.md, "Going back in time"); tests/lifecycle/test_going_back_in_time.py runs
the same rules on real repositories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from snapstore.manifest.catalog import HISTORY_DAYS, Listing
from snapstore.manifest.history import compare, forget
from snapstore.manifest.schema import Manifest
from snapstore.store.cache import CatalogMemory

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _m(name: str, gen: int, deleted: dict[str, str] | None = None) -> Manifest:
    return Manifest(
        name=name,
        created=NOW.isoformat(),
        timestamp="2026-06-01T00:00:00",
        description=name,
        generation=gen,
        deleted=deleted or {},
    )


def _seen(days_ago: float, **snaps: int) -> CatalogMemory:
    when = (NOW - timedelta(days=days_ago)).isoformat()
    return CatalogMemory(max(snaps.values(), default=0), dict(snaps), when)


def test_first_look_compares_nothing_and_remembers_everything() -> None:
    h = compare(None, Listing(manifests=[_m("a", 1), _m("b", 3)]), NOW)
    assert h.problems == []
    assert h.memory.snapshots == {"a": 1, "b": 3} and h.memory.generation == 3


def test_newer_generations_and_recorded_deletes_pass() -> None:
    listing = Listing(manifests=[_m("a", 5, deleted={"b": NOW.isoformat()}), _m("c", 6)])
    h = compare(_seen(1, a=1, b=2), listing, NOW)
    assert h.problems == []
    assert h.memory.snapshots == {"a": 5, "c": 6}  # b is forgotten: it was deleted


def test_an_older_copy_a_vanished_snapshot_and_a_clock_gone_back_are_problems() -> None:
    h = compare(_seen(1, a=4, b=2), Listing(manifests=[_m("a", 3)]), NOW)
    assert len(h.problems) == 3
    assert h.problems[0].startswith("snapshot a: its manifest is an older copy (generation 3)")
    assert h.problems[1].startswith("snapshot b: gone from the repository")
    assert "put back to an earlier copy" in h.problems[2]
    # The memory keeps the newer state, so the next look says it again.
    assert h.memory.snapshots == {"a": 4, "b": 2} and h.memory.generation == 4
    assert len(compare(h.memory, Listing(manifests=[_m("a", 3)]), NOW).problems) == 3


def test_a_memory_older_than_the_delete_records_cannot_call_a_removal() -> None:
    listing = Listing(manifests=[_m("a", 7)])
    h = compare(_seen(HISTORY_DAYS + 1, a=1, b=2), listing, NOW)
    assert h.problems == []


def test_forgetting_this_clients_delete_of_the_last_snapshot() -> None:
    memory = forget(_seen(0, only=3), ["only"])
    assert compare(memory, Listing(), NOW).problems == []


def test_an_empty_catalog_is_not_a_step_back() -> None:
    # The last snapshot's delete has no surviving manifest to record it (spec/manifest.md).
    h = compare(_seen(0, a=3, b=4), Listing(), NOW)
    assert h.problems == [] and h.memory.snapshots == {} and h.memory.generation == 0
