"""A forged manifest cannot make ``export`` or ``mount`` place a file outside the tree.

The database's files are named after the manifest's collections and views; every node of the
tree an export writes passes one check (spec/browse.md, "Writing a tree out"). Each export of
a forged snapshot runs in the read-only sandbox (tests/restore/sandbox.py), and every path the
forgery aims at lies inside the test's tmp folder.
"""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest

from snapstore.backend.local import LocalBackend
from snapstore.base.reporting import Reporter
from snapstore.inspection.mount import ChunkCache, SnapshotFS
from snapstore.manifest.schema import Manifest
from snapstore.store.chunkstore import ChunkStore
from tests.helpers import Workspace, error_line
from tests.restore.sandbox import run_sandboxed
from tests.restore.tools import edit_snapshot, snapshot_of


def _database(collections: dict[str, Any], views: list[dict[str, Any]]) -> dict[str, Any]:
    empty = {"properties": {}, "indexes": [], "root": None, "height": 0, "count": 0, "bytes": 0}
    return {
        "database": "forged",
        "collections": {name: dict(empty) for name in collections},
        "views": views,
    }


@pytest.mark.parametrize(
    ("collections", "views"),
    [
        ({"../../escaped": {}}, []),
        ({"a/b": {}}, []),
        ({}, [{"name": "../../escaped"}]),
        ({}, [{"name": "twice"}, {"name": "twice"}]),
        ({"nul\0name": {}}, []),
    ],
    ids=["dotdot-collection", "nested-collection", "dotdot-view", "view-twice", "nul"],
)
@pytest.mark.parametrize("as_tar", [False, True])
def test_forged_database_names_are_refused(
    tmp_path: Path, collections: dict[str, Any], views: list[dict[str, Any]], as_tar: bool
) -> None:
    ws = Workspace.make(tmp_path / "ws")
    ws.auto_cleanup = False
    name = snapshot_of(ws, "base")

    def forge(store: ChunkStore, m: Manifest) -> None:
        m.database = _database(collections, views)

    edit_snapshot(ws, name, forge)
    place = ws.root / "exports" / "deep"
    place.mkdir(parents=True)
    out = place / ("snap.tar" if as_tar else "exported")
    r = run_sandboxed(ws, "export", name, *(["--tar", str(out)] if as_tar else [str(out)]))
    assert r.returncode == 1, (r.stdout, r.stderr)
    error_line(r.stderr, f"snapshot {name}")
    assert list(place.iterdir()) == []
    assert not list((ws.root / "exports").glob("escaped*"))
    assert not list(ws.root.glob("escaped*"))


def test_mount_refuses_to_index_a_forged_tree(tmp_path: Path) -> None:
    """The mount's index of a snapshot passes the same check: the forged snapshot's folder
    fails with EIO and a warning naming it (the FUSE operations called directly)."""
    ws = Workspace.make(tmp_path / "ws")
    name = snapshot_of(ws, "base")
    edit_snapshot(ws, name, lambda store, m: setattr(m, "database", _database({"../../x": {}}, [])))
    backend = LocalBackend(ws.repo)
    store = ChunkStore.open(backend, str(ws.cache))
    reporter = Reporter()
    try:
        fs = SnapshotFS(backend, ChunkCache(store), reporter, tmp_path / "mnt")
        with pytest.raises(OSError) as failed:
            fs.getattr(f"/{name}")
        assert failed.value.errno == errno.EIO
        assert len(reporter.warnings) == 1 and f"snapshot {name}" in reporter.warnings[0]
    finally:
        store.close()
