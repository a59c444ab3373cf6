"""Small repositories for the kill-at-every-step runs, and the invariant checked after a kill.

A scenario is built once (a template repository with a few snapshots whose trees are known),
then copied for every kill so that each killed process starts from the same state. The
invariant after a kill (spec/README.md, promise 2): after the next gc, ``check
--read-data`` passes and every snapshot listed before the kill, except those the killed
command was meant to remove, is still listed and restores exactly.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from snapstore.config.settings import Settings
from snapstore.manager import SnapshotManager
from snapstore.manifest.catalog import Catalog
from tests.faults.killpoint import Steps, count_steps, run_killed_at
from tests.helpers import SMALL_CHUNKER, Node, Workspace, tree_diff, tree_state
from tests.lifecycle.conftest import text, write

# A policy that a handful of snapshots exercises fully: cleanup deletes and compresses.
POLICY = "keep_last = 2\nkeep_weekly_weeks = 0\ncompress_after_days = 0\n"
STATE_STEPS = ("os.rename", "os.link", "os.remove", "os.rmdir")


@dataclass
class Template:
    """A built repository: where it is, its snapshots (newest first) and their trees."""

    root: Path
    repo: Path
    bulk: Path
    names: list[str]
    trees: dict[str, dict[bytes, Node]]
    config: Path  # the policy, automatic cleanup off
    config_auto: Path  # the same policy, automatic cleanup after create on


@dataclass
class KillRun:
    """What one kill at one step did to the invariant."""

    step: int
    event: str
    killed: bool
    lost: list[str] = field(default_factory=list)  # snapshots gone or not restoring exactly
    problems: list[str] = field(default_factory=list)  # check errors, gc refusals


def build_template(root: Path, *, compressed: bool = False) -> Template:
    """Four snapshots sharing data: the second has data of its own in a pack it shares with
    data the later ones keep (so deleting it makes gc repack), the third changes a file."""
    ws = Workspace.make(root, populate=False)
    config = root / "snapstore.toml"
    config.write_text(f"auto_cleanup = false\n[retention]\n{POLICY}")
    config_auto = root / "snapstore-auto.toml"
    config_auto.write_text(f"auto_cleanup = true\n[retention]\n{POLICY}")
    ws.manager().init_repository(SMALL_CHUNKER)
    m = ws.manager(auto_cleanup=False)
    names: list[str] = []
    trees: dict[str, dict[bytes, Node]] = {}

    def snap(description: str) -> None:
        names.append(m.create(description).snapshot.snapshot_name)
        trees[names[-1]] = tree_state(ws.bulk)

    write(ws.bulk, "base.txt", text(1, 12_000))
    write(ws.bulk, "sub/shared.txt", text(2, 6_000))
    snap("first")
    write(ws.bulk, "own.txt", text(3, 12_000))
    write(ws.bulk, "kept.txt", text(4, 12_000))
    snap("second")
    (ws.bulk / "own.txt").unlink()
    write(ws.bulk, "sub/shared.txt", text(5, 6_000))
    snap("third")
    write(ws.bulk, "fourth.txt", text(6, 9_000))
    snap("fourth")
    if compressed:
        m.archive([names[0]])
    return Template(root, ws.repo, ws.bulk, names[::-1], trees, config, config_auto)


def copy_template(t: Template, dest: Path) -> Workspace:
    """A fresh workspace over a copy of the template's repository (own cache, own bulk)."""
    ws = Workspace.make(dest, populate=False)
    shutil.copytree(t.repo, ws.repo, symlinks=True)
    shutil.copytree(t.bulk, ws.bulk, symlinks=True, dirs_exist_ok=True)
    return ws


def env_for(ws: Workspace, config: Path) -> dict[str, str]:
    return ws.env(SNAPSTORE_CONFIG=str(config))


def listed(ws: Workspace) -> list[str]:
    r = ws.run("list", "--json")
    assert r.returncode == 0, r.stderr
    return [s["snapshot_name"] for s in json.loads(r.stdout)]


def check_invariant(
    ws: Workspace, t: Template, before: Sequence[str], may_go: set[str], out: Path
) -> tuple[list[str], list[str]]:
    """Run gc, check --read-data, and restore every snapshot that must survive. Returns
    (lost snapshots, problems)."""
    manager = SnapshotManager(
        Settings(repository=str(ws.repo), cache_dir=str(ws.cache), bulk=(), auto_cleanup=False)
    )
    problems: list[str] = []
    lost: list[str] = []
    try:
        manager.gc()
    except Exception as e:  # a refusal is a finding, not a crash of the test
        problems.append(f"gc after the kill: {e}")
    report = manager.check(read_data=True)
    problems += [f"check: {e}" for e in report.errors]
    now = set(catalog_names(ws))
    for name in before:
        if name in may_go:
            continue
        if name not in now:
            lost.append(f"{name}: no longer listed")
            continue
        target = out / name
        try:
            manager.restore_snapshot(name, confirm=True, target=str(target), safety_snapshot=False)
        except Exception as e:
            lost.append(f"{name}: restore failed: {e}")
            continue
        diff = tree_diff(t.trees[name], tree_state(target))
        if diff:
            lost.append(f"{name}: restored tree differs: {diff[:3]}")
        shutil.rmtree(target, ignore_errors=True)
    return lost, problems


def catalog_names(ws: Workspace) -> list[str]:
    from snapstore.backend import open_backend

    backend = open_backend(str(ws.repo))
    try:
        return Catalog(backend).names()
    finally:
        backend.close()


def kill_steps(steps: Steps, everything: bool) -> list[int]:
    """The steps to kill at: all of them, or only those that change what is visible (a
    rename, link or removal; opening a temporary file changes nothing a reader sees)."""
    if everything:
        return list(range(1, steps.total + 1))
    return [i for i, e in enumerate(steps.events, 1) if e.startswith(STATE_STEPS)]


def kill_at_every_step(
    t: Template,
    work: Path,
    args: Sequence[str],
    may_go: set[str],
    *,
    everything: bool,
    stdin: str | None = None,
    prepare: Callable[[Workspace], None] | None = None,
    config: Path | None = None,
) -> tuple[Steps, list[KillRun]]:
    """Count the command's steps on one copy, then kill a fresh copy at each chosen step and
    check the invariant. Returns the counted run and one KillRun per kill."""
    config = config or t.config
    probe = copy_template(t, work / "probe")
    if prepare:
        prepare(probe)
    steps = count_steps(args, [probe.repo], env_for(probe, config), stdin=stdin)
    assert steps.result.returncode == 0, steps.result.stderr
    runs: list[KillRun] = []
    for step in kill_steps(steps, everything):
        ws = copy_template(t, work / f"k{step}")
        if prepare:
            prepare(ws)
        before = catalog_names(ws)
        r = run_killed_at(args, [ws.repo], step, env_for(ws, config), stdin=stdin)
        run = KillRun(step, steps.events[step - 1], killed=r.returncode == -9)
        run.lost, run.problems = check_invariant(ws, t, before, may_go, work / f"out{step}")
        runs.append(run)
        shutil.rmtree(ws.root, ignore_errors=True)
    return steps, runs


def summary(runs: list[KillRun]) -> str:
    bad = [r for r in runs if r.lost or r.problems]
    lines = [f"{len(runs)} kills, {sum(len(r.lost) for r in runs)} snapshot losses"]
    for r in bad[:10]:
        lines.append(f"  step {r.step} ({r.event}): {(r.lost + r.problems)[:3]}")
    return "\n".join(lines)


def everything_requested() -> bool:
    """``make verify`` (HYPOTHESIS_PROFILE=verify) kills at every step; CI at each visible one."""
    return os.environ.get("HYPOTHESIS_PROFILE") == "verify" or bool(os.environ.get("KILL_ALL"))


# -- copy: the destination is the repository under the kill -----------------------------------


@dataclass
class CopyKill:
    """One kill of ``copy --to DEST``: what the destination showed, and what the run after it
    had to send."""

    step: int
    event: str
    killed: bool
    problems: list[str] = field(default_factory=list)
    indexed: int = 0  # chunks the destination's index named right after the kill
    resent: int = 0  # chunks the next run sent


def _dest_manager(ws: Workspace, dest: Path) -> SnapshotManager:
    return SnapshotManager(
        Settings(repository=str(dest), cache_dir=str(ws.cache), bulk=(), auto_cleanup=False)
    )


def _empty_dest(work: Path, encrypted: bool) -> Path:
    """One empty destination, copied for every run: the same id and (encrypted) the same
    key, hence the same chunk cuts and ids, so that the runs' counts compare."""
    from snapstore.crypto.keys import KdfParams

    ws = Workspace.make(work / "empty-dest", populate=False)
    dest = ws.root / "dest"
    cheap = KdfParams(memory_kib=64, iterations=1, lanes=1)  # tests only: fast to unlock
    _dest_manager(ws, dest).init_repository(SMALL_CHUNKER, encryption=encrypted, kdf=cheap)
    return dest


def _fresh_dest(ws: Workspace, empty: Path) -> Path:
    dest = ws.root / "dest"
    shutil.copytree(empty, dest, symlinks=True)
    return dest


def _indexed_chunks(ws: Workspace, dest: Path) -> int:
    from snapstore.ops.repository import Repository
    from snapstore.store.cache import IndexCache

    cache = IndexCache(ws.root / "count-index.sqlite")
    backend = Repository(Settings(repository=str(dest))).backend()  # unlocked if encrypted
    try:
        cache.sync(backend)
        return sum(1 for _ in cache.entries())
    finally:
        cache.close()
        backend.close()


def check_copy_invariant(ws: Workspace, t: Template, dest: Path, out: Path) -> list[str]:
    """After a killed copy: ``check --read-data`` passes on the destination and every snapshot
    it lists restores exactly (spec/copy.md, "Crash safety")."""
    manager = _dest_manager(ws, dest)
    problems = [f"check: {e}" for e in manager.check(read_data=True).errors]
    for name in [s.snapshot_name for s in manager.list_snapshots()]:
        target = out / name
        try:
            manager.restore_snapshot(name, confirm=True, target=str(target), safety_snapshot=False)
        except Exception as e:
            problems.append(f"{name}: restore failed: {e}")
            continue
        diff = tree_diff(t.trees[name], tree_state(target))
        if diff:
            problems.append(f"{name}: restored tree differs: {diff[:3]}")
        shutil.rmtree(target, ignore_errors=True)
    return problems


def spread(steps: list[int], most: int) -> list[int]:
    """At most ``most`` of ``steps``, evenly spread (the first and last kept): bounds the
    run's time whatever the number of steps."""
    if len(steps) <= most:
        return steps
    return sorted({steps[round(i * (len(steps) - 1) / (most - 1))] for i in range(most)})


def kill_copy_at_every_step(
    t: Template, work: Path, *, everything: bool, most: int, encrypted: bool = False
) -> tuple[Steps, int, list[CopyKill]]:
    """Kill ``copy --to DEST`` (into a fresh destination, encrypted if asked: its password is
    then ``$SNAPSTORE_PASSWORD``, which the caller sets) at each chosen step, check the
    destination, run the copy again to the end and count what it sent. Returns the counted
    run, the chunks a whole copy sends, and one CopyKill per kill."""
    empty = _empty_dest(work, encrypted)
    probe = copy_template(t, work / "probe")
    probe_dest = _fresh_dest(probe, empty)
    args = ["copy", "--to", str(probe_dest), "--json"]
    steps = count_steps(args, [probe_dest], env_for(probe, t.config))
    assert steps.result.returncode == 0, steps.result.stderr
    total = json.loads(steps.result.stdout)["chunks_sent"]
    runs: list[CopyKill] = []
    for step in spread(kill_steps(steps, everything), most):
        ws = copy_template(t, work / f"k{step}")
        dest = _fresh_dest(ws, empty)
        args = ["copy", "--to", str(dest), "--json"]
        r = run_killed_at(args, [dest], step, env_for(ws, t.config))
        run = CopyKill(step, steps.events[step - 1], killed=r.returncode == -9)
        run.problems = check_copy_invariant(ws, t, dest, work / f"out{step}")
        run.indexed = _indexed_chunks(ws, dest)
        again = ws.run("copy", "--to", str(dest), "--json", env=env_for(ws, t.config))
        if again.returncode != 0:
            run.problems.append(f"copy after the kill failed: {again.stderr.strip()}")
        else:
            run.resent = json.loads(again.stdout)["chunks_sent"]
            if sorted(s.snapshot_name for s in _dest_manager(ws, dest).list_snapshots()) != sorted(
                t.names
            ):
                run.problems.append("the copy after the kill did not finish the work")
            run.problems += check_copy_invariant(ws, t, dest, work / f"again{step}")
        runs.append(run)
        shutil.rmtree(ws.root, ignore_errors=True)
    return steps, total, runs
