"""What the restore target can take: its role, edition and features, and bodies made for it.

A snapshot may come from another kind of server than the one it is restored onto: a
cluster's collections carry shard and replication attributes a single server refuses, an
Enterprise server's carry SmartGraph/SmartJoin/Satellite attributes a Community server
refuses (spec/database.md, *Compatibility rules on the restore side*). arangorestore leaves
that to the server's restore endpoint, which rewrites the definition for the Community
Edition (arangod/RestHandler/RestReplicationHandler.cpp ``processRestoreCollection``:
``isSmart`` off, ``smartGraphAttribute``/``smartJoinAttribute`` removed, Enterprise sharding
strategies become ``hash``, ``replicationFactor: "satellite"`` becomes a number) and, on a
single server, creates the collection without its cluster attributes. The public
``POST /_api/collection`` we use does not rewrite anything, so this module does.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from snapstore.base.errors import DatabaseError
from snapstore.sources.arangodb import objects
from snapstore.sources.arangodb.connection import Connection, ServerAnswer

Json = dict[str, Any]

# Attributes only a cluster has; a single server refuses other values than its own (3.12:
# arangod/VocBase/Properties/CreateCollectionBody.cpp, "will be rejected in the future").
CLUSTER_ATTRIBUTES = (
    "numberOfShards",
    "replicationFactor",
    "writeConcern",
    "minReplicationFactor",
    "shardKeys",
    "distributeShardsLike",
    "shardingStrategy",
)
# Enterprise-only attributes (UserInputCollectionProperties.cpp: "only available in
# Enterprise version", 501/31).
ENTERPRISE_ATTRIBUTES = ("isSmart", "isDisjoint", "smartGraphAttribute", "smartJoinAttribute")
# Fixed at creation: a collection rebuilt in place (truncated) must already have these.
IMMUTABLE_ATTRIBUTES = (
    "type",
    "keyOptions",
    "numberOfShards",
    "shardKeys",
    "distributeShardsLike",
    "shardingStrategy",
    *ENTERPRISE_ATTRIBUTES,
)
# Values that say nothing a single server would not be anyway.
_SINGLE_VALUES: tuple[Any, ...] = (None, "", 1, ["_key"], "hash", "community-compat")
VECTOR_FLAGS = ("vector-index", "experimental-vector-index")
VECTOR_SINCE = (3, 12, 4)


@dataclass
class Target:
    """The server a restore writes to."""

    role: str = "SINGLE"
    version: str = "?"
    enterprise: bool = False
    options: Json | None = field(default=None)  # GET /_admin/options, None if not readable

    @property
    def cluster(self) -> bool:
        return self.role == "COORDINATOR"

    @classmethod
    def read(cls, conn: Connection) -> Target:
        # Through _system: the target database may not exist yet.
        body = conn.call("get", "/_api/version", what="reading the server version", db=conn.system)
        role = "SINGLE"
        with contextlib.suppress(ServerAnswer):  # older and test servers may not know it
            answer = conn.call("get", "/_admin/server/role", what="role", db=conn.system)
            role = str(answer.get("role", role))
        return cls(
            role=role,
            version=str(body.get("version", "?")),
            enterprise=str(body.get("license", "community")) == "enterprise",
        )

    def read_options(self, conn: Connection) -> Json | None:
        """GET /_admin/options (``_system``, superuser; None when refused or unknown)."""
        if self.options is None:
            try:
                self.options = conn.call(
                    "get", "/_admin/options", what="reading the server options", db=conn.system
                )
            except ServerAnswer:
                return None
        return self.options

    def vector_problem(self, conn: Connection) -> str | None:
        """Why this server cannot create vector indexes, or None if it can (or may)."""
        if _version(self.version) and _version(self.version) < VECTOR_SINCE:
            return f"ArangoDB {self.version} has no vector indexes (3.12.4 and later)"
        options = self.read_options(conn)
        if options is None:
            return None  # cannot tell: the index creation itself will say
        if any(options.get(flag) is True for flag in VECTOR_FLAGS):
            return None
        if not any(flag in options for flag in VECTOR_FLAGS):
            return None
        return (
            "the server runs without the vector index feature: start it with "
            "--vector-index (--experimental-vector-index in early 3.12 releases)"
        )

    # -- bodies -------------------------------------------------------------------------------

    def collection_body(self, name: str, props: Json) -> tuple[Json, list[str]]:
        """The create body for this server and what was changed to make it fit."""
        body = objects.collection_create_body(name, props)
        changes: list[str] = []
        if not self.enterprise:
            for attr in ENTERPRISE_ATTRIBUTES:
                if body.pop(attr, None) not in (None, False, ""):
                    changes.append(f"removed {attr}")
            if str(body.get("shardingStrategy", "")).startswith("enterprise"):
                body["shardingStrategy"] = "hash"
                changes.append("shardingStrategy set to hash")
            if body.get("replicationFactor") == "satellite":
                del body["replicationFactor"]
                body.pop("writeConcern", None)
                body.pop("minReplicationFactor", None)
                changes.append("replicationFactor satellite replaced by the default")
        if not self.cluster:
            for attr in CLUSTER_ATTRIBUTES:
                if attr in body and body.pop(attr) not in _SINGLE_VALUES:
                    changes.append(f"removed {attr}")
        elif body.get("distributeShardsLike"):
            # A follower takes shards and replication from its prototype and may not ask
            # for others (UserInputCollectionProperties.cpp).
            for attr in ("numberOfShards", "replicationFactor", "writeConcern"):
                body.pop(attr, None)
        return body, changes

    def database_options(self, options: Json) -> Json:
        """POST /_api/database ``options`` (as arangorestore's ``tryCreateDatabase`` sends them)."""
        out = dict(options)
        if out.get("replicationFactor") == "satellite" and not self.enterprise:
            del out["replicationFactor"]
        return out

    def graph_body(self, graph: Json) -> Json:
        body = objects.graph_create_body(graph)
        options = dict(body.get("options") or {})
        if not self.enterprise:
            for key in ("isSmart", "isDisjoint"):
                body.pop(key, None)
            options.pop("smartGraphAttribute", None)
            options.pop("satellites", None)
            if options.get("replicationFactor") == "satellite":
                del options["replicationFactor"]
        if not self.cluster:
            for key in ("numberOfShards", "replicationFactor", "writeConcern"):
                options.pop(key, None)
        if options:
            body["options"] = options
        else:
            body.pop("options", None)
        return body


def immutable_differences(live: Json, wanted: Json) -> list[str]:
    """The fixed-at-creation attributes in which ``live`` differs from ``wanted`` (both
    create bodies or property sets); attributes only one side has are not compared."""
    out = []
    for attr in IMMUTABLE_ATTRIBUTES:
        if attr not in live or attr not in wanted:
            continue
        a, b = live[attr], wanted[attr]
        if attr == "keyOptions" and isinstance(a, dict) and isinstance(b, dict):
            a = {k: v for k, v in a.items() if k != "lastValue"}
            b = {k: v for k, v in b.items() if k != "lastValue"}
        if a != b:
            out.append(attr)
    return out


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("-")[0].split(".")[:3]:
        if not piece.isdigit():
            return ()
        parts.append(int(piece))
    return tuple(parts)


def require_vector_support(
    conn: Connection, target: Target, section: Json, names: list[str]
) -> None:
    """Refuse, before anything is changed, a snapshot whose vector indexes cannot be made."""
    users = [
        n
        for n in names
        if any(i.get("type") == "vector" for i in section["collections"][n].get("indexes") or [])
    ]
    if not users:
        return
    problem = target.vector_problem(conn)
    if problem:
        raise DatabaseError(
            f"the snapshot has vector indexes (on {', '.join(users)}) and {problem}; "
            "nothing was changed"
        )
