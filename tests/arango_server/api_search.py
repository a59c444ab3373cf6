"""Views (/_api/view) and analyzers (/_api/analyzer): definitions only.

Nothing is indexed or analysed; the server stores definitions so a client
can list, back up and re-create them.

Views: `arangosearch` and `search-alias`, stored verbatim plus the defaults a
3.12 server reports (ARANGOSEARCH_DEFAULTS, LINK_DEFAULTS).  Links must name
existing collections (404/1203) and existing analyzers (400/10); search-alias
entries must name an existing inverted index (404/1212).  Views and
collections share one namespace (409/1207).

Analyzers live as documents in each database's `_analyzers` collection and
are listed as `<db>::<name>`; the built-ins (`identity`, `text_*`) carry no
prefix.  Creating an identical definition again answers 200, a different one
under the same name 409/1207.  Deleting one that a view link or an inverted
index uses answers 409/1200 unless `force=true`.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

from . import errors
from .errors import ArangoError
from .keys import TICKS
from .routing import Request, Response, Router, ok, raw
from .store import Collection, Database, check_collection_name

ARANGOSEARCH_DEFAULTS: dict[str, Any] = {
    "cleanupIntervalStep": 2,
    "commitIntervalMsec": 1000,
    "consolidationIntervalMsec": 1000,
    "consolidationPolicy": {
        "type": "tier",
        "segmentsBytesFloor": 2097152,
        "segmentsBytesMax": 5368709120,
        "segmentsMax": 10,
        "segmentsMin": 1,
        "minScore": 0,
    },
    "primarySort": [],
    "primarySortCompression": "lz4",
    "storedValues": [],
    "writebufferActive": 0,
    "writebufferIdle": 64,
    "writebufferSizeMax": 33554432,
    "links": {},
}
# Fixed at creation: PUT/PATCH keep the old values.
ARANGOSEARCH_IMMUTABLE = (
    "primarySort",
    "primarySortCompression",
    "primarySortCache",
    "primaryKeyCache",
    "optimizeTopK",
    "storedValues",
    "writebufferActive",
    "writebufferIdle",
    "writebufferSizeMax",
)
LINK_DEFAULTS: dict[str, Any] = {
    "analyzers": ["identity"],
    "fields": {},
    "includeAllFields": False,
    "storeValues": "none",
    "trackListPositions": False,
}
VIEW_TYPES = ("arangosearch", "search-alias")
_VIEW_META = ("id", "globallyUniqueId", "name", "type")

ANALYZER_TYPES = (
    "identity",
    "delimiter",
    "multi_delimiter",
    "stem",
    "norm",
    "ngram",
    "text",
    "aql",
    "pipeline",
    "stopwords",
    "collation",
    "segmentation",
    "minhash",
    "classification",
    "nearest_neighbors",
    "geojson",
    "geo_s2",
    "geopoint",
    "wildcard",
)
_ANALYZER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,253}$")
_TEXT_LOCALES = ("de", "en", "es", "fi", "fr", "it", "nl", "no", "pt", "ru", "sv", "zh")
BUILTIN_ANALYZERS: dict[str, dict[str, Any]] = {
    "identity": {
        "name": "identity",
        "type": "identity",
        "properties": {},
        "features": ["frequency", "norm"],
    },
    **{
        f"text_{locale}": {
            "name": f"text_{locale}",
            "type": "text",
            "properties": {
                "locale": locale,
                "case": "lower",
                "stopwords": [],
                "accent": False,
                "stemming": True,
            },
            "features": ["frequency", "norm", "position"],
        }
        for locale in _TEXT_LOCALES
    },
}


# -- analyzers -----------------------------------------------------------------------


def _analyzer_docs(db: Database) -> dict[str, dict[str, Any]]:
    return db.collection("_analyzers").docs


def _analyzer_json(db: Database, doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": f"{db.name}::{doc['name']}",
        "type": doc["type"],
        "properties": doc["properties"],
        "features": doc["features"],
    }


def _local_name(db: Database, name: str) -> str:
    """Strip a `<db>::` prefix naming the current database (or `::`)."""
    prefix, sep, rest = name.partition("::")
    if sep and prefix in ("", db.name):
        return rest
    return name


def analyzer_exists(req: Request, name: str) -> bool:
    if name in BUILTIN_ANALYZERS:
        return True
    prefix, sep, rest = name.partition("::")
    if sep and prefix not in ("", req.db.name):
        other = req.app.databases.get(prefix)
        return other is not None and rest in _analyzer_docs(other)
    return _local_name(req.db, name) in _analyzer_docs(req.db)


def _find_analyzer(req: Request, name: str) -> dict[str, Any]:
    if name in BUILTIN_ANALYZERS:
        return BUILTIN_ANALYZERS[name]
    prefix, sep, rest = name.partition("::")
    if sep and prefix == "_system" and req.db.name != "_system":
        system = req.app.databases["_system"]
        found = _analyzer_docs(system).get(rest)
        if found is None:
            raise ArangoError(404, errors.DOCUMENT_NOT_FOUND, f"analyzer '{name}' not found")
        return _analyzer_json(system, found)
    doc = _analyzer_docs(req.db).get(_local_name(req.db, name))
    if doc is None:
        raise ArangoError(404, errors.DOCUMENT_NOT_FOUND, f"analyzer '{name}' not found")
    return _analyzer_json(req.db, doc)


def list_analyzers(req: Request) -> Response:
    # Analyzers of _system can be used from every database and are listed there too,
    # as `_system::<name>` (ArangoDB docs: indexes-and-search/analyzers#analyzer-names).
    custom = [_analyzer_json(req.db, d) for d in _analyzer_docs(req.db).values()]
    if req.db.name != "_system":
        system = req.app.databases["_system"]
        custom += [_analyzer_json(system, d) for d in _analyzer_docs(system).values()]
    return ok({"result": [*BUILTIN_ANALYZERS.values(), *custom]})


def get_analyzer(req: Request, name: str) -> Response:
    return ok(_find_analyzer(req, name))


def _same_analyzer(a: dict[str, Any], b: dict[str, Any]) -> bool:
    def canonical(d: dict[str, Any]) -> str:
        return json.dumps(
            [d["type"], d.get("properties") or {}, sorted(d.get("features") or [])],
            sort_keys=True,
        )

    return canonical(a) == canonical(b)


def create_analyzer(req: Request) -> Response:
    body = req.json_object()
    name = body.get("name")
    if not isinstance(name, str):
        raise errors.bad_parameter("invalid analyzer name")
    local = _local_name(req.db, name)
    if not _ANALYZER_NAME.match(local):
        raise errors.bad_parameter(f"invalid analyzer name '{name}'")
    if body.get("type") not in ANALYZER_TYPES:
        raise errors.bad_parameter(f"invalid analyzer type '{body.get('type')}'")
    properties = body.get("properties") or {}
    features = body.get("features") or []
    if not isinstance(properties, dict) or not isinstance(features, list):
        raise errors.bad_parameter("invalid analyzer properties or features")
    if not set(features) <= {"frequency", "norm", "position", "offset"}:
        raise errors.bad_parameter("invalid analyzer features")
    wanted = {"name": local, "type": body["type"], "properties": properties, "features": features}

    existing = BUILTIN_ANALYZERS.get(local) or _analyzer_docs(req.db).get(local)
    if existing is not None:
        if _same_analyzer(existing, wanted):
            return raw(_find_analyzer(req, local), 200)
        raise ArangoError(
            409, errors.DUPLICATE_NAME, f"analyzer '{name}' exists with a different definition"
        )
    docs = req.db.collection("_analyzers").writable()
    docs[local] = {
        "_key": local,
        "_id": f"_analyzers/{local}",
        "_rev": TICKS.next_rev(),
        **wanted,
    }
    return raw(_analyzer_json(req.db, docs[local]), 201)


def _analyzer_names(value: Any) -> Iterator[str]:
    """Every analyzer name mentioned under an `analyzers`/`analyzer` key."""
    if isinstance(value, dict):
        for key, sub in value.items():
            if key == "analyzers" and isinstance(sub, list):
                yield from (a for a in sub if isinstance(a, str))
            elif key == "analyzer" and isinstance(sub, str):
                yield sub
            else:
                yield from _analyzer_names(sub)
    elif isinstance(value, list):
        for sub in value:
            yield from _analyzer_names(sub)


def _analyzer_users(db: Database, local: str) -> list[str]:
    users = []
    for view in db.views.values():
        if any(_local_name(db, a) == local for a in _analyzer_names(view.get("links", {}))):
            users.append(f"view {view['name']}")
    for collection in db.collections.values():
        for index in collection.indexes:
            if index["type"] == "inverted" and any(
                _local_name(db, a) == local for a in _analyzer_names(index)
            ):
                users.append(f"index {collection.name}/{index['name']}")
    return users


def delete_analyzer(req: Request, name: str) -> Response:
    db = req.db
    if name in BUILTIN_ANALYZERS:
        raise ArangoError(403, errors.FORBIDDEN, "built-in analyzers cannot be removed")
    local = _local_name(db, name)
    if local not in _analyzer_docs(db):
        raise ArangoError(404, errors.DOCUMENT_NOT_FOUND, f"analyzer '{name}' not found")
    users = _analyzer_users(db, local)
    if users and not req.qbool("force"):
        raise ArangoError(
            409, errors.CONFLICT, f"analyzer '{name}' is in use by {', '.join(users)}"
        )
    db.collection("_analyzers").writable().pop(local)
    return ok({"name": f"{db.name}::{local}"})


# -- views ---------------------------------------------------------------------------


def _view(db: Database, name: str) -> dict[str, Any]:
    view = db.views.get(name)
    if view is None:
        raise errors.collection_not_found(name)
    return view


def _view_info(view: dict[str, Any]) -> dict[str, Any]:
    return {k: view[k] for k in ("globallyUniqueId", "id", "name", "type")}


def _check_links(req: Request, links: Any) -> dict[str, Any]:
    if not isinstance(links, dict):
        raise errors.bad_parameter("'links' must be an object")
    out = {}
    for collection_name, link in links.items():
        if link is None:
            out[collection_name] = None
            continue
        if not isinstance(link, dict):
            raise errors.bad_parameter(f"invalid link for '{collection_name}'")
        req.db.collection(collection_name)  # 404/1203 when missing
        for analyzer in _analyzer_names(link):
            if not analyzer_exists(req, analyzer):
                raise errors.bad_parameter(f"analyzer '{analyzer}' not found")
        out[collection_name] = {**LINK_DEFAULTS, **link}
    return out


def _check_alias_indexes(db: Database, entries: Any) -> list[dict[str, Any]]:
    if not isinstance(entries, list):
        raise errors.bad_parameter("'indexes' must be an array")
    for entry in entries:
        if not isinstance(entry, dict):
            raise errors.bad_parameter("invalid 'indexes' entry")
        collection: Collection = db.collection(entry.get("collection", ""))
        index = collection.find_index(str(entry.get("index", "")))
        if index is None or index["type"] != "inverted":
            raise ArangoError(404, errors.INDEX_NOT_FOUND, f"inverted index not found: {entry}")
    return entries


def _apply_properties(
    req: Request, view: dict[str, Any], body: dict[str, Any], partial: bool
) -> None:
    """Change a view's properties (PUT when partial is False, PATCH when True)."""
    if view["type"] == "search-alias":
        entries = body.get("indexes", [] if not partial else None)
        if entries is None:
            return
        if not partial:
            view["indexes"] = [
                {"collection": e.get("collection"), "index": e.get("index")}
                for e in _check_alias_indexes(req.db, entries)
            ]
            return
        current = list(view["indexes"])
        additions = [e for e in entries if e.get("operation") != "del"]
        for entry in _check_alias_indexes(req.db, additions):
            current.append({"collection": entry["collection"], "index": entry["index"]})
        for entry in entries:
            if entry.get("operation") == "del":
                pair = {"collection": entry.get("collection"), "index": entry.get("index")}
                current = [e for e in current if e != pair]
        view["indexes"] = current
        return
    mutable = {
        k: v for k, v in body.items() if k not in (*_VIEW_META, *ARANGOSEARCH_IMMUTABLE, "links")
    }
    if not partial:
        for key, value in ARANGOSEARCH_DEFAULTS.items():
            if key not in ARANGOSEARCH_IMMUTABLE and key != "links":
                view[key] = copy.deepcopy(value)
    view.update(mutable)
    if "links" in body or not partial:
        links = _check_links(req, body.get("links", {}))
        merged = dict(view["links"]) if partial else {}
        for name, link in links.items():
            if link is None:
                merged.pop(name, None)
            else:
                merged[name] = link
        view["links"] = merged


def list_views(req: Request) -> Response:
    return ok({"result": [_view_info(v) for v in req.db.views.values()]})


def get_view(req: Request, name: str) -> Response:
    return ok(_view_info(_view(req.db, name)))


def get_view_properties(req: Request, name: str) -> Response:
    return ok(_view(req.db, name))


def create_view(req: Request) -> Response:
    db = req.db
    body = req.json_object()
    name = check_collection_name(body.get("name"))
    if body.get("type") not in VIEW_TYPES:
        raise errors.bad_parameter(f"invalid view type '{body.get('type')}'")
    if db.name_taken(name):
        raise ArangoError(409, errors.DUPLICATE_NAME, f"duplicate name: {name}")
    view_id = str(TICKS.next_tick())
    view: dict[str, Any] = {
        "globallyUniqueId": f"h{view_id}/",
        "id": view_id,
        "name": name,
        "type": body["type"],
    }
    if body["type"] == "search-alias":
        view["indexes"] = []
    else:
        view.update(copy.deepcopy(ARANGOSEARCH_DEFAULTS))
        view.update({k: v for k, v in body.items() if k in ARANGOSEARCH_IMMUTABLE})
    _apply_properties(req, view, body, partial=True)
    db.views[name] = view
    return ok(view, status=201)


def replace_view_properties(req: Request, name: str) -> Response:
    view = _view(req.db, name)
    _apply_properties(req, view, req.json_object(), partial=False)
    return ok(view)


def update_view_properties(req: Request, name: str) -> Response:
    view = _view(req.db, name)
    _apply_properties(req, view, req.json_object(), partial=True)
    return ok(view)


def rename_view(req: Request, name: str) -> Response:
    db = req.db
    view = _view(db, name)
    new_name = check_collection_name(req.json_object().get("name"))
    if new_name != name:
        if db.name_taken(new_name):
            raise ArangoError(409, errors.DUPLICATE_NAME, f"duplicate name: {new_name}")
        del db.views[name]
        view["name"] = new_name
        db.views[new_name] = view
    return ok(_view_info(view))


def drop_view(req: Request, name: str) -> Response:
    _view(req.db, name)
    del req.db.views[name]
    return ok({"result": True})


def link_indexes(db: Database, collection: Collection) -> list[dict[str, Any]]:
    """The hidden indexes arangosearch view links are on their collection.

    `GET /_api/index?withHidden=true` lists them (type `arangosearch`) next to indexes
    still being built (ArangoDB docs: develop/http-api/indexes, "withHidden").
    """
    out = []
    for view in db.views.values():
        link = (view.get("links") or {}).get(collection.name)
        if view.get("type") != "arangosearch" or link is None:
            continue
        link_id = f"{view['id']}{collection.id}"[-12:]
        out.append(
            {
                **copy.deepcopy(link),
                "id": f"{collection.name}/{link_id}",
                "type": "arangosearch",
                "name": f"link_{view['id']}_{collection.id}",
                "view": view["globallyUniqueId"],
                "unique": False,
                "sparse": True,
            }
        )
    return out


# -- hooks for collection drop / rename ----------------------------------------------


def forget_collection(db: Database, name: str) -> None:
    for view in db.views.values():
        view.get("links", {}).pop(name, None)
        if "indexes" in view:
            view["indexes"] = [e for e in view["indexes"] if e.get("collection") != name]


def rename_collection_references(db: Database, old: str, new: str) -> None:
    for view in db.views.values():
        links = view.get("links", {})
        if old in links:
            links[new] = links.pop(old)
        for entry in view.get("indexes", []):
            if entry.get("collection") == old:
                entry["collection"] = new


def register(router: Router) -> None:
    router.add("GET", r"/_api/analyzer", list_analyzers)
    router.add("POST", r"/_api/analyzer", create_analyzer)
    router.add("GET", r"/_api/analyzer/(?P<name>[^/]+)", get_analyzer)
    router.add("DELETE", r"/_api/analyzer/(?P<name>[^/]+)", delete_analyzer)
    v = r"/_api/view/(?P<name>[^/]+)"
    router.add("GET", r"/_api/view", list_views)
    router.add("POST", r"/_api/view", create_view)
    router.add("GET", v, get_view)
    router.add("DELETE", v, drop_view)
    router.add("GET", v + "/properties", get_view_properties)
    router.add("PUT", v + "/properties", replace_view_properties)
    router.add("PATCH", v + "/properties", update_view_properties)
    router.add("PUT", v + "/rename", rename_view)
