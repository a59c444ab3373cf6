"""Helpers for the ArangoDB source tests: a snapshot workspace on a scratch database, and the
observable state of a database (everything a restore must bring back), read with python-arango
independently of the product's own reading code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from arango.database import StandardDatabase
from arango.request import Request

from snapstore.base.reporting import Reporter
from snapstore.config.settings import ArangoSettings, Settings
from snapstore.manager import SnapshotManager
from tests.arango.conftest import ArangoDatabase

# Fields the server assigns; a restored database has new ones.
_VOLATILE_PROPS = {"id", "objectId", "globallyUniqueId", "status", "statusString", "error", "code"}
_VOLATILE_INDEX = {"id", "selectivityEstimate", "figures", "isNewlyCreated", "error", "code"}
_VOLATILE_VIEW = {"id", "globallyUniqueId", "error", "code"}


def raw(db: StandardDatabase, method: str, endpoint: str, **kw: Any) -> Any:
    resp = db.request(Request(method=method, endpoint=endpoint, **kw))
    assert resp.is_success, (method, endpoint, resp.status_code, resp.body)
    return resp.body


def documents(db: StandardDatabase, name: str) -> dict[str, dict[str, Any]]:
    cursor = db.aql.execute("FOR d IN @@c RETURN d", bind_vars={"@c": name}, batch_size=1000)
    out = {}
    for d in cursor:
        d = dict(d)
        d.pop("_id", None)
        out[d["_key"]] = d
    return out


def collection_names(db: StandardDatabase) -> list[str]:
    return sorted(c["name"] for c in db.collections() if not c["name"].startswith("_"))


def _short(value: Any, prefix: str) -> Any:
    if isinstance(value, str):
        return value[len(prefix) :] if value.startswith(prefix) else value
    if isinstance(value, list):
        return [_short(v, prefix) for v in value]
    if isinstance(value, dict):
        return {k: _short(v, prefix) for k, v in value.items()}
    return value


def db_state(db: StandardDatabase, with_docs: bool = True) -> dict[str, Any]:
    """Everything a restore must reproduce, minus server-assigned ids."""
    prefix = f"{db.name}::"
    state: dict[str, Any] = {"collections": {}}
    for name in collection_names(db):
        q = quote(name, safe="")
        props = raw(db, "get", f"/_api/collection/{q}/properties")
        props = {k: v for k, v in props.items() if k not in _VOLATILE_PROPS}
        indexes = raw(db, "get", "/_api/index", params={"collection": name})["indexes"]
        indexes = sorted(
            (
                _short({k: v for k, v in i.items() if k not in _VOLATILE_INDEX}, prefix)
                for i in indexes
            ),
            key=lambda i: json.dumps(i, sort_keys=True),
        )
        entry: dict[str, Any] = {"properties": props, "indexes": indexes}
        if with_docs:
            entry["documents"] = documents(db, name)
        state["collections"][name] = entry
    views = {}
    for v in raw(db, "get", "/_api/view")["result"]:
        p = raw(db, "get", f"/_api/view/{quote(v['name'], safe='')}/properties")
        views[v["name"]] = _short(
            {k: val for k, val in p.items() if k not in _VOLATILE_VIEW}, prefix
        )
    state["views"] = views
    state["analyzers"] = sorted(
        (
            _short(a, prefix)
            for a in raw(db, "get", "/_api/analyzer")["result"]
            if a["name"].startswith(prefix)
        ),
        key=lambda a: a["name"],
    )
    state["graphs"] = sorted(
        (
            {k: v for k, v in g.items() if k not in ("_rev", "_id")}
            for g in raw(db, "get", "/_api/gharial")["graphs"]
        ),
        key=lambda g: g["name"],
    )
    return state


class RecordingReporter(Reporter):
    """Keeps phases and info lines; ``on_start`` lets a test act when a phase begins."""

    def __init__(self, on_start: Any = None) -> None:
        super().__init__()
        self.phases: list[str] = []
        self.infos: list[str] = []
        self.on_start = on_start

    def start(self, label: str, total: int | None = None) -> None:
        self.phases.append(label)
        if self.on_start is not None:
            self.on_start(label)

    def info(self, message: str) -> None:
        self.infos.append(message)


@dataclass
class SnapWorkspace:
    """A repository in tmp and a SnapshotManager pointed at a scratch database."""

    target: ArangoDatabase
    root: Path
    reporter: RecordingReporter = field(default_factory=RecordingReporter)

    @property
    def repo(self) -> Path:
        return self.root / "repo"

    def arango(self, **overrides: Any) -> ArangoSettings:
        base = ArangoSettings(
            url=self.target.url, database=self.target.db_name, user=self.target.user
        )
        return ArangoSettings(**{**base.__dict__, **overrides})

    def settings(self, **arango: Any) -> Settings:
        return Settings(
            repository=str(self.repo),
            bulk=(),
            project_dir=str(self.root),
            cache_dir=str(self.root / "cache"),
            auto_cleanup=False,
            arangodb=self.arango(**arango),
        )

    def manager(self, reporter: Reporter | None = None, **arango: Any) -> SnapshotManager:
        return SnapshotManager(self.settings(**arango), reporter=reporter or self.reporter)

    def db(self, name: str | None = None) -> StandardDatabase:
        from arango import ArangoClient

        client = ArangoClient(hosts=self.target.url)
        return client.db(name or self.target.db_name, self.target.user, self.target.password)

    def create(self, description: str = "snap", **kw: Any) -> str:
        return self.manager().create(description, include_bulk=False, **kw).snapshot.snapshot_name

    def restore(self, name: str, **kw: Any) -> Any:
        kw.setdefault("restore_bulk", False)
        return self.manager().restore_snapshot(name, confirm=True, **kw)


def make_workspace(
    arango_db: ArangoDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> SnapWorkspace:
    """A snapshot workspace on the scratch database; the password comes from the environment."""
    monkeypatch.setenv("SNAPSTORE_ARANGO_PASSWORD", arango_db.password)
    monkeypatch.delenv("SNAPSTORE_ARANGO_PASSWORD_FILE", raising=False)
    return SnapWorkspace(arango_db, tmp_path)
