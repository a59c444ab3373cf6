"""Run commands as child processes and measure them: wall time, CPU time, peak RSS.

CPU time comes from `os.wait4`, which returns the child's resource usage including every
descendant it waited for (tar's gzip, rsync's receiver), so a phase is charged for all the
work it caused. Peak RSS needs more care: Linux carries the *parent's* memory high-water
mark into a child's `ru_maxrss` across fork and exec, so a child of this Python process
never reports less than the harness's own RSS (60 MiB and more). Commands are therefore
started through GNU time (Debian package `time`), a tiny process whose own children report
their true peak (`%M`, which also covers their descendants). Without it, wait4's figure is
used and the report says it is inflated.

Output goes to files, never pipes, so a chatty tool can neither block nor be slowed by us;
the harness reads the files afterwards.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_TAIL = 2000  # characters of stderr kept for the report


@functools.cache
def gnu_time() -> str | None:
    """Path of GNU time, or None (the shell keyword `time` is not the same thing)."""
    path = shutil.which("time")
    if path is None:
        return None
    done = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    return path if "GNU" in done.stdout + done.stderr else None


def _read_peak_kib(path: Path) -> int | None:
    """The %M line GNU time wrote (after a possible "Command exited with..." line)."""
    try:
        lines = path.read_text().split()
        return int(lines[-1])
    except (OSError, ValueError, IndexError):
        return None


@dataclass(frozen=True)
class Cmd:
    """One command line. `env` overrides the inherited environment; None unsets a name."""

    argv: tuple[str, ...]
    cwd: Path | None = None
    env: Mapping[str, str | None] = field(default_factory=dict)


@dataclass
class Measurement:
    """Figures for one phase (one or more commands run one after the other)."""

    wall_s: float = 0.0
    user_s: float = 0.0
    sys_s: float = 0.0
    maxrss_kib: int = 0
    returncode: int = 0
    stdout: str = ""
    stderr_tail: str = ""
    failed_cmd: str = ""

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def error_line(self) -> str:
        """The last non-empty stderr line: what a tool says when it gives up."""
        lines = [line for line in self.stderr_tail.splitlines() if line.strip()]
        reason = lines[-1].strip() if lines else f"exit code {self.returncode}"
        return f"{self.failed_cmd}: {reason}" if self.failed_cmd else reason


def _environment(overrides: Mapping[str, str | None]) -> dict[str, str]:
    env = dict(os.environ)
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run_measured(cmds: Sequence[Cmd], log_prefix: Path) -> Measurement:
    """Run `cmds` in order, stopping at the first failure; output goes to LOG_PREFIX.out/.err."""
    timer = gnu_time()
    result = Measurement()
    log_prefix.parent.mkdir(parents=True, exist_ok=True)
    out_path = log_prefix.with_name(log_prefix.name + ".out")
    err_path = log_prefix.with_name(log_prefix.name + ".err")
    rss_path = log_prefix.with_name(log_prefix.name + ".rss")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        for cmd in cmds:
            argv = [timer, "-f", "%M", "-o", str(rss_path), *cmd.argv] if timer else list(cmd.argv)
            rss_path.unlink(missing_ok=True)
            started = time.perf_counter()
            try:
                proc = subprocess.Popen(
                    argv,
                    cwd=cmd.cwd,
                    env=_environment(cmd.env),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                )
            except OSError as exc:
                err.write(f"cannot start {cmd.argv[0]}: {exc}\n".encode())
                result.returncode, result.failed_cmd = 127, Path(cmd.argv[0]).name
                break
            _, status, usage = os.wait4(proc.pid, 0)
            result.wall_s += time.perf_counter() - started
            proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
            result.user_s += usage.ru_utime
            result.sys_s += usage.ru_stime
            peak = _read_peak_kib(rss_path) if timer else None
            result.maxrss_kib = max(result.maxrss_kib, peak or usage.ru_maxrss)  # KiB on Linux
            if proc.returncode != 0:
                result.returncode = proc.returncode
                result.failed_cmd = Path(cmd.argv[0]).name
                break
    result.stdout = out_path.read_text(errors="replace")
    result.stderr_tail = err_path.read_text(errors="replace")[-_TAIL:]
    return result


def run_quiet(argv: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run an unmeasured helper command (versions, installs), capturing its text output."""
    return subprocess.run(list(argv), capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]


def drop_caches() -> bool:
    """Flush dirty pages and drop the page cache, so the next phase reads from disk.

    Needs root and a writable /proc/sys (not the case in most containers); returns whether
    it worked, which the report states, because warm-cache figures are not comparable
    with cold ones.
    """
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True
