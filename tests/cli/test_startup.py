"""Start-up costs only what the command uses (spec/cli.md, "Start-up"): ``--version`` and
``--help`` import no command module and none of the engine, the group's listing of commands
stays what the commands themselves say, and shell completion still reaches the repository."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
from pathlib import Path

import click
import pytest

import snapstore.cli.commands
from snapstore.cli.main import COMMANDS
from tests.helpers import PYTHON, REPO_ROOT, Workspace, created_name, ok

# Runs the CLI's main as the console script does and writes the names of every module loaded
# by the time the interpreter exits to the file named by the first argument.
_WRAPPER = """\
import atexit, sys
out = sys.argv.pop(1)
def report():
    with open(out, "w") as f:
        f.write("\\n".join(sorted(sys.modules)))
atexit.register(report)
sys.argv[0] = "snapstore"
from snapstore.cli.main import main
main()
"""
_LOAD_ALL_THEN_HELP = """\
import sys
import click
from snapstore.cli.main import COMMANDS, cli, main
for name in COMMANDS:
    assert cli.get_command(click.Context(cli), name) is not None
sys.argv = ["snapstore", "--help"]
main()
"""
HEAVY = (
    "arango",
    "boto3",
    "botocore",
    "starlette",
    "snapstore.manager",
    "snapstore.inspection.tree_view",
    "snapstore.maintenance.gc",
    "snapstore.maintenance.check",
    "snapstore.inspection.diff",
)
# What `list` and `create` never use: the manager imports these where their use case runs,
# and the crypto package loads the cryptography library only for an encrypted repository.
NOT_FOR_LIST_OR_CREATE = (
    "cryptography",
    "snapstore.inspection.tree_view",
    "snapstore.maintenance.check",
    "snapstore.inspection.diff",
    "snapstore.ops.browse",
    "snapstore.ops.restore",
)


def _run_recording(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    record = tmp_path / "modules.txt"
    r = subprocess.run(
        [PYTHON, "-c", _WRAPPER, str(record), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    return r, set(record.read_text().split("\n"))


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["-h"]])
def test_version_and_help_import_no_command_and_no_engine(tmp_path: Path, args: list[str]) -> None:
    r, modules = _run_recording(tmp_path, *args)
    assert r.returncode == 0, r.stderr
    assert "snapstore" in r.stdout
    assert "snapstore.cli.main" in modules  # the wrapper did record the CLI's process
    loaded = sorted(m for m in modules for h in HEAVY if m == h or m.startswith(f"{h}.")) + sorted(
        m for m in modules if m.startswith("snapstore.cli.commands.")
    )
    assert loaded == []


def test_list_and_create_import_only_the_layers_they_use(ws: Workspace, tmp_path: Path) -> None:
    """An unchanged re-snapshot and a listing run without the check, diff, browse and restore
    layers (spec/cli.md, "Start-up")."""
    ok(ws.run("create", "First"))
    for args in (["create", "Again"], ["list"], ["list", "--help"]):
        r, modules = _run_recording(tmp_path, *args, env=ws.env())
        assert r.returncode == 0, r.stderr
        assert "snapstore.cli.main" in modules
        loaded = sorted(
            m for m in modules for h in NOT_FOR_LIST_OR_CREATE if m == h or m.startswith(f"{h}.")
        )
        assert loaded == [], args


def test_the_help_listing_is_what_the_commands_say(tmp_path: Path) -> None:
    """The group's ``--help`` lists the short help kept beside each import path; once every
    command is loaded (click then asks the commands themselves) the page is the same."""
    lazy, _ = _run_recording(tmp_path, "--help")
    loaded = subprocess.run(
        [PYTHON, "-c", _LOAD_ALL_THEN_HELP],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
    )
    assert loaded.returncode == 0, loaded.stderr
    assert lazy.stdout == loaded.stdout
    assert "  list           List snapshots, newest first.\n" in lazy.stdout


def _first_paragraph(text: str) -> str:
    return " ".join(inspect.cleandoc(text).split("\n\n")[0].split())


def test_the_lazy_table_names_every_command_with_its_own_short_help() -> None:
    defined: dict[str, click.Command] = {}
    for info in pkgutil.iter_modules(snapstore.cli.commands.__path__):
        module = importlib.import_module(f"snapstore.cli.commands.{info.name}")
        for value in vars(module).values():
            callback = getattr(value, "callback", None)
            if isinstance(value, click.Command) and callback.__module__ == module.__name__:
                assert value.name is not None
                defined[value.name] = value
    assert sorted(COMMANDS) == sorted(defined)
    for name, where in COMMANDS.items():
        command = getattr(importlib.import_module(where.module), where.attribute)
        assert command is defined[name]
        assert where.short_help == _first_paragraph(command.help or ""), name


def test_snapshot_names_still_complete_in_the_shell(ws: Workspace) -> None:
    name = created_name(ok(ws.run("create", "Completion target")).stdout)
    other = created_name(ok(ws.run("create", "Another one")).stdout)
    prefix = name[: len("metis_")]
    env = ws.env(_SNAPSTORE_COMPLETE="bash_complete", COMP_WORDS=f"snapstore show {prefix}")
    env["COMP_CWORD"] = "2"
    r = subprocess.run(
        [PYTHON, "-m", "snapstore"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ws.root,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.splitlines()) == sorted([f"plain,{name}", f"plain,{other}"])
