"""Progress bars as a user at a terminal sees them (spec/cli.md, "Output"): the throughput
counts only bytes really read or written, what was reused is shown apart, and a restore's
bar names the folder it writes into."""

from __future__ import annotations

import os
import pty
import re
import subprocess
from pathlib import Path

from tests.helpers import Workspace, big_tree, created_name, ok


def _at_a_terminal(ws: Workspace, *args: str) -> str:
    """Run the CLI with stdout and stderr on a pseudo-terminal; everything it drew."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        ws.cli_command(*args),
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        cwd=ws.root,
        env=ws.env(COLUMNS="200"),
    )
    os.close(follower)
    out = b""
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the terminal's last writer has gone
            break
        if not data:
            break
        out += data
    os.close(leader)
    assert proc.wait(timeout=120) == 0, out.decode(errors="replace")
    return out.decode(errors="replace").replace("\r", "\n")


def _bars(text: str, label: str) -> list[str]:
    """The progress bar lines drawn for ``label``, terminal escapes removed."""
    lines = (re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", line) for line in text.splitlines())
    return [line for line in lines if line.startswith(label) and "MB/s" in line]


def test_reused_files_are_not_counted_as_throughput(tmp_path: Path) -> None:
    ws = Workspace.make(tmp_path, populate=False)
    big_tree(ws.bulk, files=30, size=1 << 20, seed=5)
    created_name(ok(ws.run("create", "first", "-q")).stdout)
    drawn = _at_a_terminal(ws, "create", "second", "--no-cleanup")
    last = _bars(drawn, "Reading ")[-1]
    m = re.search(r"([\d.]+) MB, ([\d.]+) MB/s \(([\d.]+) MB reused\)", last)
    assert m, last
    read, reused = float(m.group(1)), float(m.group(3))
    assert read == 0.0 and reused == 30.0, last  # nothing was read: every file was reused


def test_a_restore_into_a_target_names_the_target_on_its_bar(tmp_path: Path) -> None:
    ws = Workspace.make(tmp_path, populate=False)
    big_tree(ws.bulk, files=30, size=1 << 20, seed=6)
    name = created_name(ok(ws.run("create", "first", "-q")).stdout)
    target = tmp_path / "elsewhere"
    drawn = _at_a_terminal(ws, "restore", name, "--yes", "--target", str(target))
    bars = _bars(drawn, "Restoring ")
    assert bars, drawn
    assert all(b.startswith(f"Restoring {target} ") for b in bars), bars
    assert str(ws.bulk) not in "".join(bars)
