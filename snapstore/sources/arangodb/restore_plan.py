"""What a database restore will do, decided before anything is changed (spec/database.md).

The checks every restore makes first (the section's format, the collections asked for, what
the target server can take and which collections must be rebuilt in place), and the plan that
``restore --dry-run`` shows: which collections are dropped, created, replaced or already
equal, and with the snapshot's store what the restore will write into each (the same
decision and listing the restore makes, ``restore_decide``).
"""

from __future__ import annotations

import copy
from typing import Any

from snapstore.base.errors import DatabaseError, InvalidInput
from snapstore.sources.arangodb import objects, restore_decide, teardown
from snapstore.sources.arangodb.connection import Connection, q
from snapstore.sources.arangodb.dump import SECTION_FORMAT
from snapstore.sources.arangodb.target import Target, require_vector_support
from snapstore.sources.arangodb.verify import live_checksum
from snapstore.sources.database import CollectionWrites, DatabaseRestorePlan
from snapstore.store.chunkstore import ChunkStore

Json = dict[str, Any]


def check_section(section: Json) -> None:
    fmt = section.get("format")
    if not isinstance(fmt, int) or fmt > SECTION_FORMAT:
        raise DatabaseError(
            f"the snapshot's database section has format {fmt!r}; this snapstore reads "
            f"format {SECTION_FORMAT}: upgrade snapstore"
        )


def selected(section: Json, collections: list[str] | None) -> list[str]:
    """The snapshot collections to restore (all, or the requested ones, which must exist)."""
    names = sorted(section.get("collections") or {})
    if collections is None:
        return names
    missing = [c for c in collections if c not in names]
    if missing:
        raise InvalidInput(
            f"collection {missing[0]!r} is not in the snapshot (it has: "
            f"{', '.join(names) or 'no collections'})"
        )
    return sorted(set(collections))


def unpacked(section: Json) -> Json:
    if section.get("big_integers"):
        unpacked: Json = objects.unpack_big_ints(copy.deepcopy(section), section["big_integers"])
        return unpacked
    return section


def preflight(
    conn: Connection, target: Target, section: Json, wanted: list[str], live: list[str], full: bool
) -> dict[str, str]:
    """Refuse now what would fail only after the teardown; returns the collections to
    rebuild in place (name -> why they cannot be dropped)."""
    require_vector_support(conn, target, section, wanted)
    if full:
        return {}
    replaced = sorted(set(live) & set(wanted))
    leader_of = teardown.leaders(conn, target, live)
    in_place = teardown.undroppable(conn, replaced, live, leader_of)
    problems = teardown.in_place_problems(conn, target, section, in_place)
    if problems:
        raise DatabaseError(
            "; ".join(problems) + ": restore the whole database instead, or delete the graph "
            "(or the followers) first; nothing was changed"
        )
    return in_place


def plan(
    conn: Connection,
    section: Json,
    collections: list[str] | None,
    compare: bool = False,
    store: ChunkStore | None = None,
) -> DatabaseRestorePlan:
    """What a restore would do; with ``compare`` also which live collections already equal
    the snapshot, and with ``store`` what it will write into each (the same listing and merge
    the restore makes, spec/database.md *Restore by difference*)."""
    check_section(section)
    wanted = selected(section, collections)
    exists = conn.probe()
    live = objects.list_collections(conn) if exists else []
    section = unpacked(section)
    target = Target.read(conn)
    if exists:
        preflight(conn, target, section, wanted, live, collections is None)
    else:
        require_vector_support(conn, target, section, wanted)
    drop = [] if collections is not None else sorted(set(live) - set(wanted))
    out = DatabaseRestorePlan(drop=drop, create=sorted(set(wanted) - set(live)))
    kept = sorted(set(live) & set(wanted))
    if compare and store is not None:
        decisions = restore_decide.decide_all(
            conn, store, section, kept, teardown.leaders(conn, target, live)
        )
        for name in kept:
            d = decisions[name]
            if d.difference is not None and not d.difference.writes:
                out.same.append(name)
            else:
                out.replace.append(name)
        out.writes = _writes(conn, section, out, decisions)
        return out
    for name in kept:
        if compare and equals_snapshot(conn, section, name):
            out.same.append(name)
        else:
            out.replace.append(name)
    return out


def _writes(
    conn: Connection,
    section: Json,
    plan: DatabaseRestorePlan,
    decisions: dict[str, restore_decide.Decision],
) -> list[CollectionWrites]:
    coll = section["collections"]
    out = [CollectionWrites(n, "drop", removed=_count(conn, n)) for n in plan.drop]
    out += [CollectionWrites(n, "create", inserted=int(coll[n]["count"])) for n in plan.create]
    for name, d in sorted(decisions.items()):
        if d.difference is not None:
            diff = d.difference
            out.append(
                CollectionWrites(
                    name,
                    restore_decide.MERGE,
                    removed=diff.removed,
                    inserted=diff.inserted,
                    replaced=diff.replaced,
                )
            )
        else:
            out.append(
                CollectionWrites(
                    name,
                    restore_decide.RELOAD,
                    d.reason,
                    removed=_count(conn, name),
                    inserted=int(coll[name]["count"]),
                )
            )
    return sorted(out, key=lambda w: w.name)


def _count(conn: Connection, name: str) -> int:
    body = conn.call("get", f"/_api/collection/{q(name)}/count", what=f"counting {name}")
    return int(body.get("count", 0))


def equals_snapshot(conn: Connection, section: Json, name: str) -> bool:
    """Whether live collection ``name`` holds what the snapshot's entry holds: the same
    definition (properties and indexes, minus what the server assigns: ids, object ids,
    ``lastValue``, figures) and the same documents (count, then content checksum, ``_rev``
    included). Cheap differences are checked first; documents are read only when the
    definition and the count agree."""
    entry = section["collections"][name]
    props = objects.read_properties(conn, name)
    if objects.comparable_properties(props) != objects.comparable_properties(
        entry.get("properties") or {}
    ):
        return False
    indexes = objects.read_indexes(conn, name)
    if objects.comparable_indexes(indexes) != objects.comparable_indexes(
        entry.get("indexes") or []
    ):
        return False
    body = conn.call("get", f"/_api/collection/{q(name)}/count", what=f"counting {name}")
    if int(body.get("count", -1)) != int(entry["count"]):
        return False
    _, checksum = live_checksum(conn, section, name, keep_rev=True)
    expected: object = entry.get("checksum")
    return checksum == expected
