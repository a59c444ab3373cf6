"""diff A B and restore --dry-run: every kind of change, directories summarised, file data and
shared document chunks never read."""

from __future__ import annotations

import json
import os
from pathlib import Path

from snapstore.backend import Kind
from snapstore.backend.local import LocalBackend
from snapstore.inspection.diff import diff_snapshots, differing_documents
from snapstore.manager import SnapshotManager
from snapstore.manifest.schema import Manifest
from snapstore.sources.arangodb.doctree import NodeEntry, encode_node
from snapstore.store.chunkstore import ChunkStore
from tests.helpers import Workspace, tree_state
from tests.lifecycle.conftest import text, write


def _by_path(diff) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {c.path: c for c in diff.files}


def test_every_kind_of_file_change(lws: Workspace, lm: SnapshotManager) -> None:
    b = lws.bulk
    write(b, "same.txt", text(1, 5000))
    write(b, "edit.txt", text(2, 5000))
    write(b, "gone.txt", text(3, 800))
    write(b, "touch.txt", text(4, 800))
    write(b, "chmod.txt", text(5, 800))
    write(b, "becomes-dir", b"file first")
    write(b, "old-tree/a/x.txt", text(6, 1000))
    write(b, "old-tree/y.txt", text(7, 500))
    os.symlink("same.txt", b / "mylink")
    a = lm.create("a").snapshot.snapshot_name
    write(b, "edit.txt", text(2, 5000) + b"appended")
    (b / "gone.txt").unlink()
    os.utime(b / "touch.txt", ns=(1, 1_000_000_000))
    (b / "chmod.txt").chmod(0o600)
    (b / "becomes-dir").unlink()
    write(b, "becomes-dir/inside.txt", b"now a directory")
    import shutil

    shutil.rmtree(b / "old-tree")
    write(b, "new-tree/deep/z.txt", text(8, 2000))
    write(b, "new-tree/w.txt", text(9, 100))
    (b / "mylink").unlink()
    os.symlink("edit.txt", b / "mylink")
    after = lm.create("b").snapshot.snapshot_name

    d = lm.diff(a, after)
    c = _by_path(d)
    assert "same.txt" not in c
    assert c["edit.txt"].change == "modified"
    assert (c["edit.txt"].size_before, c["edit.txt"].size_after) == (5000, 5008)
    assert c["gone.txt"].change == "removed" and c["gone.txt"].size_before == 800
    assert c["touch.txt"].change == "metadata" and c["touch.txt"].details == ("mtime",)
    assert c["chmod.txt"].change == "metadata" and c["chmod.txt"].details == ("mode 644 -> 600",)
    assert c["becomes-dir"].change == "type"
    assert (c["becomes-dir"].type_before, c["becomes-dir"].type_after) == ("file", "directory")
    assert c["becomes-dir"].entries == 1  # its new child folded into the line
    assert c["mylink"].change == "modified" and c["mylink"].type_after == "symlink"
    # Whole directories: one line each, with what is inside.
    assert c["old-tree"].change == "removed" and c["old-tree"].entries == 3
    assert c["old-tree"].bytes == 1500
    assert c["new-tree"].change == "added" and c["new-tree"].entries == 3
    assert c["new-tree"].bytes == 2100
    assert not any(p.startswith(("old-tree/", "new-tree/", "becomes-dir/")) for p in c)

    cli = lws.run("diff", a, after)
    assert cli.returncode == 0, cli.stderr
    assert "- old-tree/ (directory, 3 entries" in cli.stdout
    assert "M edit.txt" in cli.stdout and "m chmod.txt (mode 644 -> 600)" in cli.stdout
    doc = json.loads(lws.run("diff", a, after, "--json").stdout)
    assert doc["summary"]["removed"] == 2 and doc["summary"]["added"] == 1


class CountingBackend(LocalBackend):
    """The real local backend, recording which pack byte ranges were read."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reads: list[tuple[str, int]] = []

    def get(self, kind: Kind, name: str, offset: int = 0, length: int | None = None) -> bytes:
        if kind is Kind.PACKS:
            self.reads.append((name, offset))
        return super().get(kind, name, offset, length)


def test_diff_never_reads_file_data(lws: Workspace, lm: SnapshotManager) -> None:
    for i in range(5):
        write(lws.bulk, f"f{i}.bin", text(i, 20_000))
    a = lm.create("a").snapshot.snapshot_name
    write(lws.bulk, "f0.bin", text(100, 20_000))
    b = lm.create("b").snapshot.snapshot_name
    backend = CountingBackend(lws.repo)
    store = ChunkStore.open(backend, str(lws.cache))
    try:
        from snapstore.manifest.catalog import Catalog

        ma, mb = Catalog(backend).load(a), Catalog(backend).load(b)
        d = diff_snapshots(store, ma, mb)
        assert [c.path for c in d.files] == ["f0.bin"]
        listing = {c for m in (ma, mb) for r in m.bulk or [] for c in r.listing}
        read = set()
        for cid, loc in store.cache.entries():
            if (loc.pack, loc.offset) in set(backend.reads):
                read.add(cid)
        assert read and read <= listing  # only listing chunks were read
        backend.reads.clear()
        assert diff_snapshots(store, ma, ma).empty
        assert backend.reads == []  # identical listings: nothing decoded at all
    finally:
        store.close()


def _tree(store: ChunkStore, leaves: list[list[dict[str, object]]]) -> tuple[bytes, int]:
    """A two-level document tree as the ArangoDB source writes it: JSON-line leaves."""
    entries = []
    for docs in leaves:
        data = b"".join(json.dumps(d, sort_keys=True).encode() + b"\n" for d in docs)
        cid, _ = store.add(data)
        entries.append(NodeEntry(str(docs[0]["_key"]), str(docs[-1]["_key"]), cid, len(docs), 0))
    root, _ = store.add(encode_node(1, entries))
    return root, 1


def test_collection_keys_added_removed_changed(lws: Workspace, lm: SnapshotManager) -> None:
    lm.create("init")
    backend = CountingBackend(lws.repo)
    store = ChunkStore.open(backend, str(lws.cache))
    try:
        shared = [{"_key": f"k{i:03}", "v": i} for i in range(10)]
        before = [shared, [{"_key": "m1", "v": 1}, {"_key": "m2", "v": 2}]]
        after = [shared, [{"_key": "m1", "v": 100}, {"_key": "m3", "v": 3}]]
        ra, ha = _tree(store, before)
        rb, hb = _tree(store, after)
        store.flush()
        sa = {"root": ra, "height": ha, "properties": {"type": 2}}
        sb = {"root": rb, "height": hb, "properties": {"type": 2}}
        shared_leaf = store.cache.get(
            next(
                c for c, _ in store.cache.entries() if store.read(c).startswith(b'{"_key": "k000"')
            )
        )
        backend.reads.clear()
        docs_a, docs_b = differing_documents(store, sa, sb, "papers")
        assert set(docs_a) == {"m1", "m2"} and set(docs_b) == {"m1", "m3"}
        assert shared_leaf is not None
        assert (shared_leaf.pack, shared_leaf.offset) not in backend.reads  # shared: never read

        def manifest(name: str, section: dict[str, object], count: int) -> Manifest:
            return Manifest(
                name=name,
                created="2025-01-01T00:00:00+00:00",
                timestamp="2025-01-01T00:00:00",
                description="",
                collections={"papers": count, "only_a" if name == "A" else "only_b": 1},
                database={
                    "collections": {
                        "papers": section,
                        ("only_a" if name == "A" else "only_b"): {"root": None, "height": 0},
                    }
                },
            )

        d = diff_snapshots(store, manifest("A", sa, 12), manifest("B", sb, 12))
        by = {c.name: c for c in d.collections}
        assert by["only_a"].change == "removed" and by["only_b"].change == "added"
        p = by["papers"]
        assert (p.keys_added, p.keys_removed, p.keys_changed) == (("m3",), ("m2",), ("m1",))
        assert (p.count_before, p.count_after) == (12, 12)
    finally:
        store.close()


def test_restore_dry_run_shows_changes_and_changes_nothing(
    lws: Workspace, lm: SnapshotManager
) -> None:
    write(lws.bulk, "keep.txt", text(1, 3000))
    write(lws.bulk, "will-change.txt", text(2, 3000))
    name = lm.create("base").snapshot.snapshot_name
    write(lws.bulk, "will-change.txt", text(3, 3000))  # same size, new content
    write(lws.bulk, "extra/new.txt", b"not in the snapshot")
    (lws.bulk / "keep.txt").chmod(0o600)
    before = tree_state(lws.bulk)
    r = lws.run("restore", name, "--dry-run")
    assert r.returncode == 0, r.stderr
    assert tree_state(lws.bulk) == before  # nothing changed
    assert len(lws.manager().list_snapshots()) == 1  # no safety snapshot either
    out = r.stdout
    assert "would change" in out
    assert "M will-change.txt" in out
    assert "- extra/ (directory, 1 entries" in out
    assert "m keep.txt (mode 600 -> 644" in out
    doc = json.loads(lws.run("restore", name, "--dry-run", "--json").stdout)
    assert {c["path"]: c["change"] for c in doc["files"]} == {
        "extra": "removed",
        "keep.txt": "metadata",
        "will-change.txt": "modified",
    }
