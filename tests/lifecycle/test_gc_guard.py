"""gc never deletes data a snapshot needs, even when the index has lost track of it.

If an index object is lost or damaged, the packs it described are "unindexed", and gc's usual
job is to delete unindexed packs (leftovers of interrupted creates). When a listed snapshot
still references chunks that no index knows, those packs may be exactly where the chunks are:
gc must stop before deleting anything, and `rebuild-index` must bring the chunks back.
"""

from __future__ import annotations

import shutil

from snapstore.backend import Kind
from snapstore.backend.local import LocalBackend
from snapstore.manager import SnapshotManager
from snapstore.store.index import IndexObject
from tests.helpers import Workspace, assert_same_tree, error_line, tree_state
from tests.lifecycle.conftest import text, write


def _forget_one_file_chunk(ws: Workspace, m: SnapshotManager, name: str) -> bytes:
    """Rewrite the index without one chunk of data/big.bin (its listing stays indexed)."""
    entry = next(e for _, e in m.snapshot_files(name) if e.path == b"data/big.bin")
    victim = entry.chunks[0]
    backend = LocalBackend(ws.repo)
    for info in list(backend.list(Kind.INDEX)):
        obj = IndexObject.decode(backend.get(Kind.INDEX, info.name), info.name)
        obj.packs = {p: [e for e in es if e.id != victim] for p, es in obj.packs.items()}
        new_name, data = obj.encode()
        backend.put(Kind.INDEX, new_name, data)
        if new_name != info.name:
            backend.delete(Kind.INDEX, info.name)
    shutil.rmtree(ws.cache, ignore_errors=True)
    return victim


def test_gc_refuses_while_referenced_chunks_are_unindexed(lws: Workspace) -> None:
    write(lws.bulk, "data/big.bin", text(1, 200_000))
    write(lws.bulk, "notes.txt", b"keep me")
    m = lws.manager(auto_cleanup=False)
    name = m.create("before the index was damaged").snapshot.snapshot_name
    _forget_one_file_chunk(lws, m, name)
    packs_before = sorted(p.name for p in LocalBackend(lws.repo).list(Kind.PACKS))

    r = lws.run("gc")
    assert r.returncode != 0
    error_line(r.stderr, "gc stopped before deleting anything", "rebuild-index")
    assert sorted(p.name for p in LocalBackend(lws.repo).list(Kind.PACKS)) == packs_before

    # The way back the message names: the packs' own tables of contents restore the index.
    assert lws.run("rebuild-index").returncode == 0
    assert lws.run("check", "--read-data").returncode == 0
    out = lws.root / "restored"
    m.restore_snapshot(name, confirm=True, target=str(out), safety_snapshot=False)
    assert_same_tree(tree_state(lws.bulk), tree_state(out))
    assert lws.run("gc").returncode == 0
