"""Run ``python -m MODULE ARGS`` as a real process forked from a Python that imported the CLI once.

A test that runs the CLI as a real process (``Workspace.run``, every kill of the crash tests)
would otherwise start a fresh interpreter each time, and importing snapstore costs about 0.3 s
of CPU: most of what such a test costs, hundreds of times over in the suite. So each test
process starts one *zygote* at its first run (``python -m tests.zygote``): it imports the CLI's
modules, then forks one child per run. The child is a process of its own, as faithful to
``python -m`` as it can be: it gets the run's environment, working directory and standard
streams (files in a temporary folder: not terminals, as pipes are not), sets ``sys.argv`` and
``sys.path[0]``, runs the module as ``__main__``, and leaves through the interpreter's own exit
(exit code of its SystemExit, or 1 and the traceback; threads joined, atexit handlers run,
objects finalized: an SQLite database is closed, and so removes its -wal file, only then).

What a fork cannot give a run is fixed when an interpreter starts: the ``PYTHON*`` variables,
the locale. A run whose environment differs from the zygote's in those starts a fresh
interpreter, as does every run when ``FRESH_PROCESSES=1``. The zygote runs nothing but imports,
holds no thread, and exits when its test process closes the pipe to it.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import json
import os
import resource
import runpy
import select
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
# What every command the tests run imports anyway. The web view and the mount are left out:
# they start threads, and are started with Popen. The modules a run names are not imported
# here: running one as ``__main__`` after importing it would run it twice.
PRELOAD = (
    "snapstore.cli.main",
    "snapstore.manager",
    "snapstore.cli.commands.repo",
    "snapstore.cli.commands.snapshots",
    "snapstore.cli.commands.lifecycle",
    "snapstore.cli.commands.restore",
    "snapstore.cli.commands.browse",
)
# Read by the interpreter when it starts: a run that sets them otherwise needs a fresh one.
_STARTUP_ENV = ("PYTHON", "LC_", "LANG")
_ZYGOTE_ENV = {"PYTHONPATH": str(REPO_ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
_ANY = {"PYTHONDONTWRITEBYTECODE"}  # whether .pyc files are written changes no outcome


def run(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path | str,
    stdin: str | None = None,
    timeout: float = 120,
    text: bool = True,
) -> subprocess.CompletedProcess[Any]:
    """``subprocess.run(command, input=stdin, capture_output=True, text=text, ...)`` for a
    ``[sys.executable, "-m", MODULE, ...]`` command, forked from the zygote when it can be."""
    if not _forkable(command, env):
        return subprocess.run(
            list(command),
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=text,
            timeout=timeout,
            env=dict(env),
            cwd=cwd,
        )
    with tempfile.TemporaryDirectory() as io:
        streams = {name: os.path.join(io, name) for name in ("stdin", "stdout", "stderr")}
        if stdin is None:
            streams["stdin"] = os.devnull
        else:
            Path(streams["stdin"]).write_text(stdin)
        request = {
            "module": command[2],
            "argv": list(command[3:]),
            "env": dict(env),
            "cwd": str(cwd),
            **streams,
        }
        code = _zygote().run(request, timeout, list(command))
        # Read as subprocess.run reads a pipe (text: locale encoding, universal newlines).
        out, err = (
            Path(streams[s]).read_text() if text else Path(streams[s]).read_bytes()
            for s in ("stdout", "stderr")
        )
    return subprocess.CompletedProcess(list(command), code, out, err)


def _forkable(command: Sequence[str], env: Mapping[str, str]) -> bool:
    if os.environ.get("FRESH_PROCESSES") or len(command) < 3:
        return False
    if command[0] != sys.executable or command[1] != "-m":
        return False

    def startup(e: Mapping[str, str]) -> dict[str, str]:
        return {k: v for k, v in e.items() if k.startswith(_STARTUP_ENV) and k not in _ANY}

    return startup(_zygote().env) == startup(env)  # the settings it was started with


def _zygote_env() -> dict[str, str]:
    """The zygote's environment: this process's, with the runs' interpreter settings."""
    return {**os.environ, **_ZYGOTE_ENV}


class _Zygote:
    """The client's end of the zygote: one request at a time, over its stdin and stdout."""

    def __init__(self) -> None:
        self.env = _zygote_env()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.zygote"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=REPO_ROOT,
            env=self.env,
        )
        self.lock = threading.Lock()
        self.pending = b""
        self.cpu_seconds = 0.0  # what the zygote and its children cost so far (CPU)
        atexit.register(self.close)

    def run(self, request: dict[str, object], timeout: float, command: list[str]) -> int:
        """Run one child; its exit code (negative: the signal that ended it)."""
        with self.lock:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps(request).encode() + b"\n")
            self.proc.stdin.flush()
            pid = int(self._line(timeout))
            try:
                code, cpu = self._line(timeout).split()
            except subprocess.TimeoutExpired:
                os.kill(pid, signal.SIGKILL)
                self._line(timeout)  # the zygote reaps it and says so
                raise subprocess.TimeoutExpired(command, timeout) from None
            self.cpu_seconds += float(cpu)
            return int(code)

    def _line(self, timeout: float) -> bytes:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.pending:
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                raise subprocess.TimeoutExpired("the zygote's child", timeout)
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError(f"the zygote died (exit code {self.proc.wait()})")
            self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        return line

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait()


@functools.cache
def _zygote() -> _Zygote:
    """This test process's zygote, started at its first run."""
    return _Zygote()


def forked_cpu_seconds() -> float:
    """The CPU seconds this process's runs cost in the zygote: a process's own accounting
    (``RUSAGE_CHILDREN``) sees its children's children only once the zygote has exited."""
    return _zygote().cpu_seconds if _zygote.cache_info().currsize else 0.0


# -- the zygote -----------------------------------------------------------------------------------


def serve() -> None:
    """Import the CLI, then fork one child per request line on stdin; answer each with two
    lines on stdout: the child's pid, then, once it is reaped, its exit code and the CPU
    seconds it cost (with the zygote's own since the last answer)."""
    for module in PRELOAD:
        importlib.import_module(module)
    # The requests come on copies of stdin and stdout; the standard streams themselves are
    # never read or written here, so a child's sys.stdin/stdout start with empty buffers.
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    spent = 0.0  # the zygote's own CPU seconds already reported
    for line in requests:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            requests.close()
            os.close(replies)
            _child(request)
        os.write(replies, f"{pid}\n".encode())
        _, status, usage = os.wait4(pid, 0)
        own = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage.ru_utime + usage.ru_stime + own.ru_utime + own.ru_stime - spent
        spent = own.ru_utime + own.ru_stime
        os.write(replies, f"{os.waitstatus_to_exitcode(status)} {cpu:.6f}\n".encode())


def _child(request: dict[str, object]) -> None:
    """Become the requested run: never returns (its SystemExit, or any other exception,
    leaves through ``serve`` to the interpreter's exit)."""
    for fd, name, flags in (
        (0, "stdin", os.O_RDONLY),
        (1, "stdout", os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        (2, "stderr", os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
    ):
        opened = os.open(str(request[name]), flags, 0o600)
        os.dup2(opened, fd)
        os.close(opened)
    env, argv, module = request["env"], request["argv"], str(request["module"])
    assert isinstance(env, dict) and isinstance(argv, list)
    os.environ.clear()
    os.environ.update(env)
    os.chdir(str(request["cwd"]))
    sys.path[0] = os.getcwd()  # as ``python -m`` sets it
    sys.argv = [module, *argv]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    raise SystemExit(0)


if __name__ == "__main__":
    serve()
