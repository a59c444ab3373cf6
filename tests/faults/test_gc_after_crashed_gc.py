"""A gc after a gc killed between its repack and its new index loses nothing.

The killed gc leaves a repacked pack that no index names. The next gc repacks the same live
chunks into a byte-identical pack (same content-derived name); it must not then delete that
name as an "unindexed leftover".
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.faults.killpoint import count_steps, run_killed_at
from tests.helpers import SMALL_CHUNKER, Workspace, assert_same_tree, tree_state
from tests.lifecycle.conftest import text, write


def _names(ws: Workspace) -> list[str]:
    r = ws.run("list", "--json")
    assert r.returncode == 0, r.stderr
    return [s["snapshot_name"] for s in json.loads(r.stdout)]


def _setup(tmp: Path) -> tuple[Workspace, list[str], dict[str, dict]]:
    ws = Workspace.make(tmp, populate=False)
    ws.manager().init_repository(SMALL_CHUNKER)
    m = ws.manager(auto_cleanup=False)
    states: dict[str, dict] = {}
    names = []
    write(ws.bulk, "base.txt", text(1, 20_000))
    names.append(m.create("first").snapshot.snapshot_name)
    states[names[-1]] = tree_state(ws.bulk)
    # The middle snapshot's own data shares its pack with data the newest one keeps.
    write(ws.bulk, "own.txt", text(2, 20_000))
    write(ws.bulk, "kept.txt", text(3, 20_000))
    names.append(m.create("middle").snapshot.snapshot_name)
    (ws.bulk / "own.txt").unlink()
    names.append(m.create("newest").snapshot.snapshot_name)
    states[names[-1]] = tree_state(ws.bulk)
    return ws, names, states


def test_gc_after_gc_killed_after_its_repack_keeps_every_snapshot(tmp_path: Path) -> None:
    ws, names, states = _setup(tmp_path / "probe")
    steps = count_steps(["delete", names[1], "--yes"], [ws.repo], ws.env())
    assert steps.result.returncode == 0, steps.result.stderr
    # The step right after gc's rename of a repacked pack into packs/.
    renames = [
        i
        for i, e in enumerate(steps.events, 1)
        if e.startswith("os.rename") and "/packs/" in e.split()[-1]
    ]
    assert renames, steps.events

    ws, names, states = _setup(tmp_path / "run")
    killed = run_killed_at(["delete", names[1], "--yes"], [ws.repo], renames[0] + 1, ws.env())
    assert killed.returncode == -9, killed.stderr
    gc = ws.run("gc")
    assert gc.returncode == 0, gc.stderr
    check = ws.run("check", "--read-data")
    assert check.returncode == 0, check.stdout + check.stderr
    assert names[1] not in _names(ws)
    for name in (names[0], names[2]):
        out = tmp_path / f"out-{name}"
        r = ws.run("restore", name, "--target", str(out), "--yes", "--no-safety-snapshot")
        assert r.returncode == 0, r.stderr
        assert_same_tree(states[name], tree_state(out))
