"""The kill harness itself: it sees a real command's repository steps and kills at the one asked."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

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


def _normalized(events: list[str], ws: Workspace) -> list[str]:
    """Events without what differs from run to run (pids, random names, times)."""
    out = [e.replace(str(ws.root), "ROOT") for e in events]
    return [re.sub(r"[0-9a-f]{8,}|\d{3,}|(?<=packs/)[0-9a-f]{2}", "N", e) for e in out]


def test_a_run_forked_from_the_zygote_takes_the_steps_a_fresh_interpreter_takes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The zygote's child leaves through the interpreter's exit, as a fresh process does: its
    SQLite index cache is closed (and its -wal file removed) at the end, so the next run opens
    the same files and takes the same steps (tests/zygote.py)."""
    sequences = {}
    for fresh in (False, True):
        ws = Workspace.make(tmp_path / f"fresh-{fresh}")
        if fresh:
            monkeypatch.setenv("FRESH_PROCESSES", "1")
        runs = []
        for n in range(2):
            steps = count_steps(["create", f"s{n}", "--no-db"], [ws.root], ws.env())
            assert steps.result.returncode == 0, steps.result.stderr
            assert "Traceback" not in steps.result.stderr and "Warning" not in steps.result.stderr
            runs.append(_normalized(steps.events, ws))
        listed = ws.run("list", "--json")
        assert listed.returncode == 0 and len(json.loads(listed.stdout)) == 2, listed.stderr
        sequences[fresh] = runs
        monkeypatch.delenv("FRESH_PROCESSES", raising=False)
    assert sequences[False] == sequences[True]
