"""A database restore that merges, SIGKILLed before each of its repository steps (taking and
publishing the safety snapshot, its lock), leaves the database whole: untouched, or restored
exactly, with the merged collections' indexes never dropped (spec/database.md, *When a
database restore stops half-way*, *Restore by difference*). The repository stays consistent
(``check``), and the safety snapshot, once published, brings the database back.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.arango.dbstate import db_state
from tests.arango.test_restore_rollback import Scene, scene  # noqa: F401 (the fixture)
from tests.faults.killpoint import count_steps, run_killed_at


def _index_ids(s: Scene) -> list[str]:
    return sorted(i["id"] for i in s.db.db().collection("alpha").indexes())


def _safety_snapshots(s: Scene) -> list[str]:
    listed = s.run("list", "--json")
    assert listed.returncode == 0, listed.stderr
    return [x["snapshot_name"] for x in json.loads(listed.stdout) if x.get("kind") == "safety"]


def test_a_merging_restore_killed_at_each_repository_step_leaves_the_database_whole(
    scene: Scene,  # noqa: F811
) -> None:
    s = scene
    repo = Path(s.env["SNAPSTORE_REPO"])
    env = dict(s.env, FAULT_MODULE="tools.backup.cli")
    args = ["restore", s.snapshot, "--no-bulk", "--yes"]
    ids = _index_ids(s)
    complete = count_steps(args, [repo], env)
    assert complete.result.returncode == 0, complete.result.stderr
    # The safety snapshot's lock, pack, index and manifest, the restore's lock; the database
    # is written between taking that lock and removing it (the last step).
    assert complete.total >= 10, complete.events
    assert db_state(s.db.db()) == s.first
    (back,) = _safety_snapshots(s)
    undo = ["restore", back, "--no-bulk", "--yes", "--no-safety-snapshot"]
    assert s.run(*undo).returncode == 0
    assert db_state(s.db.db()) == s.before
    seen = set()
    for step in range(1, complete.total + 1):
        killed = run_killed_at(args, [repo], step, env)
        state = db_state(s.db.db())
        assert state in (s.before, s.first), f"killed at step {step}: the database is neither"
        seen.add(state == s.first)
        assert _index_ids(s) == ids, f"killed at step {step}: alpha's indexes were rebuilt"
        checked = s.run("check")
        assert checked.returncode == 0, (step, checked.stdout, checked.stderr)
        if killed.returncode != -9:  # this run took fewer steps: it finished
            assert killed.returncode == 0, killed.stderr
        if state == s.first:
            assert s.run(*undo).returncode == 0
            assert db_state(s.db.db()) == s.before
    assert seen == {False, True}  # killed before the database part, and after it
    # Killed or not, the restore runs to the end afterwards.
    done = s.run(*args)
    assert done.returncode == 0, done.stderr
    assert db_state(s.db.db()) == s.first
    assert _index_ids(s) == ids
