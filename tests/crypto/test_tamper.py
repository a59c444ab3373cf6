"""Tampering with an encrypted repository (spec/encryption.md, "Associated data"): every object
type has bytes flipped, is truncated, swapped with another object of its type, and old
versions are put back. Each is detected (``check --read-data`` fails, or the repository
refuses to open), and a restore never writes wrong data: every restore of a forged repository
runs in the read-only sandbox (tests/restore/sandbox.py) and either fails with one error line
or restores exactly the snapshot's tree.

The exhaustive run (every byte of every object) is marked slow; the default run flips each
of the first and last 4 bytes and 8 spread between, of every object.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from snapstore.base.errors import SnapstoreError
from snapstore.crypto.backend import EncryptedBackend
from snapstore.crypto.keyring import add_key
from tests.helpers import (
    FAST_KDF,
    SMALL_CHUNKER,
    Node,
    Workspace,
    assert_same_tree,
    error_line,
    tree_state,
)
from tests.restore.sandbox import run_sandboxed


@dataclass
class Forged:
    """An encrypted repository with every object type, and what each snapshot holds."""

    ws: Workspace
    names: list[str]
    trees: dict[str, dict[bytes, Node]]


def _snap(ws: Workspace, f: Forged, description: str) -> str:
    name = ws.manager().create(description).snapshot.snapshot_name
    f.names.append(name)
    f.trees[name] = tree_state(ws.bulk)
    return name


@pytest.fixture
def forged(tmp_path: Path) -> Forged:
    ws = Workspace.make(tmp_path, populate=False)
    ws.exclude = ()
    ws.auto_cleanup = False
    rng = random.Random(5)
    (ws.bulk / "a.bin").write_bytes(rng.randbytes(700))
    (ws.bulk / "b.txt").write_text("some text\n" * 30)
    ws.init_encrypted(chunker=SMALL_CHUNKER)
    f = Forged(ws, [], {})
    s1 = _snap(ws, f, "old one")
    (ws.bulk / "b.txt").write_text("other text\n" * 30)
    s2 = _snap(ws, f, "middle one")
    ws.manager().archive([s1])  # an archive and its index; gc rewrites the index
    (ws.bulk / "c.bin").write_bytes(rng.randbytes(500))
    (ws.bulk / "b.txt").write_text("third text\n" * 30)
    _snap(ws, f, "new one")
    ws.manager().archive([s2])  # a second archive
    (ws.bulk / "e.bin").write_bytes(rng.randbytes(300))
    _snap(ws, f, "last one")  # a second index object beside the one gc wrote
    with ws.manager().repository.locked("key add", exclusive=True) as backend:
        assert isinstance(backend, EncryptedBackend)
        add_key(backend, "second password", "second", FAST_KDF)  # two key objects
    assert _detected(ws) is False
    return f


KINDS = ("config", "keys", "index", "snapshots", "packs", "archive-index", "archive")


def objects(repo: Path, kind: str) -> list[Path]:
    if kind == "config":
        return [repo / "config"]
    if kind in ("archive-index", "archive"):
        suffix = ".idx" if kind == "archive-index" else ".tar.gz"
        return sorted(p for p in (repo / "archives").iterdir() if p.name.endswith(suffix))
    return sorted(p for p in (repo / kind).rglob("*") if p.is_file())


def _detected(ws: Workspace) -> bool:
    """Whether a fresh client (no cache, no memory) finds the repository damaged."""
    scratch = ws.root / "scratch-cache"
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        report = ws.manager(cache_dir=str(scratch)).check(read_data=True)
    except SnapstoreError:
        return True  # refused to open or read: detected too
    return not report.ok


def _positions(size: int, every: bool) -> Iterator[int]:
    if every or size <= 16:
        yield from range(size)
        return
    yield from range(4)
    yield from range(size - 4, size)
    yield from sorted({4 + (size - 8) * i // 8 for i in range(8)})


def _flip_each(f: Forged, every: bool) -> None:
    for kind in KINDS:
        paths = objects(f.ws.repo, kind)
        assert paths, kind
        for path in paths:
            original = path.read_bytes()
            for pos in _positions(len(original), every):
                damaged = bytearray(original)
                damaged[pos] ^= 0x01
                path.write_bytes(bytes(damaged))
                assert _detected(f.ws), f"{kind} {path.name}: byte {pos} flipped, not detected"
            path.write_bytes(original)
        assert not _detected(f.ws), kind


def test_flipped_bytes_are_detected(forged: Forged) -> None:
    _flip_each(forged, every=False)


@pytest.mark.slow
def test_every_flipped_byte_is_detected(forged: Forged) -> None:
    _flip_each(forged, every=True)


@pytest.mark.parametrize("kind", KINDS)
def test_truncated_objects_are_detected(forged: Forged, kind: str) -> None:
    for path in objects(forged.ws.repo, kind):
        original = path.read_bytes()
        for keep in (0, 1, len(original) // 2, len(original) - 1):
            path.write_bytes(original[:keep])
            assert _detected(forged.ws), f"{kind} {path.name} cut to {keep} bytes"
        path.write_bytes(original)


@pytest.mark.parametrize(
    "kind", ["keys", "index", "snapshots", "packs", "archive-index", "archive"]
)
def test_objects_swapped_with_another_of_their_type_are_detected(forged: Forged, kind: str) -> None:
    a, b = objects(forged.ws.repo, kind)[:2]
    da, db = a.read_bytes(), b.read_bytes()
    a.write_bytes(db)
    b.write_bytes(da)
    assert _detected(forged.ws)
    _restores_only_the_truth(forged)


def test_the_config_of_another_repository_is_detected(forged: Forged, tmp_path: Path) -> None:
    other = Workspace.make(tmp_path / "other", populate=False)
    other.init_encrypted()
    shutil.copy(other.repo / "config", forged.ws.repo / "config")
    assert _detected(forged.ws)
    _restores_only_the_truth(forged)


@pytest.mark.parametrize("kind", ["snapshots", "index", "packs", "archive"])
def test_flipped_objects_never_restore_wrong_data(forged: Forged, kind: str) -> None:
    for path in objects(forged.ws.repo, kind):
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x40
        path.write_bytes(bytes(data))
    _restores_only_the_truth(forged)


def _restores_only_the_truth(f: Forged) -> None:
    """The snapshots restored in the sandbox (both archived ones, the newest: every object
    type is read by one of them): a clean failure, or exactly its tree."""
    for i, name in enumerate(f.names[:2] + f.names[-1:]):
        target = f.ws.root / f"restored-{i}"
        r = run_sandboxed(
            f.ws, "restore", name, "--target", str(target), "--yes", "--no-safety-snapshot"
        )
        if r.returncode == 0:
            assert_same_tree(f.trees[name], tree_state(target), f"restore of {name}")
        else:
            assert r.returncode in (1, 2), r
            error_line(r.stderr, alone=False)


def test_an_old_manifest_put_back_is_detected(forged: Forged) -> None:
    ws = forged.ws
    name = forged.names[-1]
    stored = {p: p.read_bytes() for p in objects(ws.repo, "snapshots")}
    ws.manager().pin(name)  # rewrites the manifest (a higher generation)
    assert ws.manager().check().ok
    changed = [p for p in objects(ws.repo, "snapshots") if stored.get(p) != p.read_bytes()]
    assert changed
    for p in changed:
        p.write_bytes(stored[p])  # the version from before the pin: genuine, but old
    report = ws.manager().check()
    assert not report.ok
    assert any("older" in e or "back" in e for e in report.errors), report.errors


def test_an_old_index_object_put_back_is_detected(forged: Forged) -> None:
    ws = forged.ws
    old = {p.name: p.read_bytes() for p in objects(ws.repo, "index")}
    (ws.bulk / "d.bin").write_bytes(random.Random(9).randbytes(900))
    ws.manager().create("one more")
    ws.manager().delete_snapshot(forged.names[-1], force=True)
    ws.manager().gc(max_unused=0.0)  # repacks: the old index objects are replaced
    gone = {n: d for n, d in old.items() if not (ws.repo / "index" / n).exists()}
    assert gone, "gc replaced no index object"
    for n, d in gone.items():
        (ws.repo / "index" / n).write_bytes(d)
    assert _detected(ws)
