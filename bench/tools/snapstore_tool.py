"""snapstore itself, driven through its command line exactly as a user would.

The commands used (the contract the harness relies on):

    snapstore --repo REPO --bulk SRC init
    snapstore --repo REPO --bulk SRC create "DESCRIPTION" --json    -> {"snapshot_name": ...}
    snapstore --repo REPO restore NAME --target DEST --yes --no-safety-snapshot --json
    snapstore --repo REPO archive --older-than 0 --yes               (compression phase)
    snapstore --repo REPO list | diff A B | cleanup --dry-run | cleanup [--yes] | gc

Where the CLI differs from that contract in a way that is only a matter of spelling, the
harness follows the CLI, reading each subcommand's `--help` once: `archive NAME...` (the
run's snapshots) when there is no `--older-than`; `--yes` only where it is offered;
`--no-db` on create and restore where offered, since the benchmark measures bulk storage
only. A command that fails (including one that does not exist yet) is recorded as n/a for
the optional phases, as failed for the others, with its last stderr line; the other tools
still run. The executable is the one beside the running Python (the project's venv), else
`python -m snapstore`.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.measure import Cmd, run_quiet
from bench.tools.base import Tool


def snapstore_argv() -> list[str]:
    exe = Path(sys.executable).with_name("snapstore")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "snapstore"]


@functools.cache
def options(subcommand: str) -> frozenset[str]:
    """The long options `snapstore SUBCOMMAND --help` lists (empty if it has no such command)."""
    done = run_quiet([*snapstore_argv(), subcommand, "--help"])
    return (
        frozenset(re.findall(r"--[a-z][a-z-]*", done.stdout))
        if done.returncode == 0
        else frozenset()
    )


def compile_bytecode() -> None:
    """Write the project's .pyc files, as installing a package does.

    An editable install (`pip install -e .`, what `make` does) leaves them to be written on
    first import, and with PYTHONDONTWRITEBYTECODE set (as on these machines) they never are:
    every command would then compile all of snapstore from source (about 0.15 s of its
    start-up). The benchmark measures snapstore as installed, not its compiler."""
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    dirs = [str(root / d) for d in ("snapstore", "tools") if (root / d).is_dir()]
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", *dirs], env=env, capture_output=True, check=False
    )


def _offered(subcommand: str, *flags: str) -> list[str]:
    return [flag for flag in flags if flag in options(subcommand)]


def parse_json_output(stdout: str) -> dict[str, object]:
    """The JSON object a `--json` command printed: the whole output, or its last object line."""
    try:
        value = json.loads(stdout)
    except ValueError:
        value = None
        for line in reversed(stdout.splitlines()):
            if line.strip().startswith("{"):
                try:
                    value = json.loads(line)
                    break
                except ValueError:
                    continue
    if not isinstance(value, dict):
        raise ValueError("no JSON object in the output")
    return value


class SnapstoreTool(Tool):
    name = "snapstore"
    binary = "snapstore"
    optional_phases = frozenset({"compress", "list", "diff", "cleanup-dry-run", "cleanup", "gc"})

    @classmethod
    def missing(cls) -> str | None:
        compile_bytecode()
        done = run_quiet([*snapstore_argv(), "--help"])
        if done.returncode == 0:
            return None
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        return f"snapstore CLI not usable yet: {lines[-1].strip() if lines else done.returncode}"

    @classmethod
    def version(cls) -> str:
        done = run_quiet([*snapstore_argv(), "--version"])
        return done.stdout.strip() if done.returncode == 0 else "unknown"

    def env(self) -> dict[str, str | None]:
        # No user config may leak into the benchmark; caches go to the private home.
        return {**super().env(), "SNAPSTORE_CONFIG": None}

    def _snapstore(self, *args: str) -> Cmd:
        return self.cmd(*snapstore_argv(), "--repo", str(self.paths.repo), *args)

    def init(self, src: Path) -> list[Cmd]:
        return [self._snapstore("--bulk", str(src), "init")]

    def snapshot(self, src: Path, number: int, cleanup: bool = True) -> list[Cmd]:
        """``cleanup=False``: keep every snapshot (the many-snapshots run needs them all; the
        default retention policy would keep the newest ten of a single week)."""
        flags = () if cleanup else _offered("create", "--no-cleanup")
        args = ("create", f"bench snapshot {number}", "--json", *_offered("create", "--no-db"))
        return [self._snapstore("--bulk", str(src), *args, *flags)]

    def snapshot_id(self, number: int, stdout: str) -> str:
        name = parse_json_output(stdout).get("snapshot_name")
        if not isinstance(name, str) or not name:
            raise ValueError("create --json printed no snapshot_name")
        return name

    def restore(self, snapshot_id: str, dest: Path) -> list[Cmd]:
        args = (
            "restore",
            snapshot_id,
            "--target",
            str(dest),
            "--yes",
            "--no-safety-snapshot",
            "--json",
            *_offered("restore", "--no-db"),
        )
        return [self._snapstore(*args)]

    def compress_old(self, snapshot_ids: Sequence[str]) -> list[Cmd] | None:
        if "--older-than" in options("archive") or not options("archive"):
            return [self._snapstore("archive", "--older-than", "0", *_offered("archive", "--yes"))]
        return [self._snapstore("archive", *snapshot_ids, *_offered("archive", "--yes"))]

    # Commands of the many-snapshots scale run.
    def list_snapshots(self) -> list[Cmd]:
        return [self._snapstore("list")]

    def diff(self, a: str, b: str) -> list[Cmd]:
        return [self._snapstore("diff", a, b)]

    def cleanup(self, dry_run: bool) -> list[Cmd]:
        if dry_run:
            return [self._snapstore("cleanup", "--dry-run")]
        return [self._snapstore("cleanup", *_offered("cleanup", "--yes"))]

    def gc(self) -> list[Cmd]:
        return [self._snapstore("gc")]


class SnapstoreEncryptedTool(SnapstoreTool):
    """snapstore with an encrypted repository (spec/encryption.md): the same commands after
    `init --encryption`, with the product's default Argon2id cost (each command derives the
    password's key once, as a user's would). Its figures against `snapstore`'s are the cost
    of encryption."""

    name = "snapstore-encrypted"

    def env(self) -> dict[str, str | None]:
        return {
            **super().env(),
            "SNAPSTORE_PASSWORD": "bench",
            "SNAPSTORE_PASSWORD_FILE": None,
            "SNAPSTORE_PASSWORD_COMMAND": None,
        }

    def init(self, src: Path) -> list[Cmd]:
        return [self._snapstore("--bulk", str(src), "init", "--encryption")]
