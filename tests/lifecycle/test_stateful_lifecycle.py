"""The repository as a state machine: create, modify, delete, pin, unpin, cleanup at a chosen
time, gc, archive, restore, and gc killed with SIGKILL at each of its durable steps.

A plain Python model keeps what each snapshot captured (path -> bytes) and its flags. After
every step the invariants hold: the listed snapshots are exactly the model's; every one of
them reads back exactly what it captured (through the chunk store, so from packs or from
archives, every chunk verified); ``check --read-data`` passes. After every completed gc,
nothing unreferenced survives: no indexed or archived chunk that no manifest references, no
unindexed pack, no archive without its index (spec/README.md, promise 2; spec/gc.md, "What
survives").
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
)

from snapstore.backend import Kind
from snapstore.backend.local import LocalBackend
from snapstore.base.reporting import Reporter
from snapstore.base.retention import Fate, RetentionPolicy, SnapshotFacts, apply_policy
from snapstore.maintenance.gc import mark
from snapstore.maintenance.lifecycle import load_manifests
from snapstore.manager import SnapshotManager
from snapstore.manifest.catalog import Catalog
from snapstore.manifest.listing import FILE
from snapstore.store import archives as arch
from snapstore.store.chunkstore import ChunkStore
from tests.helpers import REPO_ROOT, SMALL_CHUNKER, Workspace
from tests.lifecycle.conftest import SMALL_POLICY, lifecycle_manager, text

FILES = [f"d{i % 2}/f{i}.txt" for i in range(6)]
CRASH_STEPS = [
    "packs-written",
    "index-written",
    "old-index-deleted",
    "old-packs-deleted",
    "archive-index-deleted",
    "after-archive",
]
DAYS = [0, 1, 8, 20, 400]


class LifecycleMachine(RuleBasedStateMachine):
    snapshots = Bundle("snapshots")

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="snapstore-lifecycle-"))
        self.ws = Workspace.make(self.tmp, populate=False)
        self.ws.manager().init_repository(SMALL_CHUNKER)
        self.m: SnapshotManager = lifecycle_manager(self.ws)
        self.tree: dict[str, bytes] = {}
        # name -> (captured tree, permanent, created, compressed)
        self.model: dict[str, dict[str, object]] = {}
        self.gc_clean = True  # the last operation was a completed gc
        self.seed = 0

    def teardown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- the live tree -------------------------------------------------------------------------

    @rule(index=st.integers(0, len(FILES) - 1), size=st.sampled_from([0, 300, 2500, 9000]))
    def write_file(self, index: int, size: int) -> None:
        self.seed += 1
        data = text(self.seed, size)
        path = self.ws.bulk / FILES[index]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.tree[FILES[index]] = data

    @rule(index=st.integers(0, len(FILES) - 1))
    def remove_file(self, index: int) -> None:
        rel = FILES[index]
        if rel in self.tree:
            (self.ws.bulk / rel).unlink()
            del self.tree[rel]

    # -- snapshots -----------------------------------------------------------------------------

    @rule(target=snapshots, permanent=st.booleans())
    def create(self, permanent: bool) -> str:
        result = self.m.create("state", permanent=permanent)
        s = result.snapshot
        self.model[s.snapshot_name] = {
            "tree": dict(self.tree),
            "permanent": permanent,
            "created": s.created,
            "compressed": False,
        }
        self.gc_clean = False
        return s.snapshot_name

    @rule(name=consumes(snapshots))
    def delete(self, name: str) -> None:
        if name not in self.model:
            return
        self.m.delete_snapshot(name, force=True)  # runs gc: space reclaimed at once
        del self.model[name]
        self.gc_clean = True

    @rule(name=snapshots, value=st.booleans())
    def pin(self, name: str, value: bool) -> None:
        if name not in self.model:
            return
        info = self.m.pin(name) if value else self.m.unpin(name)
        assert info.permanent is value
        self.model[name]["permanent"] = value

    @rule(days=st.sampled_from(DAYS))
    def cleanup(self, days: int) -> None:
        # Relative to the newest snapshot, not the wall clock: the same history must give the
        # same decisions whenever hypothesis replays it.
        newest = max((v["created"] for v in self.model.values()), default=datetime.now(UTC))
        now = newest + timedelta(days=days, seconds=1)  # type: ignore[operator]
        facts = [
            SnapshotFacts(n, v["created"], bool(v["permanent"]), False, bool(v["compressed"]))  # type: ignore[arg-type]
            for n, v in self.model.items()
        ]
        expected = apply_policy(facts, now, RetentionPolicy.from_mapping(SMALL_POLICY))
        result = self.m.apply_retention_policy(dry_run=False, now=now)
        want_deleted = {d.name for d in expected if d.fate is Fate.DELETE}
        want_compressed = {d.name for d in expected if d.fate is Fate.COMPRESS}
        assert set(result.deleted) == want_deleted
        assert set(result.compressed) == want_compressed
        for name in want_deleted:
            del self.model[name]
        for name in want_compressed:
            self.model[name]["compressed"] = True
        self.gc_clean = True

    @rule()
    def gc(self) -> None:
        self.m.gc()
        self.gc_clean = True

    @rule(names=st.lists(snapshots, max_size=3, unique=True))
    def archive(self, names: list[str]) -> None:
        names = [n for n in names if n in self.model]
        if not names:
            return
        result = self.m.archive(names)
        for n in names:
            self.model[n]["compressed"] = True
        assert set(result.snapshots) <= set(names)
        self.gc_clean = True

    @rule(name=snapshots)
    def restore(self, name: str) -> None:
        if name not in self.model:
            return
        target = self.tmp / "restored"
        self.m.restore_snapshot(name, confirm=True, target=str(target), safety_snapshot=False)
        got = {str(p.relative_to(target)): p.read_bytes() for p in target.rglob("*") if p.is_file()}
        assert got == self.model[name]["tree"]
        shutil.rmtree(target)

    @rule(step=st.sampled_from(CRASH_STEPS), victim=snapshots)
    def gc_killed(self, step: str, victim: str) -> None:
        """Drop a snapshot's manifest (or archive one), then gc, killed -9 at ``step``."""
        if victim not in self.model:
            return
        backend = LocalBackend(self.ws.repo)
        args = [str(self.ws.repo), str(self.ws.cache), step]
        if step == "after-archive":
            args += ["archive", victim]
        else:
            Catalog(backend).delete(victim)  # as delete does, before its gc
            del self.model[victim]
        proc = subprocess.run(
            [sys.executable, "-m", "tests.lifecycle.crash_gc", *args],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode in (0, -9), proc.stderr
        if step == "after-archive" and victim in self.model and proc.returncode == -9:
            self.model[victim]["compressed"] = True
        self.gc_clean = proc.returncode == 0

    @rule(victim=snapshots)
    def gc_killed_after_repack_then_gc(self, victim: str) -> None:
        """A gc killed just after writing its repacked packs (before its index),
        then a gc that repacks the same live chunks into the same content-named packs."""
        if victim not in self.model:
            return
        Catalog(LocalBackend(self.ws.repo)).delete(victim)
        del self.model[victim]
        args = [str(self.ws.repo), str(self.ws.cache), "packs-written", "max-unused=0"]
        proc = subprocess.run(
            [sys.executable, "-m", "tests.lifecycle.crash_gc", *args],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode in (0, -9), proc.stderr
        self.m.gc(max_unused=0.0)
        self.gc_clean = True

    # -- invariants ----------------------------------------------------------------------------

    @invariant()
    def listed_snapshots_restore_what_they_captured(self) -> None:
        listed = {s.snapshot_name: s for s in self.m.list_snapshots()}
        assert set(listed) == set(self.model)
        for name, v in self.model.items():
            assert listed[name].permanent == v["permanent"]
            if v["compressed"]:
                assert listed[name].compression == "tar.gz"
        backend = LocalBackend(self.ws.repo)
        store = ChunkStore.open(backend, str(self.ws.cache))
        try:
            for name in self.model:
                got = {
                    os.fsdecode(e.path): b"".join(store.read(c) for c in e.chunks)
                    for _, e in self.m.snapshot_files(name)
                    if e.type == FILE
                }
                assert got == self.model[name]["tree"], name
        finally:
            store.close()

    @invariant()
    def check_passes(self) -> None:
        report = self.m.check(read_data=True)
        assert report.ok, report.errors

    @invariant()
    def nothing_unreferenced_after_gc(self) -> None:
        if not self.gc_clean:
            return
        backend = LocalBackend(self.ws.repo)
        store = ChunkStore.open(backend, str(self.ws.cache))
        try:
            manifests = load_manifests(backend, "test")
            marks = mark(manifests, store, Reporter())
            indexed = {cid for cid, _ in store.cache.entries()}
            archives = arch.ArchiveSet(backend).load()
            assert indexed <= marks.refs.keys(), "an unreferenced chunk is still indexed"
            assert archives.locations.keys() <= marks.refs.keys(), "unreferenced archived chunk"
            assert not archives.orphans
            packs = {o.name for o in backend.list(Kind.PACKS)}
            assert packs == {loc.pack for _, loc in store.cache.entries()}, "unindexed pack"
            # Every referenced chunk has exactly one live home.
            for cid in marks.refs:
                assert cid in indexed or cid in archives.locations
        finally:
            store.close()


TestLifecycle = LifecycleMachine.TestCase

# Bounded under the ci profile (about a minute); `verify` (HYPOTHESIS_PROFILE=verify) runs long.
_profile = settings.default
TestLifecycle.settings = settings(
    _profile,
    max_examples=25 if _profile.max_examples <= 100 else 200,
    stateful_step_count=20 if _profile.max_examples <= 100 else 40,
)
