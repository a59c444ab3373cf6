"""Server and database endpoints: /_open/auth, /_api/version, /_api/database."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from . import cluster, errors
from .errors import ArangoError
from .routing import Request, Response, Router, ok, raw
from .store import Database, check_database_name

if TYPE_CHECKING:
    from .app import App


def open_auth(app: App, body: bytes) -> Response:
    try:
        credentials = json.loads(body or b"null")
    except ValueError:
        raise ArangoError(400, errors.CORRUPTED_JSON, "invalid JSON object") from None
    token = app.auth.login(credentials, app.settings.jwt_lifetime, app.clock_offset)
    return raw({"jwt": token})


def _require_system(req: Request) -> None:
    if req.db.name != "_system":
        raise ArangoError(
            403, errors.USE_SYSTEM_DATABASE, "operation only allowed in system database"
        )


def version(req: Request) -> Response:
    settings = req.app.settings
    body = {"server": "arango", "version": settings.version, "license": settings.license}
    if req.qbool("details"):
        body["details"] = {
            "mode": "server",
            "role": settings.role,
            "engine": "rocksdb",
            "test-server": "snapstore tests/arango_server (not a real ArangoDB)",
        }
    return raw(body)


def server_role(req: Request) -> Response:
    return ok({"role": req.app.settings.role, "mode": "default"})


def startup_options(req: Request) -> Response:
    # GET /_admin/options (3.12 HTTP docs, administration#startup-options): only the
    # options that matter to a backup tool; `_system` only, like ArangoDB.
    _require_system(req)
    flag = req.app.settings.vector_index
    return raw(
        {
            "vector-index": flag,
            "experimental-vector-index": flag,
            "transaction.streaming-lock-timeout": req.app.settings.stream_trx_lock_timeout,
            "ttl.frequency": int(req.app.settings.ttl_frequency * 1000),
        }
    )


def engine(req: Request) -> Response:
    return raw({"name": "rocksdb", "supports": {"dfdb": False, "indexes": ["persistent"]}})


def key_generators(req: Request) -> Response:
    return ok({"keyGenerators": ["padded", "traditional", "autoincrement", "uuid"]})


def list_databases(req: Request) -> Response:
    _require_system(req)
    return ok({"result": sorted(req.app.databases)})


def user_databases(req: Request) -> Response:
    return ok({"result": sorted(req.app.databases)})


def current_database(req: Request) -> Response:
    db = req.db
    result = {
        "id": db.id,
        "name": db.name,
        "path": f"/var/lib/arangodb3/databases/database-{db.id}",
        "isSystem": db.name == "_system",
        "sharding": "",
        "replicationFactor": 1,
        "writeConcern": 1,
    }
    if cluster.is_coordinator(req.app.settings):
        del result["path"]  # Coordinators have no database directory
        result.update(db.options)
    return ok({"result": result})


def create_database(req: Request) -> Response:
    _require_system(req)
    body = req.json_object()
    name = check_database_name(body.get("name"))
    app = req.app
    options = cluster.database_options(app.settings, body)
    if name in app.databases:
        raise ArangoError(409, errors.DUPLICATE_NAME, "duplicate database name")
    for user in body.get("users") or []:
        if isinstance(user, dict) and isinstance(user.get("username"), str):
            app.users.setdefault(user["username"], str(user.get("passwd", "")))
    db = Database.create(name)
    db.options = options
    if cluster.is_coordinator(app.settings):
        for system in db.collections.values():
            system.cluster = cluster.system_collection_properties(options)
    app.databases[name] = db
    return ok({"result": True}, status=201)


def drop_database(req: Request, name: str) -> Response:
    _require_system(req)
    app = req.app
    if name == "_system":
        raise ArangoError(403, errors.FORBIDDEN, "forbidden: cannot drop _system")
    if name not in app.databases:
        raise ArangoError(404, errors.DATABASE_NOT_FOUND, "database not found")
    del app.databases[name]
    return ok({"result": True})


def register(router: Router) -> None:
    router.add("GET", r"/_api/version", version)
    router.add("GET", r"/_api/engine", engine)
    router.add("GET", r"/_admin/server/role", server_role)
    router.add("GET", r"/_admin/options", startup_options)
    router.add("GET", r"/_api/key-generators", key_generators)
    router.add("GET", r"/_api/database", list_databases)
    router.add("GET", r"/_api/database/user", user_databases)
    router.add("GET", r"/_api/database/current", current_database)
    router.add("POST", r"/_api/database", create_database)
    router.add("DELETE", r"/_api/database/(?P<name>[^/]+)", drop_database)
