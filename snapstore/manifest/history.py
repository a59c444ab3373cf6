"""Has the repository gone back in time since this client last read its catalog?

The client remembers the newest catalog state it has seen (``store.cache.CatalogMemory``: the
catalog's generation and each snapshot's manifest generation). Reading the catalog again, three
things cannot come from snapstore's own changes, made by this client or any other
(spec/manifest.md, "Going back in time"):

- a manifest whose generation is below the one remembered: an older copy was put back (the
  copy from before a pin: the snapshot is silently unpinned; from before an archive);
- a remembered snapshot that is gone while no manifest records its delete: a manifest was
  removed (the newest ones are named by no predecessor rule), or the whole repository was put
  back from an earlier copy;
- a catalog generation below the remembered one: the whole repository was put back.

Changes by other clients pass: their writes carry higher generations and their deletes are
recorded by the witness manifest (``manifest.catalog``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from snapstore.manifest.catalog import HISTORY_DAYS, Listing, delete_records, generation
from snapstore.store.cache import CatalogMemory


@dataclass
class History:
    """The problems found (one line each) and the state to remember from now on."""

    problems: list[str]
    memory: CatalogMemory


def compare(memory: CatalogMemory | None, listing: Listing, now: datetime) -> History:
    """Compare the catalog just read (``listing``) with what this client saw before.

    The new memory keeps, for each snapshot, the highest generation seen, and keeps a
    snapshot that vanished without a recorded delete, so the warning repeats until the user
    accepts the state (by deleting the memory file)."""
    stamp = now.isoformat(timespec="microseconds")
    current = {m.name: m for m in listing.manifests}
    present = set(current) | set(listing.unreadable)
    records = delete_records(listing)
    gen_now = generation(listing)
    problems: list[str] = []
    remembered: dict[str, int] = {}
    old = memory or CatalogMemory()
    if not present:
        # Every snapshot deleted leaves no manifest to record the last delete, so an empty
        # catalog is not called a step back (and an empty repository is plain to see).
        old = CatalogMemory()
    # A memory older than the delete records are kept cannot tell a delete from a removal.
    stale = bool(old.seen_at) and old.seen_at < (now - timedelta(days=HISTORY_DAYS)).isoformat()
    for name, seen in sorted(old.snapshots.items()):
        m = current.get(name)
        if m is not None:
            if m.generation < seen:
                problems.append(
                    f"snapshot {name}: its manifest is an older copy (generation {m.generation}) "
                    f"than the one this client saw (generation {seen}): a pin, unpin or archive "
                    f"was undone (it now reads permanent={m.permanent}, "
                    f"compression={m.compression})"
                )
            remembered[name] = max(seen, m.generation)
        elif name in present or name in listing.missing:
            remembered[name] = seen  # damaged, or named by a successor: reported already
        elif name not in records and not stale:
            problems.append(
                f"snapshot {name}: gone from the repository, and no snapstore delete recorded "
                "it: its manifest was removed, or the repository was put back to an earlier copy"
            )
            remembered[name] = seen
    # Last: the snapshot lines above say more, when there are any. A damaged manifest, or one
    # removed that a successor names, may hold the newest generation: it is reported already.
    if gen_now < old.generation and not listing.unreadable and not listing.missing:
        problems.append(
            f"the catalog's newest change (generation {gen_now}) is older than the newest this "
            f"client saw (generation {old.generation}): the repository was put back to an "
            "earlier copy"
        )
    for name, m in current.items():
        remembered[name] = max(remembered.get(name, 0), m.generation)
    return History(
        problems,
        CatalogMemory(max(old.generation, gen_now), remembered, stamp),
    )


def forget(memory: CatalogMemory, names: list[str]) -> CatalogMemory:
    """The memory after this client deleted ``names`` (a delete that left no manifest to
    record it, the last snapshot, is then no alarm here)."""
    kept = {n: g for n, g in memory.snapshots.items() if n not in names}
    # Called right after a refresh: the survivors' generations are current, and the delete's
    # witness holds the newest one; with no survivor the catalog's clock is back at 0.
    return CatalogMemory(max(kept.values(), default=0), kept, memory.seen_at)


def summary(problems: list[str], memory_file: str) -> str:
    """The one warning line of ``list`` and ``create``."""
    named = [p.split(":", 1)[0].removeprefix("snapshot ") for p in problems[1:]]
    named = [n for n in named if " " not in n]
    more = ""
    if len(problems) > 1:
        more = f" (and {len(problems) - 1} more" + (f": {', '.join(named)})" if named else ")")
    return (
        f"the repository has gone back in time since this client last read it: "
        f"{problems[0]}{more}; run `snapstore check` for details. {accept_hint(memory_file)}"
    )


def accept_hint(memory_file: str) -> str:
    return (
        f"If it was put back from a backup on purpose, accept its state by deleting {memory_file}"
    )
