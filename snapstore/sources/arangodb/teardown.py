"""Tear down what a restore replaces: views, graphs, collections, AQL functions.

Order (spec/database.md, *Restore*): views, then named graphs (``dropCollections=false``),
then collections, followers (``distributeShardsLike``) before their prototypes, since a
Coordinator refuses to drop a prototype that still has followers (1485,
ERROR_CLUSTER_MUST_NOT_DROP_COLL_OTHER_DISTRIBUTESHARDSLIKE, lib/Basics/errors.dat).

A ``--collection`` restore leaves graphs alone, and ArangoDB 3.12 refuses to drop a
collection a named graph uses (1942, arangod/VocBase/Methods/Collections.cpp
``Collections::drop``). Such a collection, and a prototype whose followers stay, is emptied
and rebuilt in place instead, as the server's own restore endpoint does when it may not drop
(arangod/RestHandler/RestReplicationHandler.cpp ``processRestoreCollection``: "If we are not
allowed to drop the collection. Try to truncate."). That only works when the live
collection's fixed-at-creation attributes equal the snapshot's; ``in_place_problems`` finds
those that do not, before anything is changed.
"""

from __future__ import annotations

from typing import Any

from snapstore.sources.arangodb import objects
from snapstore.sources.arangodb.connection import Connection, ServerAnswer, q
from snapstore.sources.arangodb.progress import Progress
from snapstore.sources.arangodb.target import Target, immutable_differences

Json = dict[str, Any]


def _ignore_404(e: ServerAnswer) -> None:
    if e.status != 404:
        raise e


def drop_views(conn: Connection, progress: Progress, views: list[Json]) -> None:
    for view in views:
        progress.at(f"dropping view {view['name']}", changes=True)
        try:
            conn.call("delete", f"/_api/view/{q(view['name'])}", what="dropping a view")
        except ServerAnswer as e:
            _ignore_404(e)


def drop_graphs(conn: Connection, progress: Progress) -> None:
    for graph in objects.read_graphs(conn):
        name = str(graph.get("name") or graph.get("_key"))
        progress.at(f"dropping graph {name}", changes=True)
        try:
            conn.call(
                "delete",
                f"/_api/gharial/{q(name)}",
                params={"dropCollections": False},
                what="dropping a graph",
            )
        except ServerAnswer as e:
            _ignore_404(e)


def leaders(conn: Connection, target: Target, names: list[str]) -> dict[str, str]:
    """Live collection -> its ``distributeShardsLike`` prototype (only a cluster has them)."""
    if not target.cluster:
        return {}
    out = {}
    for name in names:
        leader = objects.read_properties(conn, name).get("distributeShardsLike")
        if leader:
            out[name] = str(leader)
    return out


def drop_order(names: list[str], leader_of: dict[str, str]) -> list[str]:
    """Followers first, then the rest (a prototype never follows another: 1484)."""
    followers = [n for n in names if n in leader_of]
    return followers + [n for n in names if n not in leader_of]


def drop_collection(conn: Connection, progress: Progress, name: str) -> None:
    progress.at(f"dropping collection {name}", changes=True)
    try:
        conn.call("delete", f"/_api/collection/{q(name)}", what=f"dropping {name}")
    except ServerAnswer as e:
        _ignore_404(e)
    progress.dropped.append(name)


def undroppable(
    conn: Connection, names: list[str], live: list[str], leader_of: dict[str, str]
) -> dict[str, str]:
    """Of the collections a ``--collection`` restore replaces, those the server will not
    let it drop, each with the reason."""
    out: dict[str, str] = {}
    for graph in objects.read_graphs(conn):
        used = objects.graph_collections(graph)
        for name in names:
            if name in used and name not in out:
                out[name] = f"it belongs to named graph {str(graph.get('name'))!r}"
    staying = set(live) - set(names)
    for follower, leader in leader_of.items():
        if leader in names and follower in staying and leader not in out:
            out[leader] = f"collection {follower!r} is distributed like it"
    return out


def in_place_problems(
    conn: Connection, target: Target, section: Json, reasons: dict[str, str]
) -> list[str]:
    """Why the collections that must be rebuilt in place cannot be (empty: they can)."""
    problems = []
    for name, reason in sorted(reasons.items()):
        wanted, _ = target.collection_body(name, section["collections"][name]["properties"])
        differ = immutable_differences(objects.read_properties(conn, name), wanted)
        if differ:
            problems.append(
                f"collection {name!r} cannot be dropped ({reason}) and its "
                f"{', '.join(differ)} differ from the snapshot's, which emptying it in place "
                "cannot change"
            )
    return problems


def clear_in_place(conn: Connection, progress: Progress, name: str, props: Json) -> None:
    """Empty a collection and take off its indexes, schema and computed values, so the
    build steps can fill it like a new one; set its changeable properties."""
    progress.at(f"emptying collection {name} in place", changes=True)
    progress.dropped.append(name)
    conn.call("put", f"/_api/collection/{q(name)}/truncate", what=f"emptying {name}")
    for index in objects.read_indexes(conn, name):
        if index.get("type") in objects.AUTOMATIC_INDEX_TYPES:
            continue
        ident = str(index.get("id", "")).split("/")[-1]
        try:
            conn.call(
                "delete", f"/_api/index/{q(name)}/{q(ident)}", what=f"dropping an index of {name}"
            )
        except ServerAnswer as e:
            _ignore_404(e)
    body: Json = {"schema": None, "computedValues": []}
    for key in ("waitForSync", "cacheEnabled"):
        if key in props:
            body[key] = props[key]
    conn.call("put", f"/_api/collection/{q(name)}/properties", what=f"resetting {name}", data=body)


def delete_functions(conn: Connection, progress: Progress, wanted: list[Json]) -> None:
    """Delete the user AQL functions that the snapshot does not have as they are."""
    keep = {str(f.get("name")).lower(): f for f in wanted}
    for live in objects.read_aql_functions(conn):
        name = str(live.get("name"))
        if keep.get(name.lower()) == live:
            continue
        progress.at(f"deleting AQL function {name}", changes=True)
        try:
            conn.call("delete", f"/_api/aqlfunction/{q(name)}", what=f"deleting {name}")
        except ServerAnswer as e:
            _ignore_404(e)
