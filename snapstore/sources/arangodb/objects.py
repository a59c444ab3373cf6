"""Database objects other than documents: read them verbatim, and turn them into create calls.

Collections, indexes, views, analyzers and named graphs are read with raw requests because
python-arango's getters rename and drop fields (its formatter.py); the snapshot keeps what the
server said. Re-creating an object sends that definition minus the fields the server manages
(ids, status, figures), following ArangoDB's HTTP API docs (develop/http-api/collections,
indexes, views, analyzers).
"""

from __future__ import annotations

import copy
from typing import Any

from snapstore.sources.arangodb.connection import Connection, ServerAnswer, q
from snapstore.sources.arangodb.dbfields import COLLECTION_SERVER_FIELDS, INDEX_SERVER_FIELDS

Json = dict[str, Any]

# Set after the documents are loaded (facts 4.6, 4.7): no validation, no recomputation.
COLLECTION_LATE_FIELDS = ("schema", "computedValues")
AUTOMATIC_INDEX_TYPES = frozenset({"primary", "edge"})
# withHidden lists view links as indexes; they are restored through the views.
HIDDEN_INDEX_TYPES = frozenset({"arangosearch"})
DATABASE_OPTIONS = ("sharding", "replicationFactor", "writeConcern")
VIEW_SERVER_FIELDS = frozenset({"error", "code", "id", "globallyUniqueId", "planId"})


def _strip(d: Json, fields: frozenset[str]) -> Json:
    return {k: v for k, v in d.items() if k not in fields}


# -- reading ----------------------------------------------------------------------------------


def list_collections(conn: Connection, db: Any = None) -> list[str]:
    """Names of the non-system collections, sorted."""
    body = conn.call(
        "get", "/_api/collection", params={"excludeSystem": True}, what="listing collections", db=db
    )
    return sorted(
        c["name"]
        for c in body.get("result", [])
        if not c.get("isSystem") and not str(c["name"]).startswith("_")
    )


def read_properties(conn: Connection, name: str, db: Any = None) -> Json:
    body = conn.call(
        "get",
        f"/_api/collection/{q(name)}/properties",
        what=f"reading the properties of collection {name}",
        db=db,
    )
    return {k: v for k, v in body.items() if k not in ("error", "code")}


def read_indexes(conn: Connection, name: str, db: Any = None) -> list[Json]:
    """Every index, those still being built included (``withHidden``), minus view links.

    Without ``withHidden`` an index created in the background is missing until it is ready;
    with it the server also lists arangosearch view links as indexes of type
    ``arangosearch``, which come back with their views instead (ArangoDB docs:
    develop/http-api/indexes, "withHidden").
    """
    body = conn.call(
        "get",
        "/_api/index",
        params={"collection": name, "withHidden": True},
        what=f"reading the indexes of collection {name}",
        db=db,
    )
    return [i for i in body.get("indexes", []) if i.get("type") not in HIDDEN_INDEX_TYPES]


def read_views(conn: Connection) -> list[Json]:
    body = conn.call("get", "/_api/view", what="listing views")
    views = []
    for v in sorted(body.get("result", []), key=lambda v: v["name"]):
        props = conn.call(
            "get", f"/_api/view/{q(v['name'])}/properties", what=f"reading view {v['name']}"
        )
        views.append({k: val for k, val in props.items() if k not in ("error", "code")})
    return views


def read_analyzers(conn: Connection, prefix: str | None = None) -> list[Json]:
    """Custom analyzers named ``<prefix>::<name>`` (default: this database's), short names."""
    body = conn.call("get", "/_api/analyzer", what="listing analyzers")
    prefix = f"{conn.name if prefix is None else prefix}::"
    out = []
    for a in body.get("result", []):
        name = str(a.get("name", ""))
        if not name.startswith(prefix):
            continue  # built-in, or defined in another database (_system) and only borrowed
        out.append({**a, "name": name[len(prefix) :]})
    return sorted(out, key=lambda a: a["name"])


def read_system_analyzers(conn: Connection, users: list[Any]) -> list[Json]:
    """The ``_system`` analyzers that ``users`` (views, index definitions) name.

    Another database can use them as ``_system::<name>``; a restore onto another server
    needs their definitions. Short names, sorted.
    """
    if conn.name == "_system":
        return []  # they are this database's own analyzers
    named = {n[len("_system::") :] for n in _strings(users) if n.startswith("_system::")}
    if not named:
        return []
    return [a for a in read_analyzers(conn, "_system") if a["name"] in named]


def read_aql_functions(conn: Connection) -> list[Json]:
    """User-defined AQL functions (``GET /_api/aqlfunction``), sorted by name."""
    body = conn.call("get", "/_api/aqlfunction", what="listing user-defined AQL functions")
    functions = [
        {k: f[k] for k in ("name", "code", "isDeterministic") if k in f}
        for f in body.get("result", [])
    ]
    return sorted(functions, key=lambda f: str(f.get("name")))


def database_options(properties: Json) -> Json:
    """The options to create a database like one with these properties."""
    return {k: properties[k] for k in DATABASE_OPTIONS if k in properties}


def strings_in(value: Any) -> set[str]:
    """Every string anywhere in a JSON value."""
    return _strings(value)


def _strings(value: Any) -> set[str]:
    """Every string anywhere in a JSON value."""
    if isinstance(value, str):
        return {value}
    out: set[str] = set()
    if isinstance(value, list):
        for v in value:
            out |= _strings(v)
    elif isinstance(value, dict):
        for v in value.values():
            out |= _strings(v)
    return out


def read_graphs(conn: Connection) -> list[Json]:
    body = conn.call("get", "/_api/gharial", what="listing named graphs")
    return sorted(
        (dict(g) for g in body.get("graphs", [])),
        key=lambda g: str(g.get("name") or g.get("_key")),
    )


def comparable_properties(props: Json) -> Json:
    """Properties minus what changes by itself (lastValue), to detect DDL during a dump."""
    out = _strip(props, COLLECTION_SERVER_FIELDS)
    if isinstance(out.get("keyOptions"), dict):
        out["keyOptions"] = {k: v for k, v in out["keyOptions"].items() if k != "lastValue"}
    return out


def comparable_indexes(indexes: list[Json]) -> list[Json]:
    return sorted(
        (_strip(i, INDEX_SERVER_FIELDS) for i in indexes), key=lambda i: str(i.get("name"))
    )


# -- re-creating ------------------------------------------------------------------------------


def collection_create_body(name: str, props: Json) -> Json:
    """POST /_api/collection body: the saved properties minus server-managed and late fields."""
    body = _strip(props, COLLECTION_SERVER_FIELDS)
    for f in COLLECTION_LATE_FIELDS:
        body.pop(f, None)
    body["name"] = name
    return body


def collection_late_body(props: Json) -> Json:
    """PUT /_api/collection/<c>/properties body for schema and computed values, if any."""
    return {f: props[f] for f in COLLECTION_LATE_FIELDS if props.get(f) is not None}


def index_create_body(index: Json, analyzer_prefix: str | None = None) -> Json | None:
    """POST /_api/index body, or None for the automatic primary and edge indexes."""
    if index.get("type") in AUTOMATIC_INDEX_TYPES:
        return None
    body = _strip(index, INDEX_SERVER_FIELDS)
    return short_analyzer_names(body, analyzer_prefix) if analyzer_prefix else body


def view_create_body(view: Json, analyzer_prefix: str | None = None) -> Json:
    body = _strip(view, VIEW_SERVER_FIELDS)
    return short_analyzer_names(body, analyzer_prefix) if analyzer_prefix else body


def analyzer_create_body(analyzer: Json) -> Json:
    return {k: analyzer[k] for k in ("name", "type", "properties", "features") if k in analyzer}


def graph_create_body(graph: Json) -> Json:
    """POST /_api/gharial body from a graph as GET /_api/gharial listed it."""
    body: Json = {
        "name": graph.get("name") or graph.get("_key"),
        "edgeDefinitions": graph.get("edgeDefinitions", []),
        "orphanCollections": graph.get("orphanCollections", []),
    }
    options: Json = {}
    for key in ("numberOfShards", "replicationFactor", "writeConcern", "smartGraphAttribute"):
        if graph.get(key) is not None:
            options[key] = graph[key]
    if graph.get("isSatellite"):
        options["satellites"] = graph.get("satellites", [])
    for key in ("isSmart", "isDisjoint"):
        if graph.get(key):
            body[key] = True
    if options:
        body["options"] = options
    return body


def short_analyzer_names(value: Any, prefix: str) -> Any:
    """Copy of ``value`` with every string ``<prefix>name`` shortened to ``name``.

    View links and inverted indexes name this database's analyzers as ``<db>::name``; the
    short name means "this database's", so the definition also works in another database.
    """
    if isinstance(value, str):
        return value[len(prefix) :] if value.startswith(prefix) else value
    if isinstance(value, list):
        return [short_analyzer_names(v, prefix) for v in value]
    if isinstance(value, dict):
        return {k: short_analyzer_names(v, prefix) for k, v in value.items()}
    return copy.deepcopy(value)


def view_collections(view: Json) -> set[str]:
    """Collections a view refers to (arangosearch links, search-alias indexes)."""
    names = set((view.get("links") or {}).keys())
    names.update(str(i.get("collection")) for i in view.get("indexes") or [])
    return names


def graph_collections(graph: Json) -> set[str]:
    names: set[str] = set(graph.get("orphanCollections") or [])
    for d in graph.get("edgeDefinitions") or []:
        names.add(d.get("collection"))
        names.update(d.get("from") or [])
        names.update(d.get("to") or [])
    return names


def ignore_missing(e: ServerAnswer) -> bool:
    return e.status == 404


# -- integers msgpack cannot hold ------------------------------------------------------------

_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1


def pack_big_ints(value: Any) -> tuple[Any, list[list[Any]]]:
    """Copy of ``value`` with integers outside msgpack's 64-bit range written as decimal
    strings, and the paths (lists of keys and indexes) where that was done."""
    paths: list[list[Any]] = []

    def walk(v: Any, path: list[Any]) -> Any:
        if isinstance(v, bool) or not isinstance(v, int | list | dict):
            return v
        if isinstance(v, int):
            if _INT_MIN <= v <= _INT_MAX:
                return v
            paths.append(path)
            return str(v)
        if isinstance(v, list):
            return [walk(x, [*path, i]) for i, x in enumerate(v)]
        return {k: walk(x, [*path, k]) for k, x in v.items()}

    return walk(value, []), paths


def unpack_big_ints(value: Any, paths: list[list[Any]]) -> Any:
    """Undo ``pack_big_ints`` in place (on a deep copy the caller owns)."""
    for path in paths:
        if not path:
            continue
        parent = value
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = int(parent[path[-1]])
    return value
