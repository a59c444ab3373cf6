"""Recovery only touches what interrupted restores own, and leaves running ones alone.

Leftovers are named ``.<target>.snapstore-<kind>-<pid>-<random>``: a name whose pid is a live
process belongs to a restore still running and must survive ``check``; a dead one's is
cleaned, with a line saying what was done; names that merely look alike are not touched.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import Workspace, ok


def _dead_pid() -> int:
    p = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    return int(p.stdout)


def test_check_cleans_a_dead_restores_staging_but_not_a_running_ones(tmp_path: Path) -> None:
    ws = Workspace.make(tmp_path)
    ok(ws.run("create", "base", "--no-db"))
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        running = tmp_path / f".bulk.snapstore-staging-{sleeper.pid}-0badc0de"
        dead = tmp_path / f".bulk.snapstore-staging-{_dead_pid()}-deadbeef"
        lookalike = tmp_path / ".bulk.snapstore-stagingX"
        other = tmp_path / ".other.snapstore-staging-1-deadbeef"
        for d in (running, dead, lookalike, other):
            d.mkdir()
            (d / "f").write_text("x")
        r = ok(ws.run("check"))
        assert not dead.exists()
        assert "unfinished staging folder of an interrupted restore" in r.stderr
        assert running.exists() and lookalike.exists() and other.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_an_old_tree_left_by_an_older_version_is_put_back(tmp_path: Path) -> None:
    ws = Workspace.make(tmp_path)
    ok(ws.run("create", "base", "--no-db"))
    # An older snapstore's crash between "target -> old" and "staging -> target".
    old = tmp_path / ".bulk.snapstore-old-deadbeef"
    ws.bulk.rename(old)
    r = ok(ws.run("unlock"))
    assert "put back" in r.stderr and ws.bulk.is_dir() and not old.exists()
    assert (ws.bulk / "notes.txt").exists()
