"""Collection and index endpoints: /_api/collection/…, /_api/index/….

`count` and `truncate` join a stream transaction when the request carries
x-arango-trx-id; every other call here works on the committed state (DDL is
not transactional in ArangoDB either).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from . import api_graphs, api_search, cluster, errors
from .errors import ArangoError
from .keys import TICKS
from .routing import Request, Response, Router, ok
from .store import (
    READY_AT,
    Collection,
    Database,
    check_collection_name,
    find_duplicate,
    index_identity,
    normalize_computed_values,
    normalize_index,
    normalize_schema,
)

# -- collections ------------------------------------------------------------------


def list_collections(req: Request) -> Response:
    exclude_system = req.qbool("excludeSystem")
    result = [
        c.summary() for c in req.db.collections.values() if not (exclude_system and c.is_system)
    ]
    return ok({"result": result})


def create_collection(req: Request) -> Response:
    body = req.json_object()
    extra = cluster.collection_cluster_properties(
        req.app.settings, req.db, body, req.qbool("enforceReplicationFactor", True)
    )
    collection = req.db.add_collection(body)
    collection.cluster = extra
    return ok(collection.properties())


def get_collection(req: Request, name: str) -> Response:
    return ok(req.db.collection(name).summary())


def get_properties(req: Request, name: str) -> Response:
    return ok(req.db.collection(name).properties())


def set_properties(req: Request, name: str) -> Response:
    collection = req.db.collection(name)
    body = req.json_object()
    # Validate everything before changing anything.
    schema = normalize_schema(body["schema"]) if "schema" in body else collection.schema
    computed = (
        normalize_computed_values(body["computedValues"])
        if "computedValues" in body
        else collection.computed_values
    )
    collection.schema, collection.computed_values = schema, computed
    if "waitForSync" in body:
        collection.wait_for_sync = bool(body["waitForSync"])
    if "cacheEnabled" in body:
        collection.cache_enabled = bool(body["cacheEnabled"])
    return ok(collection.properties())


def count(req: Request, name: str) -> Response:
    collection = req.db.collection(name)
    visible = req.space(collection, for_write=False).docs()
    return ok({**collection.properties(), "count": len(visible)})


def figures(req: Request, name: str) -> Response:
    # Sizes are approximate: the byte size of the documents as compact JSON.
    collection = req.db.collection(name)
    docs = collection.docs
    documents_size = sum(len(json.dumps(d, separators=(",", ":")).encode()) for d in docs.values())
    index_count = len(collection.all_indexes())
    body = {
        **collection.properties(),
        "count": len(docs),
        "figures": {
            "indexes": {"count": index_count, "size": 64 * len(docs) * index_count},
            "documentsSize": documents_size,
            "cacheInUse": False,
            "cacheSize": 0,
            "cacheUsage": 0,
        },
    }
    return ok(body)


def revision(req: Request, name: str) -> Response:
    collection = req.db.collection(name)
    return ok({**collection.properties(), "revision": collection.revision})


def checksum(req: Request, name: str) -> Response:
    # Order-independent like ArangoDB's: XOR of per-document hashes.
    collection = req.db.collection(name)
    with_revisions = req.qbool("withRevisions") or req.qbool("withRevision")
    with_data = req.qbool("withData")
    value = 0
    for key, doc in collection.docs.items():
        text = key
        if with_revisions:
            text += "\x00" + doc["_rev"]
        if with_data:
            user = {k: v for k, v in doc.items() if not k.startswith("_")}
            text += "\x00" + json.dumps(user, sort_keys=True)
        value ^= int.from_bytes(hashlib.sha1(text.encode()).digest()[:8], "big")
    return ok({**collection.summary(), "checksum": str(value), "revision": collection.revision})


def truncate(req: Request, name: str) -> Response:
    collection = req.db.collection(name)
    req.space(collection, for_write=True).truncate()
    return ok(collection.summary())


def rename(req: Request, name: str) -> Response:
    db = req.db
    collection = db.collection(name)
    new_name = req.json_object().get("name")
    if collection.is_system:
        raise ArangoError(403, errors.FORBIDDEN, "forbidden: cannot rename a system collection")
    check_collection_name(new_name)
    if new_name == name:
        return ok(collection.summary())
    if db.name_taken(new_name):
        raise ArangoError(409, errors.DUPLICATE_NAME, f"duplicate name: {new_name}")
    del db.collections[name]
    collection.rename(new_name)
    db.collections[new_name] = collection
    api_search.rename_collection_references(db, name, new_name)
    return ok(collection.summary())


def drop(req: Request, name: str) -> Response:
    db = req.db
    collection = db.collection(name)
    if collection.is_system and not req.qbool("isSystem"):
        raise ArangoError(403, errors.FORBIDDEN, "forbidden: use isSystem=true")
    _check_not_in_graph(db, name)
    cluster.check_drop(req.app.settings, db, name)
    del db.collections[name]
    api_search.forget_collection(db, name)
    return ok({"id": collection.id})


def _check_not_in_graph(db: Database, name: str) -> None:
    """3.12 refuses to drop a collection a named graph uses (500/1942).

    arangod/VocBase/Methods/Collections.cpp `Collections::drop` checks every graph
    (orphan, edge, vertex collection, in that order); ArangoDB 3.12 release notes,
    incompatible changes: "Dropping graph collections disallowed". errorNum 1942 is not
    in lib/Rest/GeneralResponse.cpp's status table, so it answers 500.
    """
    for graph in api_graphs.graphs_of(db):
        edges, vertices = api_graphs.collections_of(graph)
        orphans = set(graph.get("orphanCollections", []))
        role = (
            "an orphan collection"
            if name in orphans
            else "an edge collection"
            if name in edges
            else "a vertex collection"
            if name in vertices
            else None
        )
        if role is not None:
            raise ArangoError(
                500,
                errors.GRAPH_MUST_NOT_DROP_COLLECTION,
                f"must not drop collection while part of graph: collection '{name}' is "
                f"{role} inside graph '{graph['_key']}'",
            )


def noop(req: Request, name: str) -> Response:
    """load, unload, compact, … have nothing to do in memory."""
    return ok({**req.db.collection(name).summary(), "result": True})


# -- indexes ----------------------------------------------------------------------


def _collection_param(req: Request) -> Collection:
    name = req.qstr("collection")
    if not name:
        raise ArangoError(400, 1204, "collection parameter missing")
    return req.db.collection(name)


def _find_index(collection: Collection, index_id: str) -> dict[str, Any]:
    for builtin in collection.builtin_indexes():
        if index_id in (builtin["id"].split("/")[1], builtin["name"]):
            return builtin
    index = collection.find_index(index_id)
    if index is None:
        raise ArangoError(404, errors.INDEX_NOT_FOUND, "index not found")
    return collection.index_json(index)


def list_indexes(req: Request) -> Response:
    collection = _collection_param(req)
    hidden = req.qbool("withHidden")
    indexes = collection.all_indexes(req.app.now(), with_hidden=hidden)
    if hidden:
        indexes += api_search.link_indexes(req.db, collection)
    return ok({"indexes": indexes, "identifiers": {ix["id"]: ix for ix in indexes}})


def get_index(req: Request, collection: str, index_id: str) -> Response:
    return ok(_find_index(req.db.collection(collection), index_id))


def _check_vector_training(collection: Collection, definition: dict[str, Any]) -> None:
    # ArangoDB (<= 3.12.8) trains a vector index at creation time: it needs at
    # least nLists documents to exist already.
    params = definition.get("params")
    if not isinstance(params, dict):
        raise errors.bad_parameter("vector index requires 'params'")
    n_lists = params.get("nLists", 1)
    if len(collection.docs) < max(1, n_lists if isinstance(n_lists, int) else 1):
        raise errors.bad_parameter(
            f"vector index training needs at least {n_lists} documents in the collection"
        )


def _check_vector_enabled(req: Request, definition: Any) -> None:
    # arangod/Indexes (VectorIndexDefinition::normalize): checked before anything else.
    raw_type = definition.get("type") if isinstance(definition, dict) else None
    if raw_type == "vector" and not req.app.settings.vector_index:
        raise errors.bad_parameter(
            "vector index feature is not enabled. Run ArangoDB with "
            "`--experimental-vector-index` flag turned on."
        )


def create_index(req: Request) -> Response:
    collection = _collection_param(req)
    _check_vector_enabled(req, req.json())
    background = bool(isinstance(req.json(), dict) and req.json().get("inBackground"))
    definition = normalize_index(req.json())
    identity = index_identity(definition)
    for existing in collection.indexes:
        if index_identity(existing) == identity:
            return ok({**collection.index_json(existing), "isNewlyCreated": False})
    name = definition.get("name")
    if name is not None and (
        collection.find_index(name) is not None or name in ("primary", "edge")
    ):
        raise ArangoError(409, errors.DUPLICATE_NAME, f"duplicate index name '{name}'")
    if definition["type"] == "vector":
        _check_vector_training(collection, definition)
    if definition.get("unique") and definition["type"] != "inverted":
        duplicate = find_duplicate(definition, collection.docs.values())
        if duplicate is not None:
            raise errors.unique_violated(
                name or "new index", definition["type"], definition["fields"], duplicate
            )
    index_id = str(TICKS.next_tick())
    index = {"id": index_id, **definition}
    index.setdefault("name", f"idx_{index_id}")
    if background and req.app.settings.index_build_seconds > 0:
        index[READY_AT] = req.app.now() + req.app.settings.index_build_seconds
    collection.indexes.append(index)
    body = collection.index_json(index, req.app.now())
    return ok({**body, "isNewlyCreated": True}, status=201)


def drop_index(req: Request, collection: str, index_id: str) -> Response:
    coll = req.db.collection(collection)
    index = coll.find_index(index_id)
    if index is None:
        if any(index_id == b["id"].split("/")[1] for b in coll.builtin_indexes()):
            raise ArangoError(403, errors.FORBIDDEN, "cannot drop primary or edge index")
        raise ArangoError(404, errors.INDEX_NOT_FOUND, "index not found")
    coll.indexes.remove(index)
    return ok({"id": f"{coll.name}/{index['id']}"})


def register(router: Router) -> None:
    c = r"/_api/collection/(?P<name>[^/]+)"
    router.add("GET", r"/_api/collection", list_collections)
    router.add("POST", r"/_api/collection", create_collection)
    router.add("GET", c, get_collection)
    router.add("DELETE", c, drop)
    router.add("GET", c + "/properties", get_properties)
    router.add("PUT", c + "/properties", set_properties)
    router.add("GET", c + "/count", count)
    router.add("GET", c + "/figures", figures)
    router.add("GET", c + "/revision", revision)
    router.add("GET", c + "/checksum", checksum)
    router.add("PUT", c + "/truncate", truncate)
    router.add("PUT", c + "/rename", rename)
    for action in ("load", "unload", "compact", "loadIndexesIntoMemory", "recalculateCount"):
        router.add("PUT", f"{c}/{action}", noop)
    router.add("GET", r"/_api/index", list_indexes)
    router.add("POST", r"/_api/index", create_index)
    ix = r"/_api/index/(?P<collection>[^/]+)/(?P<index_id>[^/]+)"
    router.add("GET", ix, get_index)
    router.add("DELETE", ix, drop_index)
