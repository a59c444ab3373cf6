"""A stateful model of a user's life with snapstore (hypothesis RuleBasedStateMachine).

The machine edits a real bulk tree, takes snapshots, deletes them, restores them (into a new
directory and over the live tree, with a safety snapshot), and crashes in the middle of creates
(a forked process killed with SIGKILL at a random moment, and the on-disk state a crash leaves:
packs without an index, or packs and index without a manifest). The model remembers what each
snapshot captured. After every step: the listed snapshots are exactly the model's, newest first;
each one restores exactly what it captured; ``check`` finds no errors; no staging dirs remain.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
)

from snapstore.base.errors import InvalidInput
from snapstore.store.cache import IndexCache, default_cache_root
from snapstore.store.chunkstore import ChunkStore
from snapstore.store.config import read_config
from tests.helpers import SMALL_CHUNKER, Node, Workspace, assert_same_tree, object_names, tree_state

DIRS = [b"d1", b"d1/d2", b"empty dir", b"\xff\xfe dir"]
FILES = [b"f", b"big", b"d1/g", b"d1/d2/h", b"\xff\xfe dir/x", b"new\nline", "ü".encode()]
LINKS = [b"ln", b"d1/ln2"]
ALL = DIRS + FILES + LINKS

contents = st.one_of(
    st.binary(max_size=2000),
    st.integers(0, 2**32).map(
        lambda s: random.Random(s).randbytes(random.Random(s).randint(0, 9000))
    ),
)

_fork = multiprocessing.get_context("fork")


def _create_in_child(ws: Workspace, description: str) -> None:
    ws.manager().create(description)


class SnapstoreMachine(RuleBasedStateMachine):
    snapshots = Bundle("snapshots")
    encrypted = False  # EncryptedSnapstoreMachine: the same life on an encrypted repository

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="snapstore-state-"))
        self.ws = Workspace.make(self.tmp, populate=False)
        self.ws.exclude = ()
        self.ws.auto_cleanup = False  # retention has its own model (tests/lifecycle)
        if self.encrypted:
            self.ws.init_encrypted(chunker=SMALL_CHUNKER)
        else:
            self.ws.manager().init_repository(SMALL_CHUNKER)
        self.manager = self.ws.manager()
        self.model: dict[str, dict[bytes, Node]] = {}
        self.permanent: set[str] = set()
        self.verified: object = None
        self.kills = 0
        self.steps = 0

    def teardown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- the live tree ----------------------------------------------------------------------

    def _abs(self, rel: bytes) -> bytes:
        return os.path.join(os.fsencode(self.ws.bulk), rel)

    def _clear(self, rel: bytes) -> None:
        p = self._abs(rel)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        elif os.path.lexists(p):
            os.unlink(p)

    def _parent(self, rel: bytes) -> None:
        parent = os.path.dirname(rel)
        if parent:
            p = self._abs(parent)
            if os.path.lexists(p) and not os.path.isdir(p):
                self._clear(parent)
            os.makedirs(p, exist_ok=True)

    @rule(path=st.sampled_from(FILES), data=contents)
    def write_file(self, path: bytes, data: bytes) -> None:
        self._parent(path)
        p = self._abs(path)
        if os.path.lexists(p) and not os.path.isfile(p):
            self._clear(path)
        with open(p, "wb") as f:
            f.write(data)

    @rule(path=st.sampled_from(FILES), data=st.binary(min_size=1, max_size=500))
    def append_file(self, path: bytes, data: bytes) -> None:
        p = self._abs(path)
        if os.path.isfile(p) and not os.path.islink(p):
            with open(p, "ab") as f:
                f.write(data)

    @rule(path=st.sampled_from(ALL))
    def delete_path(self, path: bytes) -> None:
        self._clear(path)

    @rule(path=st.sampled_from(DIRS))
    def make_dir(self, path: bytes) -> None:
        self._parent(path)
        if os.path.lexists(self._abs(path)) and not os.path.isdir(self._abs(path)):
            self._clear(path)
        os.makedirs(self._abs(path), exist_ok=True)

    @rule(path=st.sampled_from(LINKS), link_to=st.sampled_from([b"f", b"../../x", b"\xff", b"d1"]))
    def make_symlink(self, path: bytes, link_to: bytes) -> None:
        self._parent(path)
        self._clear(path)
        os.symlink(link_to, self._abs(path))

    @rule(
        path=st.sampled_from(FILES + DIRS),
        mode=st.sampled_from([0o600, 0o644, 0o755, 0o700, 0o555, 0o444, 0o2750]),
    )
    def chmod(self, path: bytes, mode: int) -> None:
        p = self._abs(path)
        if os.path.lexists(p) and not os.path.islink(p):
            os.chmod(p, mode)

    @rule(ns=st.integers(0, 2**62))
    def touch_root(self, ns: int) -> None:
        os.utime(self.ws.bulk, ns=(ns, ns))

    # -- snapshots --------------------------------------------------------------------------

    @rule(target=snapshots, permanent=st.booleans())
    def create(self, permanent: bool) -> str:
        self.steps += 1
        before = tree_state(self.ws.bulk)
        result = self.manager.create(f"step {self.steps}", permanent=permanent)
        assert not result.snapshot.partial
        assert tree_state(self.ws.bulk) == before
        name = result.snapshot.snapshot_name
        self.model[name] = before
        if permanent:
            self.permanent.add(name)
        return name

    @rule(name=consumes(snapshots))
    def delete(self, name: str) -> None:
        if name not in self.model:
            return
        if name in self.permanent:
            try:
                self.manager.delete_snapshot(name)
            except InvalidInput:
                pass
            else:
                raise AssertionError("a permanent snapshot was deleted without force")
        self.manager.delete_snapshot(name, force=True)
        del self.model[name]
        self.permanent.discard(name)

    @rule(name=snapshots)
    def restore_to_new_directory(self, name: str) -> None:
        if name not in self.model:
            return
        target = self.tmp / f"target-{self.steps}"
        self.steps += 1
        result = self.manager.restore_snapshot(name, confirm=True, target=str(target))
        assert result.safety_snapshot is None
        assert_same_tree(self.model[name], tree_state(target), f"restore {name} --target")
        shutil.rmtree(target)

    @rule(target=snapshots, name=snapshots)
    def restore_in_place(self, name: str) -> str:
        if name not in self.model:
            return name
        before = tree_state(self.ws.bulk)
        result = self.manager.restore_snapshot(name, confirm=True)
        assert_same_tree(self.model[name], tree_state(self.ws.bulk), f"restore {name}")
        if len(before) > 1:  # the root holds something: it must be kept in a safety snapshot
            assert result.safety_snapshot is not None
        if result.safety_snapshot is None:
            return name
        self.model[result.safety_snapshot] = before
        return result.safety_snapshot

    # -- crashes ----------------------------------------------------------------------------

    @rule(n=st.integers(1, 60), seed=st.integers(0, 2**32), index_written=st.booleans())
    def crash_leaves_unpublished_data(self, n: int, seed: int, index_written: bool) -> None:
        """The exact state a create killed before publishing leaves: packs (and perhaps the
        index object) on disk, no manifest."""
        backend = self.manager.repository.backend()  # unlocked when encrypted
        config = read_config(backend)
        cache = IndexCache(default_cache_root(str(self.ws.cache)) / config.id / "index.sqlite")
        cache.sync(backend)
        store = ChunkStore(backend, replace(config, pack_size=2048), cache)
        rng = random.Random(seed)
        for _ in range(n):
            store.add(rng.randbytes(rng.randint(1, 700)))
        if index_written:
            store.flush()
        store.close()

    @precondition(lambda self: self.kills < 2)
    @rule(delay_ms=st.integers(0, 40))
    def kill_create_process(self, delay_ms: int) -> None:
        """A create in another process, SIGKILLed at a random moment."""
        self.kills += 1
        before = tree_state(self.ws.bulk)
        known = set(self.model)
        child = _fork.Process(target=_create_in_child, args=(self.ws, "killed"))
        child.start()
        time.sleep(delay_ms / 1000)
        child.kill()
        child.join()  # reaped: its lock now belongs to a dead process
        for s in self.manager.list_snapshots():
            if s.snapshot_name not in known:  # it finished publishing before the kill
                self.model[s.snapshot_name] = before

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def listing_matches_the_model_newest_first(self) -> None:
        snaps, problems = self.manager.list_with_problems()
        assert problems == []
        assert {s.snapshot_name for s in snaps} == set(self.model)
        created = [s.created for s in snaps]
        assert created == sorted(created, reverse=True)

    @invariant()
    def every_snapshot_restores_and_check_passes(self) -> None:
        names = object_names(self.ws.repo)
        fingerprint = {k: frozenset(v) for k, v in names.items()}
        if fingerprint == self.verified:
            return  # nothing in the repository changed since the last full verification
        for name, expected in self.model.items():
            target = self.tmp / "verify"
            self.manager.restore_snapshot(
                name, confirm=True, target=str(target), safety_snapshot=False
            )
            assert_same_tree(expected, tree_state(target), f"snapshot {name}")
            shutil.rmtree(target)
        report = self.manager.check()
        assert report.ok, report.errors
        leftovers = [p.name for p in self.tmp.iterdir() if ".snapstore-" in p.name]
        assert leftovers == []
        self.verified = fingerprint


SnapstoreMachine.TestCase.settings = settings(
    settings(),  # the loaded profile: ci keeps this file under a minute, verify runs long
    max_examples=min(settings().max_examples, 25),
)
TestSnapstoreModel = SnapstoreMachine.TestCase


class EncryptedSnapstoreMachine(SnapstoreMachine):
    encrypted = True


# Fewer examples: the same rules as above, here to show encryption changes none of them.
EncryptedSnapstoreMachine.TestCase.settings = settings(
    settings(), max_examples=min(settings().max_examples, 8)
)
TestEncryptedSnapstoreModel = EncryptedSnapstoreMachine.TestCase


@pytest.mark.slow
class TestSnapstoreModelLong(SnapstoreMachine.TestCase):
    settings = settings(settings(), max_examples=max(settings().max_examples // 10, 60))
