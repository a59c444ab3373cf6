"""Run a CLI command in a read-only sandbox: for restores of forged or hostile snapshots.

The command runs in a private mount namespace (``unshare --mount``) in which every file system
is remounted read-only except the test's own tmp folder (and the kernel's /proc, /sys, /dev).
If a check regressed and a forged snapshot aimed a restore at a host folder, the kernel refuses
the write instead of the machine losing it; inside the tmp folder the test sees what happened.
Where mount namespaces are not permitted (not root, a container without CAP_SYS_ADMIN), the test
is skipped with the reason.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import Workspace

# Runs inside the new namespace: bind the writable folder onto itself (its own mount, left
# read-write), remount every other mount read-only, then exec the command.
_SETUP = r"""
import os, subprocess, sys
writable, cmd = sys.argv[1], sys.argv[2:]
def run(*a):
    subprocess.run(["mount", *a], check=True, stdout=subprocess.DEVNULL)
run("--bind", writable, writable)
points = []
with open("/proc/self/mounts") as f:
    for line in f:
        p = line.split()[1]
        p = p.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")
        p = p.replace("\\134", "\\")
        points.append(p)
skip = ("/proc", "/sys", "/dev")
for p in dict.fromkeys(points):
    if p == writable or any(p == s or p.startswith(s + "/") for s in skip):
        continue
    run("-o", "remount,bind,ro", p)
# The proof the sandbox holds: the root file system refuses writes.
try:
    open("/.snapstore-sandbox-probe", "w").close()
except OSError:
    pass
else:
    os.unlink("/.snapstore-sandbox-probe")
    sys.exit("sandbox: / is still writable")
os.execvp(cmd[0], cmd)
"""


@functools.cache
def _unavailable() -> str | None:
    """Why the sandbox cannot be made here (None: it can)."""
    try:
        r = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "true"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unshare is not available: {e}"
    if r.returncode != 0:
        return f"mount namespaces are not permitted here: {r.stderr.strip()}"
    return None


def run_sandboxed(
    ws: Workspace, *args: str, input: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``ws.run(*args)`` with everything but ``ws.root`` read-only."""
    why = _unavailable()
    if why is not None:
        pytest.skip(why)
    writable = str(Path(ws.root).resolve())
    command = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        sys.executable,
        "-c",
        _SETUP,
        writable,
        *ws.cli_command(*args),
    ]
    return subprocess.run(
        command,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ws.root,
        env=ws.env(),
        stdin=None if input is not None else subprocess.DEVNULL,
    )
