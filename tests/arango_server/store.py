"""In-memory data model: databases, collections, indexes and their documents.

Snapshot semantics come from copy-on-write document maps.  Documents are
immutable once stored (every write stores a new dict), and a collection's
key -> document map is never mutated while a snapshot shares it:
`Collection.snapshot()` hands out the current map and marks it shared, and the
next write copies the map first (`Collection.writable()`).  A stream
transaction therefore sees the state of every collection as of its begin for
the price of one map copy per collection that is written afterwards.

Map order is "last write order" (a replaced document moves to the end), which
is what a RocksDB full collection scan returns: not key order.

Naming rules are ArangoDB's traditional ones (3.12 default, extended names off).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import errors
from .errors import ArangoError
from .keys import TICKS, KeyGenerator

Doc = dict[str, Any]

DOCUMENT_COLLECTION = 2
EDGE_COLLECTION = 3
SYSTEM_COLLECTIONS_PER_DB = ("_analyzers", "_aqlfunctions", "_graphs")

_COLLECTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,255}$")
_DATABASE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")
_SCHEMA_LEVELS = ("none", "new", "moderate", "strict")
_COMPUTE_ON = ("insert", "update", "replace")

# Internal index attribute: server-clock time an index built in the background is ready.
READY_AT = "_readyAt"

# Index types that can be created, and the defaults a server fills in when the
# definition leaves them out.  Everything else in a definition is kept verbatim.
INDEX_DEFAULTS: dict[str, dict[str, Any]] = {
    "persistent": {
        "unique": False,
        "sparse": False,
        "deduplicate": True,
        "estimates": True,
        "cacheEnabled": False,
    },
    "ttl": {"unique": False, "sparse": True},
    "geo": {"unique": False, "sparse": True, "geoJson": False, "legacyPolygons": False},
    "fulltext": {"unique": False, "sparse": True, "minLength": 2},
    "inverted": {"unique": False, "sparse": True},
    "mdi": {"unique": False, "sparse": False, "fieldValueTypes": "double"},
    "mdi-prefixed": {"unique": False, "sparse": False, "fieldValueTypes": "double"},
    "zkd": {"unique": False, "sparse": False, "fieldValueTypes": "double"},
    "vector": {"unique": False, "sparse": False},
}
INDEX_TYPE_ALIASES = {"hash": "persistent", "skiplist": "persistent", "geo1": "geo", "geo2": "geo"}
# Attributes that never take part in "is this the same index?" comparisons.
_INDEX_IDENTITY_IGNORED = (
    "id",
    "name",
    "inBackground",
    "isNewlyCreated",
    "error",
    "code",
    READY_AT,
)


def check_collection_name(name: Any, is_system: bool = False) -> str:
    """Validate a collection or view name (400/1208)."""
    if not isinstance(name, str) or not _COLLECTION_NAME.match(name):
        raise ArangoError(400, errors.ILLEGAL_NAME, "illegal name")
    if name.startswith("_") and not is_system:
        raise ArangoError(400, errors.ILLEGAL_NAME, "illegal name")
    return name


def check_database_name(name: Any) -> str:
    if not isinstance(name, str) or not _DATABASE_NAME.match(name):
        raise ArangoError(400, errors.DATABASE_NAME_INVALID, "database name invalid")
    return name


def normalize_schema(schema: Any) -> dict[str, Any] | None:
    """Validate a `schema` property; `null` or `{}` removes the schema."""
    if schema is None or schema == {}:
        return None
    if not isinstance(schema, dict) or not isinstance(schema.get("rule"), dict):
        raise ArangoError(400, 1621, "invalid schema: 'rule' must be an object")
    level = schema.get("level", "strict")
    if level not in _SCHEMA_LEVELS:
        raise ArangoError(400, 1621, f"invalid schema level '{level}'")
    message = schema.get("message", "Schema violation")
    return {"rule": schema["rule"], "level": level, "message": message, "type": "json"}


def normalize_computed_values(values: Any) -> list[dict[str, Any]] | None:
    """Validate `computedValues` and fill in ArangoDB's defaults; `[]` means none."""
    if values is None or values == []:
        return None
    if not isinstance(values, list):
        raise errors.bad_parameter("'computedValues' must be an array")
    out = []
    for item in values:
        if not isinstance(item, dict):
            raise errors.bad_parameter("computed value must be an object")
        name, expression = item.get("name"), item.get("expression")
        if not isinstance(name, str) or not name or name in ("_key", "_id", "_rev", "_from", "_to"):
            raise errors.bad_parameter("invalid computed value name")
        if not isinstance(expression, str) or not expression.strip().upper().startswith("RETURN"):
            raise errors.bad_parameter("computed value expression must start with RETURN")
        if not isinstance(item.get("overwrite"), bool):
            raise errors.bad_parameter("computed value requires boolean 'overwrite'")
        compute_on = item.get("computeOn", list(_COMPUTE_ON))
        if not isinstance(compute_on, list) or not set(compute_on) <= set(_COMPUTE_ON):
            raise errors.bad_parameter("invalid 'computeOn'")
        out.append(
            {
                "name": name,
                "expression": expression,
                "overwrite": item["overwrite"],
                "computeOn": compute_on,
                "keepNull": bool(item.get("keepNull", True)),
                "failOnWarning": bool(item.get("failOnWarning", False)),
            }
        )
    return out


def attribute_path(doc: Mapping[str, Any], path: str) -> Any:
    """Value at a dotted attribute path, or None if any step is missing."""
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


@dataclass
class Collection:
    id: str
    name: str
    type: int
    is_system: bool
    key_gen: KeyGenerator
    wait_for_sync: bool = False
    cache_enabled: bool = False
    schema: dict[str, Any] | None = None
    computed_values: list[dict[str, Any]] | None = None
    # Secondary indexes only; each stored with its numeric "id" (no prefix).
    indexes: list[dict[str, Any]] = field(default_factory=list)
    docs: dict[str, Doc] = field(default_factory=dict)
    revision: str = "0"  # changes on every write (GET .../revision)
    object_id: str = field(default_factory=lambda: str(TICKS.next_tick()))
    # Cluster attributes a Coordinator keeps (cluster.py); empty on a single server.
    cluster: dict[str, Any] = field(default_factory=dict)
    _shared: bool = False

    # -- copy-on-write ------------------------------------------------------

    def snapshot(self) -> dict[str, Doc]:
        """The current document map, frozen: later writes copy it first."""
        self._shared = True
        return self.docs

    def writable(self) -> dict[str, Doc]:
        """The document map, ready to be changed (callers change it right away)."""
        if self._shared:
            self.docs = dict(self.docs)
            self._shared = False
        self.revision = TICKS.next_rev()
        return self.docs

    def replace_all(self, docs: dict[str, Doc]) -> None:
        self.docs = docs
        self._shared = False
        self.revision = TICKS.next_rev()

    # -- JSON shapes ----------------------------------------------------------

    @property
    def globally_unique_id(self) -> str:
        return f"c{self.id}/"

    def summary(self) -> dict[str, Any]:
        """The entry shape of GET /_api/collection and GET /_api/collection/<c>."""
        return {
            "id": self.id,
            "name": self.name,
            "status": 3,
            "type": self.type,
            "isSystem": self.is_system,
            "globallyUniqueId": self.globally_unique_id,
        }

    def properties(self) -> dict[str, Any]:
        """The single-server property set of GET /_api/collection/<c>/properties."""
        return {
            "writeConcern": 1,
            "waitForSync": self.wait_for_sync,
            "usesRevisionsAsDocumentIds": True,
            "syncByRevision": True,
            "statusString": "loaded",
            "id": self.id,
            "isSmartChild": False,
            "schema": self.schema,
            "name": self.name,
            "type": self.type,
            "status": 3,
            "cacheEnabled": self.cache_enabled,
            "isSystem": self.is_system,
            "internalValidatorType": 0,
            "globallyUniqueId": self.globally_unique_id,
            "keyOptions": self.key_gen.to_json(),
            "computedValues": self.computed_values,
            "objectId": self.object_id,
            **self.cluster,
        }

    def builtin_indexes(self) -> list[dict[str, Any]]:
        primary = {
            "id": f"{self.name}/0",
            "type": "primary",
            "name": "primary",
            "fields": ["_key"],
            "unique": True,
            "sparse": False,
            "selectivityEstimate": 1,
        }
        if self.type != EDGE_COLLECTION:
            return [primary]
        edge = {
            "id": f"{self.name}/1",
            "type": "edge",
            "name": "edge",
            "fields": ["_from", "_to"],
            "unique": False,
            "sparse": False,
            "selectivityEstimate": 1,
        }
        return [primary, edge]

    def index_json(self, index: dict[str, Any], now: float | None = None) -> dict[str, Any]:
        out = {k: v for k, v in index.items() if k != READY_AT}
        out["id"] = f"{self.name}/{index['id']}"
        if now is not None and self.building(index, now):
            out["isBuilding"] = True
            out["progress"] = 50.0
        return out

    @staticmethod
    def building(index: dict[str, Any], now: float) -> bool:
        return now < index.get(READY_AT, 0.0)

    def all_indexes(self, now: float = 0.0, with_hidden: bool = False) -> list[dict[str, Any]]:
        """Ready indexes; with ``with_hidden`` also those still being built."""
        return self.builtin_indexes() + [
            self.index_json(ix, now)
            for ix in self.indexes
            if with_hidden or not self.building(ix, now)
        ]

    def find_index(self, index_id: str) -> dict[str, Any] | None:
        """Look an index up by numeric id, full id or name (secondary only)."""
        short = index_id.split("/", 1)[-1]
        for ix in self.indexes:
            if ix["id"] == short or ix.get("name") == short:
                return ix
        return None

    def rename(self, new_name: str) -> None:
        # `_id` is stored inside each document, so it is rewritten.
        self.name = new_name
        self.replace_all({k: {**d, "_id": f"{new_name}/{k}"} for k, d in self.docs.items()})


def index_identity(definition: Mapping[str, Any]) -> str:
    """Canonical form used to decide that two index definitions are the same."""
    relevant = {k: v for k, v in definition.items() if k not in _INDEX_IDENTITY_IGNORED}
    return json.dumps(relevant, sort_keys=True)


def normalize_index(definition: Any) -> dict[str, Any]:
    """Validate an index definition and fill in defaults (400/10 when malformed)."""
    if not isinstance(definition, dict):
        raise errors.bad_parameter("index definition must be an object")
    index_type = definition.get("type")
    index_type = INDEX_TYPE_ALIASES.get(index_type, index_type)
    if index_type not in INDEX_DEFAULTS:
        raise errors.bad_parameter(f"invalid index type '{definition.get('type')}'")
    fields = definition.get("fields")
    if index_type != "inverted" and (
        not isinstance(fields, list) or not fields or not all(isinstance(f, str) for f in fields)
    ):
        raise errors.bad_parameter("index 'fields' must be a non-empty array of strings")
    out = {k: v for k, v in definition.items() if k not in ("inBackground", "id")}
    out["type"] = index_type
    for key, value in INDEX_DEFAULTS[index_type].items():
        out.setdefault(key, value)
    return out


class UniqueGuard:
    """Enforces the unique secondary indexes of one collection during one request.

    The value -> key maps are built lazily from the visible documents, once per
    request, and then kept up to date as the request writes.
    """

    _TYPES = ("persistent", "mdi", "mdi-prefixed", "zkd")

    def __init__(self, collection: Collection, docs: Mapping[str, Doc]) -> None:
        self._indexes = [
            ix for ix in collection.indexes if ix.get("unique") and ix["type"] in self._TYPES
        ]
        self._docs = docs
        self._maps: list[dict[str, str]] | None = None

    @staticmethod
    def _value(index: dict[str, Any], doc: Mapping[str, Any]) -> str | None:
        values = [attribute_path(doc, f) for f in index["fields"]]
        if index.get("sparse") and any(v is None for v in values):
            return None
        return json.dumps(values, sort_keys=True)

    def _ensure(self) -> list[dict[str, str]]:
        if self._maps is None:
            self._maps = []
            for ix in self._indexes:
                values: dict[str, str] = {}
                for doc in self._docs.values():
                    value = self._value(ix, doc)
                    if value is not None:
                        values[value] = doc["_key"]
                self._maps.append(values)
        return self._maps

    def check(self, doc: Mapping[str, Any]) -> None:
        if not self._indexes:
            return
        for ix, values in zip(self._indexes, self._ensure(), strict=True):
            value = self._value(ix, doc)
            owner = values.get(value) if value is not None else None
            if owner is not None and owner != doc["_key"]:
                raise errors.unique_violated(ix["name"], ix["type"], ix["fields"], owner)

    def add(self, doc: Mapping[str, Any]) -> None:
        if not self._indexes:
            return
        for ix, values in zip(self._indexes, self._ensure(), strict=True):
            value = self._value(ix, doc)
            if value is not None:
                values[value] = doc["_key"]

    def remove(self, doc: Mapping[str, Any]) -> None:
        if not self._indexes:
            return
        for ix, values in zip(self._indexes, self._ensure(), strict=True):
            value = self._value(ix, doc)
            if value is not None and values.get(value) == doc["_key"]:
                del values[value]


def find_duplicate(index: dict[str, Any], docs: Iterable[Doc]) -> str | None:
    """The key of a document that would violate a new unique index, if any."""
    seen: set[str] = set()
    for doc in docs:
        value = UniqueGuard._value(index, doc)
        if value is None:
            continue
        if value in seen:
            return doc["_key"]
        seen.add(value)
    return None


class DocSpace(Protocol):
    """Where a request reads and writes one collection's documents.

    `LiveSpace` is the committed state; a stream transaction provides its own
    space over its snapshot (see transactions.py).
    """

    collection: Collection

    def docs(self) -> Mapping[str, Doc]: ...

    def get(self, key: str) -> Doc | None: ...

    def put(self, doc: Doc) -> None: ...

    def delete(self, key: str) -> None: ...

    def truncate(self) -> None: ...

    def savepoint(self) -> Callable[[], None]:
        """A function that undoes every write made through this space since now."""
        ...


class LiveSpace:
    def __init__(self, collection: Collection) -> None:
        self.collection = collection

    def docs(self) -> Mapping[str, Doc]:
        return self.collection.docs

    def get(self, key: str) -> Doc | None:
        return self.collection.docs.get(key)

    def put(self, doc: Doc) -> None:
        docs = self.collection.writable()
        docs.pop(doc["_key"], None)  # move to the end: last-write order
        docs[doc["_key"]] = doc

    def delete(self, key: str) -> None:
        self.collection.writable().pop(key, None)

    def truncate(self) -> None:
        self.collection.replace_all({})

    def savepoint(self) -> Callable[[], None]:
        saved = self.collection.snapshot()
        return lambda: self.collection.replace_all(saved)


@dataclass
class Database:
    id: str
    name: str
    collections: dict[str, Collection] = field(default_factory=dict)
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Database options a Coordinator keeps (sharding, replicationFactor, writeConcern).
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, name: str) -> Database:
        db = cls(id=str(TICKS.next_tick()), name=name)
        for system_name in SYSTEM_COLLECTIONS_PER_DB:
            db.add_collection({"name": system_name, "isSystem": True})
        return db

    def collection(self, name: str) -> Collection:
        try:
            return self.collections[name]
        except KeyError:
            raise errors.collection_not_found(name) from None

    def name_taken(self, name: str) -> bool:
        """Collections and views share one namespace (ArangoDB "data sources")."""
        return name in self.collections or name in self.views

    def add_collection(self, body: Mapping[str, Any]) -> Collection:
        is_system = bool(body.get("isSystem", False))
        name = check_collection_name(body.get("name"), is_system)
        if self.name_taken(name):
            raise ArangoError(409, errors.DUPLICATE_NAME, f"duplicate name: {name}")
        raw_type = body.get("type", DOCUMENT_COLLECTION)
        col_type = {"document": 2, "edge": 3}.get(raw_type, raw_type)
        if col_type not in (DOCUMENT_COLLECTION, EDGE_COLLECTION):
            raise errors.bad_parameter("invalid collection type")
        collection = Collection(
            id=str(TICKS.next_tick()),
            name=name,
            type=col_type,
            is_system=name.startswith("_"),
            key_gen=KeyGenerator.from_options(body.get("keyOptions")),
            wait_for_sync=bool(body.get("waitForSync", False)),
            cache_enabled=bool(body.get("cacheEnabled", False)),
            schema=normalize_schema(body.get("schema")),
            computed_values=normalize_computed_values(body.get("computedValues")),
        )
        self.collections[name] = collection
        return collection

    def user_collections(self) -> list[Collection]:
        return [c for c in self.collections.values() if not c.is_system]
