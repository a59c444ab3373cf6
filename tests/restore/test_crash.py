"""A restore SIGKILLed at any filesystem step leaves each target holding either its complete old
tree or its complete new one, never nothing and never a mix (with the two-rename fallback, the
target may be missing between the renames, with the journal that lets the next run repair it);
the next ``check``, ``unlock`` or ``restore`` finishes or undoes what was left, says so, and
leaves no staging folder behind.

One kill per step (tests/faults/killpoint.py), on the real CLI process, for one bulk root and
for two (whose restore must not end with root 1 restored and root 2 not), with the atomic
exchange of renameat2 and with its two-rename fallback. CI runs every step around the swap and a
stride of the others; ``-m slow`` runs them all.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.faults.killpoint import count_steps, run_killed_at
from tests.helpers import Node, Workspace, created_name, ok, tree_state

STRIDE = 4  # CI: every STRIDE-th step, plus every step that touches the targets themselves


@dataclass
class Scene:
    ws: Workspace
    area: Path
    targets: list[Path]
    pristine: Path
    base: str
    old: list[dict[bytes, Node]]
    new: list[dict[bytes, Node]]

    def reset(self) -> None:
        """Put the old trees back (and nothing else) beside the targets."""
        for p in self.area.iterdir():
            if p.is_dir() and not p.is_symlink():
                _rmtree(p)
            else:
                p.unlink()
        for t in self.targets:
            shutil.copytree(self.pristine / t.name, t, symlinks=True)

    def states(self) -> list[str]:
        out = []
        for t, old, new in zip(self.targets, self.old, self.new, strict=True):
            if not os.path.lexists(t):
                out.append("missing")
                continue
            now = tree_state(t)
            out.append("old" if now == old else "new" if now == new else "mixed")
        return out

    def leftovers(self) -> list[str]:
        return sorted(p.name for p in self.area.iterdir() if ".snapstore-" in p.name)


def _rmtree(p: Path) -> None:
    shutil.rmtree(p)


def _fill(root: Path, seed: int) -> None:
    (root / "keep").mkdir(parents=True)
    (root / "keep" / "same.bin").write_bytes(bytes(range(256)) * 20)
    (root / "keep" / "unchanged.txt").write_text("linked, not rewritten, by a live restore")
    (root / "notes.txt").write_text(f"notes {seed}\n" * 50)
    (root / "gone").mkdir()
    (root / "gone" / "file").write_text("removed by the change")
    os.symlink("keep/same.bin", root / "link")


def _change(root: Path) -> None:
    (root / "notes.txt").write_text("changed after the snapshot\n")
    shutil.rmtree(root / "gone")
    (root / "added").mkdir()
    (root / "added" / "new.txt").write_text("new")
    (root / "keep" / "same.bin").chmod(0o600)


def _scene(tmp: Path, roots: int) -> Scene:
    area = tmp / "area"
    targets = [area / f"b{i}" for i in range(1, roots + 1)]
    ws = Workspace(root=tmp, repo=tmp / "repo", bulk=targets[0], cache=tmp / "cache")
    ws.auto_cleanup = False
    for i, t in enumerate(targets):
        _fill(t, i)
    env_bulk = ":".join(str(t) for t in targets)
    env = ws.env(SNAPSTORE_BULK=env_bulk)
    base = created_name(ok(ws.run("create", "base", "--no-db", env=env)).stdout)
    new = [tree_state(t) for t in targets]
    for t in targets:
        _change(t)
    old = [tree_state(t) for t in targets]
    pristine = tmp / "pristine"
    for t in targets:
        shutil.copytree(t, pristine / t.name, symlinks=True)
    return Scene(ws, area, targets, pristine, base, old, new)


def _env(scene: Scene, exchange: bool) -> dict[str, str]:
    env = scene.ws.env(SNAPSTORE_BULK=":".join(str(t) for t in scene.targets))
    if not exchange:
        env["SNAPSTORE_RENAME_EXCHANGE"] = "0"
    return env


RESTORE = ["restore", "--yes", "--no-db", "--no-safety-snapshot"]


def _steps_to_try(events: list[str], targets: list[Path], slow: bool) -> list[int]:
    if slow:
        return list(range(1, len(events) + 1))
    # Steps naming a target itself, or a journal, or a staging/old folder (not inside one).
    names = {t.name for t in targets}
    picked = set(range(1, len(events) + 1, STRIDE))
    for i, e in enumerate(events, 1):
        paths = e.split()[1:]
        if any(
            os.path.basename(p) in names or (".snapstore-" in os.path.basename(p)) for p in paths
        ):
            picked.add(i)
    picked.add(len(events))
    return sorted(picked)


def _kill_loop(scene: Scene, exchange: bool, slow: bool) -> None:
    env = _env(scene, exchange)
    args = [*RESTORE[:1], scene.base, *RESTORE[1:]]
    steps = count_steps(args, [scene.area], env)
    assert steps.result.returncode == 0, steps.result.stderr
    assert scene.states() == ["new"] * len(scene.targets)
    total = steps.total
    assert total > 5, steps.events
    for n, step in enumerate(_steps_to_try(steps.events, scene.targets, slow)):
        scene.reset()
        killed = run_killed_at(args, [scene.area], step, env)
        assert killed.returncode == -9, (step, killed.stderr)
        states = scene.states()
        assert "mixed" not in states, (step, states, scene.leftovers())
        if exchange or "missing" in states:
            # Only the fallback's two renames leave a gap, and only once the journal that
            # lets the next run repair it is written.
            assert "missing" not in states or any(
                ".snapstore-restore-" in n and n.endswith(".json") for n in scene.leftovers()
            ), (step, states, scene.leftovers())
            if exchange:
                assert "missing" not in states, (step, states)
        had_leftovers = bool(scene.leftovers())
        # Alternate the commands that must find and clean what the kill left.
        command = ["check"] if n % 2 == 0 else ["unlock"]
        after = scene.ws.run(*command, env=env)
        assert after.returncode == 0, (step, after.stdout, after.stderr)
        assert "Traceback" not in after.stderr
        assert scene.leftovers() == [], (step, command, after.stderr)
        if had_leftovers:
            assert "interrupted restore" in after.stderr, (step, after.stderr)
        final = scene.states()
        assert "missing" not in final, (step, final, after.stderr)
        # Several roots: all old or all new once recovered, never root 1 new and root 2 old.
        assert final in (["old"] * len(final), ["new"] * len(final)), (step, final, after.stderr)


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "two-renames"])
def test_killed_single_root_restore_leaves_old_or_new_tree(tmp_path: Path, exchange: bool) -> None:
    _kill_loop(_scene(tmp_path, 1), exchange, slow=False)


def test_killed_two_root_restore_is_finished_by_the_next_command(tmp_path: Path) -> None:
    _kill_loop(_scene(tmp_path, 2), True, slow=False)


def test_next_restore_finishes_an_interrupted_one_first_and_says_so(tmp_path: Path) -> None:
    scene = _scene(tmp_path, 2)
    env = _env(scene, True)
    args = ["restore", scene.base, *RESTORE[1:]]
    steps = count_steps(args, [scene.area], env)
    # Die right after the first root's swap: root 1 is new, root 2 still old.
    swaps = [i for i, e in enumerate(steps.events, 1) if e.startswith("os.rename") and "b1" in e]
    swap2 = [
        i
        for i, e in enumerate(steps.events, 1)
        if e.startswith("os.rename") and e.split()[-1].endswith("/b2")
    ]
    assert swaps and swap2, steps.events
    scene.reset()
    assert run_killed_at(args, [scene.area], swap2[0], env).returncode == -9
    assert scene.states() == ["new", "old"]
    again = ok(scene.ws.run(*args, env=env))
    assert "interrupted restore" in again.stderr and scene.base in again.stderr
    assert scene.states() == ["new", "new"] and scene.leftovers() == []


@pytest.mark.slow
@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "two-renames"])
@pytest.mark.parametrize("roots", [1, 2])
def test_killed_restore_at_every_step(tmp_path: Path, exchange: bool, roots: int) -> None:
    _kill_loop(_scene(tmp_path, roots), exchange, slow=True)


def test_a_restore_killed_while_writing_its_journals_is_undone_in_any_order(
    tmp_path: Path,
) -> None:
    scene = _scene(tmp_path, 2)
    env = _env(scene, True)
    args = ["restore", scene.base, *RESTORE[1:]]
    steps = count_steps(args, [scene.area], env)
    # Killed with b1's journal written and b2's not: not committed, nothing swapped yet.
    second = [
        i
        for i, e in enumerate(steps.events, 1)
        if e.startswith("open") and ".b2.snapstore-restore-" in e
    ]
    assert second, steps.events
    scene.reset()
    assert run_killed_at(args, [scene.area], second[0], env).returncode == -9
    # Recovery looks at b2 first (whose staging has no journal beside it), then b1.
    reverse = {**env, "SNAPSTORE_BULK": f"{scene.targets[1]}:{scene.targets[0]}"}
    after = ok(scene.ws.run("check", env=reverse))
    assert "interrupted restore" in after.stderr
    assert scene.states() == ["old", "old"] and scene.leftovers() == [], after.stderr
