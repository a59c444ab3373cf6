"""The kill harness itself: it sees a real command's repository steps and kills at the one asked."""

from __future__ import annotations

import json
from pathlib import Path

from tests.faults.killpoint import count_steps, run_killed_at
from tests.helpers import Workspace


def test_counts_repository_steps_and_kills_at_the_chosen_one(tmp_path: Path) -> None:
    ws = Workspace.make(tmp_path)
    ws.run("create", "first", "--no-db")
    (ws.bulk / "new.txt").write_text("x" * 5000)
    steps = count_steps(["create", "second", "--no-db"], [ws.repo], ws.env())
    assert steps.result.returncode == 0, steps.result.stderr
    assert all(str(ws.repo) in e for e in steps.events)
    # Reads of the bulk tree are not steps; the pack, index and manifest writes are.
    assert not any(str(ws.bulk) in e for e in steps.events)
    publish = [i for i, e in enumerate(steps.events, 1) if "/snapshots/" in e.split()[-1]]
    assert publish, steps.events

    (ws.bulk / "newer.txt").write_text("y" * 5000)
    killed = run_killed_at(["create", "third", "--no-db"], [ws.repo], publish[0], ws.env())
    assert killed.returncode == -9
    # Killed just before the manifest was published: the third snapshot is not listed.
    listed = ws.run("list", "--json")
    assert listed.returncode == 0, listed.stderr
    names = [s["snapshot_name"] for s in json.loads(listed.stdout)]
    assert len(names) == 2 and not any(n.endswith("_third") for n in names)
