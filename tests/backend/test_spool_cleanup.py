"""Leftovers of killed runs in the repository's spool (``tmp/``) are removed under the
exclusive lock (spec/backends.md, "Spool"): a killed ``archive`` leaves its half-written
archive there, and the next gc (cleanup, delete...) removes it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.helpers import Workspace, big_tree, created_name, ok


def _spool(ws: Workspace) -> list[Path]:
    return sorted((ws.repo / "tmp").iterdir())


def test_the_spool_file_of_a_killed_archive_is_removed_by_the_next_gc(tmp_path: Path) -> None:
    ws = Workspace.make(tmp_path, populate=False)
    big_tree(ws.bulk, files=40, size=1 << 20, seed=3)
    name = created_name(ok(ws.run("create", "big", "-q")).stdout)
    proc = ws.popen("archive", name)
    deadline = time.monotonic() + 120
    try:
        while not any(p.name.startswith("archive-") and p.stat().st_size for p in _spool(ws)):
            assert proc.poll() is None, "archive ended before its spool file was seen"
            assert time.monotonic() < deadline, "no spool file appeared"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
    leftovers = [p for p in _spool(ws) if p.name.startswith("archive-")]
    assert leftovers, "the killed archive left nothing to clean up"
    # An hour later; meanwhile another process is putting its lock object this instant.
    hour_ago = time.time() - 3600
    for p in leftovers:
        os.utime(p, (hour_ago, hour_ago))
    in_flight = ws.repo / "tmp" / "locks-0123456789abcdef"
    in_flight.write_bytes(b"{}")
    r = ok(ws.run("gc"))
    assert "Traceback" not in r.stderr
    assert _spool(ws) == [in_flight], "the leftover stayed, or a fresh spool file went"
    assert "Repository is healthy" in ok(ws.run("check")).stdout
    ok(ws.run("restore", name, "--yes", "--target", str(tmp_path / "back")))
