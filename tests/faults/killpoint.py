"""Kill a real snapstore process at its Nth filesystem step (test equipment).

``count_steps`` runs a CLI command to completion in a child Python process and counts the
filesystem steps it takes on the paths that matter (a repository, a restore target);
``run_killed_at`` runs it again and SIGKILLs it just before step N. A crash test loops N over
1..total and checks its invariant after each kill: one kill per step, on the real process.

Steps are seen through Python's audit hooks (``sys.addaudithook``), raised by CPython itself
for every ``open`` (counted when it can write), ``os.rename``/``os.replace``, ``os.remove``/
``os.unlink``, ``os.rmdir``, ``os.link``, ``os.symlink``, ``os.mkdir`` and ``os.truncate``. Paths
given relative to a directory descriptor are resolved through ``/proc/self/fd``. Writes into an
already open file and fsync raise no event: a kill "at" a rename therefore also covers the
unsynced writes before it. Code that makes a system call behind Python's back (ctypes) must
raise the matching event itself with ``sys.audit`` so that its steps are seen.

The child is ``python -m tests.faults.killpoint``, configured through the environment:
``FAULT_UNDER`` (``os.pathsep``-separated roots), ``FAULT_AT`` (the step to die at; 0 counts
only), ``FAULT_LOG`` (where the count and the events are written at exit), ``FAULT_MODULE``
(the CLI module to run, default ``tools.backup.cli``).

A crash test runs the CLI a hundred times or more: each run is forked from the test process's
zygote (``tests/zygote.py``), which imported the CLI once, rather than started as a fresh
interpreter (``FRESH_PROCESSES=1`` starts fresh ones).
"""

from __future__ import annotations

import atexit
import os
import runpy
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests import zygote

REPO_ROOT = Path(__file__).resolve().parents[2]
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
PATH_EVENTS = {  # event -> indexes of its path arguments and of their dir_fd arguments
    "os.rename": ((0, 2), (1, 3)),
    "os.link": ((0, 2), (1, 3)),
    "os.remove": ((0, 1),),
    "os.rmdir": ((0, 1),),
    "os.mkdir": ((0, 2),),
    "os.symlink": ((1, 2),),
    "os.truncate": ((0, None),),
}


@dataclass
class Steps:
    """What a complete run did: how many counted steps, its result, and the steps in order."""

    total: int
    result: subprocess.CompletedProcess[str]
    events: list[str] = field(default_factory=list)


def _child_env(env: Mapping[str, str], under: Sequence[Path], at: int, log: str) -> dict[str, str]:
    out = dict(env)
    paths = out.get("PYTHONPATH", "").split(os.pathsep)
    if str(REPO_ROOT) not in paths:
        out["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, paths)])
    out["FAULT_UNDER"] = os.pathsep.join(str(Path(u).absolute()) for u in under)
    out["FAULT_AT"] = str(at)
    out["FAULT_LOG"] = log
    return out


def _run(
    args: Sequence[str],
    under: Sequence[Path],
    at: int,
    env: Mapping[str, str],
    stdin: str | None,
    timeout: float,
    cwd: Path | None,
    log: str,
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tests.faults.killpoint", *args]
    return zygote.run(
        command,
        stdin=stdin,
        timeout=timeout,
        env=_child_env(env, under, at, log),
        cwd=cwd or REPO_ROOT,
    )


def count_steps(
    args: Sequence[str],
    under: Sequence[Path],
    env: Mapping[str, str],
    *,
    stdin: str | None = None,
    timeout: float = 120,
    cwd: Path | None = None,
) -> Steps:
    """Run the CLI with ``args`` to the end; count its filesystem steps under ``under``."""
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "steps")
        result = _run(args, under, 0, env, stdin, timeout, cwd, log)
        try:
            lines = Path(log).read_text(errors="replace").splitlines()
        except FileNotFoundError:
            raise AssertionError(f"the child wrote no step log: {result.stderr[-2000:]}") from None
    return Steps(total=int(lines[0]), result=result, events=lines[1:])


def run_killed_at(
    args: Sequence[str],
    under: Sequence[Path],
    step: int,
    env: Mapping[str, str],
    *,
    stdin: str | None = None,
    timeout: float = 120,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the CLI with ``args`` and SIGKILL it just before its ``step``-th counted step
    (1-based); the return code is ``-9`` when it died there."""
    if step < 1:
        raise ValueError("steps count from 1")
    with tempfile.TemporaryDirectory() as tmp:
        return _run(args, under, step, env, stdin, timeout, cwd, os.path.join(tmp, "steps"))


# -- the child ------------------------------------------------------------------------------------


class _Counter:
    """The audit hook: counts steps on paths under the roots, dies at the chosen one."""

    def __init__(self, roots: list[str], at: int) -> None:
        self.roots = [os.path.realpath(r) for r in roots if r]
        self.at = at
        self.count = 0
        self.events: list[str] = []
        self.lock = threading.Lock()
        self.local = threading.local()
        self.real: dict[str, str] = {}  # folder -> its realpath (``_real_dir``)

    def _resolve(self, path: object, dir_fd: object) -> str | None:
        if isinstance(path, int):
            return _fd_path(path)
        if not isinstance(path, (str, bytes, os.PathLike)):
            return None
        p = os.fsdecode(path)
        if not os.path.isabs(p):
            base = _fd_path(dir_fd) if isinstance(dir_fd, int) else os.getcwd()
            if base is None:
                return None
            if isinstance(dir_fd, int) and "/" not in p and p not in (".", ".."):
                return os.path.join(base, p)  # the kernel's path of an open folder is real
            p = os.path.join(base, p)
        # The parent is resolved (it exists), the last component kept: it may be a symlink.
        head, tail = os.path.split(os.path.normpath(p))
        return os.path.join(self._real_dir(head), tail)

    def _real_dir(self, head: str) -> str:
        """``os.path.realpath(head)``, from the parent's when that is known and ``head`` is
        no symlink: realpath of a path N levels deep costs N lookups of up to N levels each,
        which made every step of a restore of a 1,000-level tree take 50 ms. Forgotten at
        every rename or symlink (the only steps that can change what a known path means)."""
        known = self.real.get(head)
        if known is not None:
            return known
        parent, name = os.path.split(head)
        above = self.real.get(parent)
        if above is not None and name and not os.path.islink(head):
            real = os.path.join(above, name)
        else:
            real = os.path.realpath(head)
        if len(self.real) > 100_000:
            self.real.clear()
        self.real[head] = real
        return real

    def _inside(self, p: str | None) -> bool:
        return p is not None and any(p == r or p.startswith(r + os.sep) for r in self.roots)

    def __call__(self, event: str, args: tuple[object, ...]) -> None:
        if getattr(self.local, "busy", False):
            return
        paths: list[str | None]
        if event == "open":
            path, mode, flags = [*args, None, None, None][:3]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & WRITE_FLAGS
            )
            if not writing:
                return
            paths = [self._resolve(path, None)]
        elif event in PATH_EVENTS:
            paths = []
            for pi, fi in PATH_EVENTS[event]:
                fd = args[fi] if fi is not None and fi < len(args) else None
                paths.append(self._resolve(args[pi], fd))
        else:
            return
        if event in ("os.rename", "os.symlink"):
            self.real.clear()
        if not any(self._inside(p) for p in paths):
            return
        self.local.busy = True
        try:
            with self.lock:
                self.count += 1
                n = self.count
                if self.at == 0:
                    self.events.append(f"{event} {' '.join(str(p) for p in paths)}")
            if n == self.at:
                os.kill(os.getpid(), signal.SIGKILL)
        finally:
            self.local.busy = False

    def write_log(self, log: str) -> None:
        self.local.busy = True
        with open(log, "w", errors="replace") as f:
            f.write(f"{self.count}\n")
            for e in self.events:
                f.write(e.replace("\n", "\\n") + "\n")


def _fd_path(fd: object) -> str | None:
    if not isinstance(fd, int) or fd < 0:
        return None
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


def main(args: Sequence[str]) -> None:
    counter = _Counter(
        os.environ.get("FAULT_UNDER", "").split(os.pathsep), int(os.environ["FAULT_AT"])
    )
    log = os.environ.get("FAULT_LOG")
    if log and counter.at == 0:
        atexit.register(counter.write_log, log)
    module = os.environ.get("FAULT_MODULE", "tools.backup.cli")
    sys.argv = [module, *args]
    sys.addaudithook(counter)
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
