"""Named graphs (/_api/gharial): list, create, get, delete; vertex/edge listings.

Definitions are documents in each database's `_graphs` system collection, as
in ArangoDB.  Creating a graph reuses existing collections and creates the
missing ones (edge collections as type 3).  An edge collection that exists
as a document collection is refused (400/1237); an edge collection already
used by another graph with different `from`/`to` is refused (400/1921).
Vertex and edge operations through gharial are not implemented.
"""

from __future__ import annotations

from typing import Any

from . import api_search, errors
from .errors import ArangoError
from .keys import TICKS
from .routing import Request, Response, Router, ok
from .store import EDGE_COLLECTION, Database, check_collection_name


def _graphs(db: Database) -> dict[str, dict[str, Any]]:
    return db.collection("_graphs").docs


def _graph_json(doc: dict[str, Any]) -> dict[str, Any]:
    head = {"_key": doc["_key"], "_id": doc["_id"], "_rev": doc["_rev"], "name": doc["_key"]}
    return {**head, **{k: v for k, v in doc.items() if not k.startswith("_")}}


def _graph(db: Database, name: str) -> dict[str, Any]:
    doc = _graphs(db).get(name)
    if doc is None:
        raise ArangoError(404, errors.GRAPH_NOT_FOUND, f"graph '{name}' not found")
    return doc


def graphs_of(db: Database) -> list[dict[str, Any]]:
    """Every named graph definition of ``db``."""
    return list(_graphs(db).values())


def collections_of(doc: dict[str, Any]) -> tuple[set[str], set[str]]:
    return _collections_of(doc)


def _collections_of(doc: dict[str, Any]) -> tuple[set[str], set[str]]:
    """(edge collections, vertex collections incl. orphans) of a graph definition."""
    edges = {d["collection"] for d in doc.get("edgeDefinitions", [])}
    vertices = set(doc.get("orphanCollections", []))
    for definition in doc.get("edgeDefinitions", []):
        vertices.update(definition.get("from", []))
        vertices.update(definition.get("to", []))
    return edges, vertices


def _edge_definitions(body: dict[str, Any]) -> list[dict[str, Any]]:
    definitions = body.get("edgeDefinitions") or []
    malformed = ArangoError(
        400, errors.GRAPH_CREATE_MALFORMED_EDGE_DEFINITION, "malformed edge definition"
    )
    if not isinstance(definitions, list):
        raise malformed
    out = []
    for definition in definitions:
        if not isinstance(definition, dict) or not isinstance(definition.get("collection"), str):
            raise malformed
        sides = [definition.get("from"), definition.get("to")]
        if not all(isinstance(s, list) and all(isinstance(n, str) for n in s) for s in sides):
            raise malformed
        out.append(
            {
                "collection": definition["collection"],
                "from": sorted(set(sides[0])),
                "to": sorted(set(sides[1])),
            }
        )
    return out


def list_graphs(req: Request) -> Response:
    return ok({"graphs": [_graph_json(d) for d in _graphs(req.db).values()]})


def get_graph(req: Request, name: str) -> Response:
    return ok({"graph": _graph_json(_graph(req.db, name))})


def create_graph(req: Request) -> Response:
    db = req.db
    body = req.json_object()
    name = body.get("name")
    if not name:
        raise ArangoError(400, errors.GRAPH_CREATE_MISSING_NAME, "graph name is missing")
    check_collection_name(name)
    if name in _graphs(db):
        raise ArangoError(409, errors.GRAPH_DUPLICATE, "graph already exists")
    definitions = _edge_definitions(body)
    orphans = body.get("orphanCollections") or []
    if not isinstance(orphans, list) or not all(isinstance(o, str) for o in orphans):
        raise errors.bad_parameter("'orphanCollections' must be an array of names")
    options = body.get("options") or {}

    # Check everything before creating any collection.
    for definition in definitions:
        for other in _graphs(db).values():
            for used in other.get("edgeDefinitions", []):
                if used["collection"] == definition["collection"] and (
                    used["from"] != definition["from"] or used["to"] != definition["to"]
                ):
                    raise ArangoError(
                        400,
                        errors.GRAPH_COLLECTION_USE_IN_MULTI_GRAPHS,
                        f"{definition['collection']} has a different definition in graph "
                        f"'{other['_key']}'",
                    )
        existing = db.collections.get(definition["collection"])
        if existing is not None and existing.type != EDGE_COLLECTION:
            raise ArangoError(
                400,
                errors.COLLECTION_TYPE_MISMATCH,
                f"collection type mismatch: {definition['collection']} is not an edge collection",
            )
    doc: dict[str, Any] = {"_key": name, "_id": f"_graphs/{name}", "_rev": TICKS.next_rev()}
    doc.update(
        {
            "edgeDefinitions": definitions,
            "orphanCollections": sorted(set(orphans)),
            "numberOfShards": options.get("numberOfShards", 1),
            "replicationFactor": options.get("replicationFactor", 1),
            "writeConcern": options.get("writeConcern", 1),
            "isSmart": bool(body.get("isSmart", options.get("isSmart", False))),
            "isDisjoint": bool(body.get("isDisjoint", options.get("isDisjoint", False))),
            "isSatellite": False,
        }
    )
    if "smartGraphAttribute" in options:
        doc["smartGraphAttribute"] = options["smartGraphAttribute"]
    edges, vertices = _collections_of(doc)
    for collection_name in sorted(edges):
        if collection_name not in db.collections:
            db.add_collection({"name": collection_name, "type": EDGE_COLLECTION})
    for collection_name in sorted(vertices - edges):
        if collection_name not in db.collections:
            db.add_collection({"name": collection_name})
    db.collection("_graphs").writable()[name] = doc
    status = 201 if req.qbool("waitForSync") else 202
    return ok({"graph": _graph_json(doc)}, status=status)


def drop_graph(req: Request, name: str) -> Response:
    db = req.db
    doc = _graph(db, name)
    db.collection("_graphs").writable().pop(name)
    if req.qbool("dropCollections"):
        still_used: set[str] = set()
        for other in _graphs(db).values():
            edges, vertices = _collections_of(other)
            still_used |= edges | vertices
        edges, vertices = _collections_of(doc)
        for collection_name in sorted((edges | vertices) - still_used):
            if collection_name in db.collections:
                del db.collections[collection_name]
                api_search.forget_collection(db, collection_name)
    status = 201 if req.qbool("waitForSync") else 202
    return ok({"removed": True}, status=status)


def vertex_collections(req: Request, name: str) -> Response:
    _, vertices = _collections_of(_graph(req.db, name))
    return ok({"collections": sorted(vertices)})


def edge_collections(req: Request, name: str) -> Response:
    edges, _ = _collections_of(_graph(req.db, name))
    return ok({"collections": sorted(edges)})


def register(router: Router) -> None:
    g = r"/_api/gharial/(?P<name>[^/]+)"
    router.add("GET", r"/_api/gharial", list_graphs)
    router.add("POST", r"/_api/gharial", create_graph)
    router.add("GET", g, get_graph)
    router.add("DELETE", g, drop_graph)
    router.add("GET", g + "/vertex", vertex_collections)
    router.add("GET", g + "/edge", edge_collections)
