"""Cluster and Enterprise attributes: which a server takes, and what it does with them.

A single server has no shards and no replication: ArangoDB 3.12 parses a collection's
creation body strictly (arangod/VocBase/Properties/CreateCollectionBody.cpp,
`fromCreateAPIBody`) and, when that fails, retries with the cluster attributes dropped and
logs that the request "contains an illegal combination and will be rejected in the future"
(`transformFromBackwardsCompatibleBody`, `logDeprecationMessage`). This server takes the
announced, strict behaviour: on a single server a collection body whose cluster attributes
ask for something a single server cannot be (more than one shard, replication, other shard
keys, `distributeShardsLike`, a sharding strategy) is refused with 400/10. The values a
single server reports itself (`writeConcern: 1`, ...) are accepted, so its own properties can
be sent back.

A Community server refuses Enterprise-only attributes (SmartGraph and SmartJoin attributes,
SatelliteCollections) with 501/31 ERROR_ONLY_ENTERPRISE ("Smart collections are only
available in Enterprise version", arangod/VocBase/Properties/UserInputCollectionProperties.cpp;
HTTP 501 from lib/Rest/GeneralResponse.cpp `responseCode`).

With `Settings.role = "COORDINATOR"` the server takes the cluster attributes, checks them
the way UserInputCollectionProperties.cpp does (the `distributeShardsLike` prototype must
exist and not follow another one, 1486 / 1484; a follower inherits numberOfShards,
replicationFactor and writeConcern and may not ask for others, 400/10), refuses a
replicationFactor above its DB-Server count unless the request says
`enforceReplicationFactor=false` (RestCollectionHandler.cpp reads that parameter; 1487), and
refuses to drop a prototype while followers exist (1485). Database options (`sharding`,
`replicationFactor`, `writeConcern`) are kept and reported only by a Coordinator; a single
server ignores them. In a OneShard database (`sharding: "single"`) every user collection is
created with one shard and `distributeShardsLike: "_graphs"` (arangod/VocBase/Methods/
Collections.cpp, `createCollectionProperties`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import errors
from .errors import ArangoError

if TYPE_CHECKING:
    from .app import Settings
    from .store import Database

ENTERPRISE_ATTRIBUTES = ("isSmart", "isDisjoint", "smartGraphAttribute", "smartJoinAttribute")
SHARDING_STRATEGIES = ("hash", "community-compat", "enterprise-compat")
ENTERPRISE_STRATEGIES = (
    "enterprise-smart-edge-compat",
    "enterprise-hash-smart-edge",
    "enterprise-hex-smart-vertex",
)
# What a single server is: any other value of these asks for a cluster.
_SINGLE_VALUES: dict[str, tuple[Any, ...]] = {
    "numberOfShards": (1,),
    "replicationFactor": (1,),
    "writeConcern": (1,),
    "minReplicationFactor": (1,),
    "shardKeys": (["_key"],),
    "distributeShardsLike": ("", None),
    "shardingStrategy": (None,),
}
ONE_SHARD_PROTOTYPE = "_graphs"


def is_coordinator(settings: Settings) -> bool:
    return settings.role == "COORDINATOR"


def _truthy(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name)
    return value not in (None, False, "")


def _check_enterprise(settings: Settings, body: Mapping[str, Any]) -> None:
    if settings.license == "enterprise":
        return
    used = [a for a in ENTERPRISE_ATTRIBUTES if _truthy(body, a)]
    if body.get("replicationFactor") in ("satellite", 0):
        used.append("replicationFactor: satellite")
    if body.get("shardingStrategy") in ENTERPRISE_STRATEGIES:
        used.append(f"shardingStrategy: {body['shardingStrategy']}")
    if used:
        raise ArangoError(
            501,
            errors.ONLY_ENTERPRISE,
            f"Smart and Satellite collections are only available in Enterprise version "
            f"({', '.join(used)})",
        )


def _positive_int(body: Mapping[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise errors.bad_parameter(f"invalid value for '{name}'")
    return value


def collection_cluster_properties(
    settings: Settings, db: Database, body: Mapping[str, Any], enforce_replication: bool
) -> dict[str, Any]:
    """Validate a POST /_api/collection body's cluster attributes; return what to keep."""
    _check_enterprise(settings, body)
    if not is_coordinator(settings):
        for name, allowed in _SINGLE_VALUES.items():
            if name in body and body[name] not in allowed:
                raise errors.bad_parameter(
                    f"'{name}' is a cluster attribute: a single server cannot take {body[name]!r}"
                )
        return {}
    return _coordinator_properties(settings, db, body, enforce_replication)


def _coordinator_properties(
    settings: Settings, db: Database, body: Mapping[str, Any], enforce_replication: bool
) -> dict[str, Any]:
    name = str(body.get("name", ""))
    shards = _positive_int(body, "numberOfShards")
    write_concern = _positive_int(body, "writeConcern") or _positive_int(
        body, "minReplicationFactor"
    )
    replication = body.get("replicationFactor")
    if replication is not None and replication != "satellite":
        replication = _positive_int(body, "replicationFactor")
    leader = body.get("distributeShardsLike") or None
    if db.options.get("sharding") == "single" and not name.startswith("_") and leader is None:
        leader = ONE_SHARD_PROTOTYPE
    props: dict[str, Any] = {}
    if leader is not None:
        if not isinstance(leader, str) or leader not in db.collections:
            raise ArangoError(
                500,
                errors.CLUSTER_UNKNOWN_DISTRIBUTESHARDSLIKE,
                f"Could not find collection '{leader}' to distribute shards like",
            )
        proto = db.collections[leader].cluster
        if proto.get("distributeShardsLike"):
            raise ArangoError(
                400,
                errors.CLUSTER_CHAIN_OF_DISTRIBUTESHARDSLIKE,
                f"Cannot distribute shards like '{leader}' it is already distributed like "
                f"'{proto['distributeShardsLike']}'.",
            )
        for key, mine in (
            ("numberOfShards", shards),
            ("replicationFactor", replication),
            ("writeConcern", write_concern),
        ):
            theirs = proto.get(key, 1)
            if mine is not None and mine != theirs:
                raise errors.bad_parameter(
                    f"Cannot have a different {key} ({mine}), than the leading collection "
                    f"({theirs})"
                )
        shards, replication = proto.get("numberOfShards", 1), proto.get("replicationFactor", 1)
        write_concern = proto.get("writeConcern", 1)
        props["distributeShardsLike"] = leader
    else:
        shards = shards or 1
        replication = (
            replication if replication is not None else db.options.get("replicationFactor", 1)
        )
        write_concern = write_concern or db.options.get("writeConcern", 1)
    asked = body.get("replicationFactor")
    if isinstance(asked, int) and enforce_replication and asked > settings.db_servers:
        raise ArangoError(
            500,
            errors.CLUSTER_INSUFFICIENT_DBSERVERS,
            f"replicationFactor {asked} is higher than the number of DB-Servers "
            f"({settings.db_servers})",
        )
    if isinstance(replication, int) and write_concern > replication:
        raise errors.bad_parameter("writeConcern must not be higher than replicationFactor")
    keys = body.get("shardKeys", ["_key"])
    if (
        not isinstance(keys, list)
        or not 1 <= len(keys) <= 8
        or any(not isinstance(k, str) or k.strip(":") in ("_id", "_rev") for k in keys)
    ):
        raise errors.bad_parameter("invalid shard keys")
    strategy = body.get("shardingStrategy", "hash")
    if strategy not in SHARDING_STRATEGIES + ENTERPRISE_STRATEGIES:
        raise errors.bad_parameter(f"Invalid sharding strategy {strategy}")
    props.update(
        numberOfShards=shards,
        replicationFactor=replication,
        writeConcern=write_concern,
        shardKeys=keys,
        shardingStrategy=strategy,
    )
    for attribute in ENTERPRISE_ATTRIBUTES:
        if _truthy(body, attribute):
            props[attribute] = body[attribute]
    return props


def check_drop(settings: Settings, db: Database, name: str) -> None:
    """A prototype cannot be dropped while others are distributed like it (1485)."""
    if not is_coordinator(settings):
        return
    followers = sorted(
        c.name for c in db.collections.values() if c.cluster.get("distributeShardsLike") == name
    )
    if followers:
        raise ArangoError(
            500,
            errors.CLUSTER_MUST_NOT_DROP_COLL_OTHER_DISTRIBUTESHARDSLIKE,
            f"Collection '{name}' must not be dropped while '{', '.join(followers)}' have "
            "distributeShardsLike set to its name",
        )


def system_collection_properties(options: Mapping[str, Any]) -> dict[str, Any]:
    """What a Coordinator's new database gives its system collections (the prototypes)."""
    return {
        "numberOfShards": 1,
        "replicationFactor": options.get("replicationFactor", 1),
        "writeConcern": options.get("writeConcern", 1),
        "shardKeys": ["_key"],
        "shardingStrategy": "hash",
    }


def database_options(settings: Settings, body: Mapping[str, Any]) -> dict[str, Any]:
    """POST /_api/database `options` a Coordinator keeps (a single server ignores them)."""
    options = body.get("options") or {}
    if not isinstance(options, dict):
        raise errors.bad_parameter("'options' must be an object")
    if not is_coordinator(settings):
        return {}
    sharding = options.get("sharding", "")
    if sharding not in ("", "flexible", "single"):
        raise errors.bad_parameter(f"invalid sharding '{sharding}'")
    replication = options.get("replicationFactor", 1)
    if replication == "satellite":
        if settings.license != "enterprise":
            raise ArangoError(
                501, errors.ONLY_ENTERPRISE, "satellite databases need the Enterprise Edition"
            )
    else:
        replication = _positive_int(options, "replicationFactor") or 1
    write_concern = _positive_int(options, "writeConcern") or 1
    if isinstance(replication, int) and write_concern > replication:
        raise errors.bad_parameter("writeConcern must not be higher than replicationFactor")
    return {"sharding": sharding, "replicationFactor": replication, "writeConcern": write_concern}
